"""The results history: the store (SQLite / PostgreSQL), its schema, baselines and views."""
