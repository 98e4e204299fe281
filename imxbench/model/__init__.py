"""Frozen types and records of runs, boards and series: no I/O, nothing of SSH, files or the DB."""
