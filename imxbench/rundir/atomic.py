"""The one way imxbench writes a file it keeps, and the one sha256 of a file.

A write goes to a temporary file beside the target, is flushed to the disk, then renamed over
the target: a crash, a full disk or Ctrl-C leaves the previous file or none, never a half-written
or empty one. The temporary file is removed when the write fails.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (creating its folder); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, doc: Any, indent: int | None = 1) -> Path:
    return write_text(path, json.dumps(doc, indent=indent, default=str) + "\n")


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, hex."""
    import hashlib  # here: `imxbench --help` loads this module, not OpenSSL (issue 17)

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
