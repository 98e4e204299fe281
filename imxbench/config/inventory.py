"""The lab inventory: boards.yaml, validated on load, merged with ~/.ssh/config.

Precedence for connection settings: what boards.yaml says, then the matching `Host` block of
~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump), then the defaults (port 22,
user root). Passwords never live in YAML: a board may name an environment variable that holds one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.config.schema import (
    Field,
    Schema,
    Where,
    is_port,
    is_str,
    list_of,
    load_yaml_mapping,
    one_of,
    positive_number,
)
from imxbench.errors import ConfigError

if TYPE_CHECKING:  # paramiko costs ~90 ms to import: only for an ssh config that needs it
    import paramiko

    from imxbench.config.ssh_config import PlainSshConfig

SOCS = ("imx8mp", "imx93", "imx95")
"""SoCs the inventory accepts (imx95: a lab may list one; no delegate targets it yet)."""

AUTH_TYPES = ("none", "key", "agent", "password")
HOST_KEY_POLICIES = ("strict", "accept-new")
DEFAULT_WORKDIR = "/home/root/imxbench"
DEFAULT_INVENTORY = Path("boards.yaml")
CPU_GOVERNORS = ("performance", "ondemand", "schedutil", "powersave", "conservative")
"""The cpufreq governors a run may set (`--cpu-governor`, boards.yaml `cpu_governor`)."""


@dataclass(frozen=True)
class AuthSpec:
    """How to log in. `password_env` is the *name* of an environment variable, never a value."""

    type: str = "none"
    key_file: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class Board:
    """One board of the lab, with everything needed to reach and use it."""

    name: str
    soc: str
    host: str
    port: int = 22
    user: str = "root"
    auth: AuthSpec = field(default_factory=AuthSpec)
    host_key_policy: str = "strict"
    known_hosts: str | None = None
    proxy_jump: str | None = None
    workdir: str = DEFAULT_WORKDIR
    benchmark_model: str | None = None
    tags: tuple[str, ...] = ()
    connect_timeout_s: float = 10.0
    # an SSH keepalive after this many quiet seconds; a board that acknowledges nothing for 3
    # intervals is gone (like OpenSSH's ServerAliveInterval with ServerAliveCountMax 3)
    keepalive_s: float = 15.0
    emulated: bool = False
    place: str | None = None  # a labgrid place: host/port/user come from its NetworkService
    coordinator: str | None = None  # the place's labgrid coordinator (None: $LG_COORDINATOR)
    cpu_governor: str | None = None
    """boards.yaml `cpu_governor`: set for every run on this board and restored after it, like
    `--cpu-governor` (which, when given, wins)."""


def _auth(value: Any, where: Where) -> AuthSpec:
    if isinstance(value, dict) and "password" in value:
        raise where.child("password").error(
            "passwords are never stored in YAML",
            "put the password in an environment variable and name it in auth.password_env",
        )
    data = Schema(
        {
            "type": Field(one_of(*AUTH_TYPES), required=True),
            "key_file": Field(is_str),
            "password_env": Field(_env_name),
        }
    ).apply(value, where)
    if data["type"] == "key" and not data["key_file"]:
        raise where.child("key_file").error("required when auth.type is key")
    if data["type"] == "password" and not data["password_env"]:
        raise where.child("password_env").error("required when auth.type is password")
    return AuthSpec(**data)


def _env_name(value: Any, where: Where) -> str:
    name = is_str(value, where)
    if not name.replace("_", "A").isalnum() or name[0].isdigit():
        raise where.error(f"{name!r} is not an environment variable name")
    return name


def _workdir(value: Any, where: Where) -> str:
    path = is_str(value, where)
    if not path.startswith("/"):
        raise where.error(f"must be an absolute path on the board, got {path!r}")
    if path.rstrip("/") in ("", "/root", "/home", "/usr", "/etc", "/tmp"):
        raise where.error(f"refusing {path!r}: imxbench deletes files in its workdir")
    return path.rstrip("/")


BOARD_SCHEMA = Schema(
    {
        "soc": Field(one_of(*SOCS), required=True),
        "host": Field(is_str),  # or `place` (lab_places.py): exactly one of the two
        "place": Field(is_str),
        "coordinator": Field(is_str),
        "port": Field(is_port),
        "user": Field(is_str),
        "auth": Field(_auth),
        "host_key_policy": Field(one_of(*HOST_KEY_POLICIES), default="strict"),
        "known_hosts": Field(is_str),
        "proxy_jump": Field(is_str),
        "workdir": Field(_workdir, default=DEFAULT_WORKDIR),
        "benchmark_model": Field(is_str),
        "tags": Field(list_of(is_str), default=[]),
        "connect_timeout_s": Field(positive_number, default=10.0),
        "keepalive_s": Field(positive_number),  # default: ssh config's ServerAliveInterval, 15
        "cpu_governor": Field(one_of(*CPU_GOVERNORS)),
    }
)


@dataclass(frozen=True)
class Inventory:
    path: Path
    boards: dict[str, Board]

    def get(self, name: str) -> Board:
        try:
            return self.boards[name]
        except KeyError:
            known = ", ".join(self.boards) or "none"
            raise ConfigError(
                f"{self.path}: no board named {name!r}; known boards: {known}"
            ) from None

    def select(self, names: str) -> list[Board]:
        """`all`, a comma-separated list of names, or `tag:NAME`."""
        if names == "all":
            return list(self.boards.values())
        if names.startswith("tag:"):
            tag = names[4:]
            chosen = [b for b in self.boards.values() if tag in b.tags]
            if not chosen:
                raise ConfigError(f"{self.path}: no board has the tag {tag!r}")
            return chosen
        chosen = [self.get(n.strip()) for n in names.split(",") if n.strip()]
        if not chosen:
            raise ConfigError(f"{self.path}: {names!r} names no board")
        return chosen


def load_inventory(path: Path = DEFAULT_INVENTORY, ssh_config: Path | None = None) -> Inventory:
    """Load and validate boards.yaml; connection details are completed from ~/.ssh/config."""
    data, where = load_yaml_mapping(path, str(path))
    top = Schema({"boards": Field(_mapping, required=True)}).apply(data, where)
    config = _read_ssh_config(ssh_config)
    boards: dict[str, Board] = {}
    for name, raw in top["boards"].items():
        at = where.child("boards").child(str(name))
        if not isinstance(name, str) or not name.replace("-", "_").replace(".", "_").isidentifier():
            raise at.error("board names are letters, digits, '-', '_' and '.'")
        values = BOARD_SCHEMA.apply(raw, at)
        _check_place(values, at)
        boards[name] = _with_ssh_config(name, values, config)
    return Inventory(path=path, boards=boards)


def _check_place(values: dict[str, Any], at: Where) -> None:
    """A board has a host or a labgrid place; a place's NetworkService says how to reach it."""
    if values["place"] is None:
        if values["host"] is None:
            raise at.child("host").error("missing required key (or `place`: a labgrid place)")
        if values["coordinator"] is not None:
            raise at.child("coordinator").error("only with `place`")
        return
    for key in ("host", "port", "user", "proxy_jump"):
        if values[key] is not None:
            raise at.child(key).error(
                "not with `place`: the place's NetworkService gives address, port and username"
            )


def _mapping(value: Any, where: Where) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise where.error("expected a mapping of board names to boards")
    return value


def _read_ssh_config(path: Path | None) -> paramiko.SSHConfig | PlainSshConfig:
    """The ssh config; paramiko's reader only for what the plain one does not handle
    (config/ssh_config.py): `imxbench boards` then never imports paramiko."""
    from imxbench.config.ssh_config import PlainSshConfig, needs_paramiko

    path = path or Path(os.path.expanduser("~/.ssh/config"))
    if not path.is_file():
        return PlainSshConfig()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ssh config: {exc}") from None
    if not needs_paramiko(text):
        return PlainSshConfig.from_text(text)
    from imxbench.board.ssh_import import enable_match_exec, paramiko

    try:
        if re.search(r"^\s*match\b.*\bexec\b", text, re.IGNORECASE | re.MULTILINE):
            enable_match_exec()
        return paramiko.SSHConfig.from_text(text)
    except Exception as exc:  # paramiko raises several types for a malformed file
        raise ConfigError(f"{path}: cannot parse ssh config: {exc}") from None


def _with_ssh_config(
    name: str, values: dict[str, Any], config: paramiko.SSHConfig | PlainSshConfig
) -> Board:
    found: Any = config.lookup(values["host"]) if values["host"] else {}
    auth: AuthSpec = values["auth"] or AuthSpec()
    if values["auth"] is None and found.get("identityfile"):
        auth = AuthSpec(type="key", key_file=found["identityfile"][0])
    return Board(
        name=name,
        soc=values["soc"],
        host=found.get("hostname", values["host"] or ""),
        port=values["port"] or int(found.get("port", 22)),
        user=values["user"] or found.get("user", "root"),
        auth=auth,
        host_key_policy=values["host_key_policy"],
        known_hosts=values["known_hosts"],
        proxy_jump=values["proxy_jump"] or found.get("proxyjump"),
        workdir=values["workdir"],
        benchmark_model=values["benchmark_model"],
        tags=tuple(values["tags"]),
        connect_timeout_s=values["connect_timeout_s"],
        keepalive_s=values["keepalive_s"] or _alive_interval(found.get("serveraliveinterval")),
        place=values["place"],
        coordinator=values["coordinator"],
        cpu_governor=values["cpu_governor"],
    )


def _alive_interval(value: str | None) -> float:
    """ssh config's ServerAliveInterval (0 or absent there: our default, 15 s)."""
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        seconds = 0.0
    return seconds if seconds > 0 else 15.0


def emulated_board(name: str, soc: str, base: Board | None = None) -> Board:
    """The inventory entry for a board served by the built-in emulator (connection filled later)."""
    if base is not None:
        return replace(base, emulated=True, proxy_jump=None)
    return Board(name=name, soc=soc, host="127.0.0.1", emulated=True, tags=("emulated",))
