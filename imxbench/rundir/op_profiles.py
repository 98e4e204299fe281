"""Op profiles kept across runs (`run --op-profile auto`): `<reports>/op-profiles/<key>.json`.

An op profile (which ops ran where, and their share of the time) depends on the model, the
board's software and the delegate with its options, not on the night: it is measured once per
key and reused until the key changes. The key is the sha256 of the canonical JSON of what the
pipeline says identifies it (run/op_profile_reuse.py: the graph's sha256, the board and its
fingerprint, the cell and the profile step's command). One file per key, written atomically
(rundir/atomic.py), so concurrent runs never see half a file and never lose each other's
entries; a file this version cannot read is ignored (the profile is measured again).

Format 1: `{"format": 1, "key": {...}, "run_id": "...", "metrics": {...}, "log_file": "..."}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imxbench.rundir.atomic import write_json

FORMAT = 1
FOLDER = "op-profiles"


def profile_key(parts: Mapping[str, Any]) -> str:
    """The file name's digest of a key's parts (canonical JSON, sha256 hex)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def path_of(reports_dir: Path, key: str) -> Path:
    return reports_dir / FOLDER / f"{key}.json"


def read_profile(reports_dir: Path, key: str) -> dict[str, Any] | None:
    """The kept profile for `key`, or None (none kept, or not readable by this version)."""
    path = path_of(reports_dir, key)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None
    if not isinstance(doc.get("metrics"), dict) or not doc.get("run_id"):
        return None
    return doc


def write_profile(
    reports_dir: Path,
    key: str,
    parts: Mapping[str, Any],
    run_id: str,
    metrics: Mapping[str, Any],
    log_file: str | None,
) -> Path:
    """Keep a profile measured by run `run_id` (atomically; replaces an older one)."""
    doc = {
        "format": FORMAT,
        "key": dict(parts),
        "run_id": run_id,
        "metrics": dict(metrics),
        "log_file": log_file,
    }
    return write_json(path_of(reports_dir, key), doc)
