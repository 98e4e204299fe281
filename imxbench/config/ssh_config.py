"""~/.ssh/config without paramiko, for commands that never connect (`imxbench boards`).

Importing paramiko costs ~0.1-0.25 s; completing boards.yaml from an ssh config needs only a
few keys. This reader handles the plain subset exactly as paramiko's `SSHConfig.lookup` does:
`Host` blocks with patterns (`*`, `?`, `!negation`), the first value found for each key
winning, `IdentityFile` accumulating, `%h` and `%%` in `HostName`, `~` in `IdentityFile`,
`Key value` and `Key=value` lines, comments. A file with anything else — `Match` (whose `exec`
runs commands), `Include`, another `%` token — is handed to paramiko (`needs_paramiko`), so
the answer never differs from the one the connecting commands get.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field

_NOT_PLAIN = re.compile(r"^\s*(match|include)\b", re.IGNORECASE | re.MULTILINE)


def needs_paramiko(text: str) -> bool:
    """True when the file holds what only paramiko's reader handles (module doc)."""
    if _NOT_PLAIN.search(text):
        return True
    for line in text.splitlines():
        key, value = _split(line)
        if key is None and line.strip() and not line.strip().startswith("#"):
            return True  # unparsable: paramiko says why
        if key is None or "%" not in value:
            continue
        rest = value.replace("%%", "")
        if key == "hostname" and "%" not in rest.replace("%h", ""):
            continue  # only %h (and %%)
        return True
    return False


@dataclass
class PlainSshConfig:
    """The Host blocks of a plain ssh config, in file order (`lookup` as paramiko's)."""

    blocks: list[tuple[list[str], list[tuple[str, str]]]] = field(default_factory=list)

    @classmethod
    def from_text(cls, text: str) -> PlainSshConfig:
        config = cls()
        current: list[tuple[str, str]] = []
        config.blocks.append((["*"], current))  # lines before any Host apply to every host
        for line in text.splitlines():
            key, value = _split(line)
            if key is None:
                continue
            if key == "host":
                current = []
                config.blocks.append((shlex.split(value), current))
            else:
                current.append((key, value))
        return config

    def lookup(self, host: str) -> dict[str, object]:
        found: dict[str, object] = {}
        for patterns, settings in self.blocks:
            if not _matches(host, patterns):
                continue
            for key, value in settings:
                if key == "identityfile":
                    found.setdefault("identityfile", [])
                    files = found["identityfile"]
                    assert isinstance(files, list)
                    files.append(os.path.expanduser(value))
                elif key not in found:
                    found[key] = value
        hostname = str(found.get("hostname", host))
        found["hostname"] = hostname.replace("%h", host).replace("%%", "%")
        return found


def _split(line: str) -> tuple[str | None, str]:
    text = line.strip()
    if not text or text.startswith("#"):
        return None, ""
    match = re.match(r"(\w+)(?:\s*=\s*|\s+)(.*)", text)
    if match is None:
        return None, ""
    value = match.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return match.group(1).lower(), value


def _matches(host: str, patterns: list[str]) -> bool:
    """paramiko's rule: any positive pattern matches and no negated one does."""
    positive = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if fnmatch.fnmatch(host, pattern[1:]):
                return False
        elif fnmatch.fnmatch(host, pattern):
            positive = True
    return positive
