"""Reports: run directories -> data -> charts -> view -> formats (HTML, Markdown, CSV, JSON,
JUnit)."""
