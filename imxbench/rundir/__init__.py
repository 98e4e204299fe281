"""The run directory `reports/<run-id>/`: every file's name, format version, writer and reader
(layout.py), and the one atomic write of the package (atomic.py)."""
