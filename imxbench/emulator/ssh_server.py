"""The emulated board's SSH server: paramiko, run inside the board's namespaces (sandbox.py).

    python -m imxbench.emulator.ssh_server --state DIR --soc imx8mp [--port N] [--bind ADDR]

It prints one JSON line on stdout once it listens:
`{"event": "ready", "port": N, "host_key_fingerprint": "SHA256:...", "host_key_type": ...}`
and logs to stderr. Login: user root with auth "none" or an empty password (like NXP images
built with debug-tweaks), or a key listed in /home/root/.ssh/authorized_keys; other users are
refused. Channels: exec, shell (with or without pty-req), env, window-change, subsystem sftp.
Server faults (faults.py) are read for every new channel and are one-shot.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from imxbench.emulator import thermal
from imxbench.emulator.board_image import BoardLayout, layout_for
from imxbench.emulator.faults import DEFAULT_FAULTS, load_faults, update_faults
from imxbench.emulator.sftp_files import BoardSftp, BoardSftpServer
from imxbench.emulator.socs import BOARD_HOME
from imxbench.emulator.ssh_session import (
    ByteBudget,
    PtyRequest,
    SessionRequest,
    run_session,
    session_env,
)
from imxbench.errors import ImxbenchError

log = logging.getLogger("imxbench.emulator")

USER = "root"


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """The board's Ed25519 host key, created on first boot (OpenSSH format, mode 0600)."""
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        fd = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.replace(f"{path}.tmp", path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style fingerprint: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    pattern = host if port == 22 else f"[{host}]:{port}"
    return f"{pattern} {key.get_name()} {key.get_base64()}\n"


def client_host(bind: str) -> str:
    """The address a client on this machine uses to reach a server bound to `bind`."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind, bind)


class Connection:
    """One client connection: its transport, the fault file, and the abrupt-drop fault action."""

    def __init__(self, transport: paramiko.Transport, layout: BoardLayout) -> None:
        self.transport = transport
        self.layout = layout
        peer = transport.getpeername()
        local = transport.sock.getsockname()  # type: ignore[union-attr]
        self.ssh_connection = f"{peer[0]} {peer[1]} {local[0]} {local[1]}"

    def faults(self) -> dict[str, Any]:
        try:
            return load_faults(self.layout.control_dir)
        except ImxbenchError as exc:
            log.warning("ignoring faults: %s", exc.message)
            return dict(DEFAULT_FAULTS)

    def drop(self, fault: str) -> None:
        """Fire a one-shot fault: switch it off, then cut the TCP connection without a word."""
        log.warning("fault %s: dropping the connection from %s", fault, self.ssh_connection)
        try:
            update_faults(self.layout.control_dir, **{fault: DEFAULT_FAULTS[fault]})
        except (ImxbenchError, OSError) as exc:
            log.warning("cannot reset fault %s: %s", fault, exc)
        with contextlib.suppress(OSError):
            self.transport.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        self.transport.close()

    def byte_budget(self) -> ByteBudget:
        limit = self.faults()["drop_connection_after_bytes"]
        return ByteBudget(limit, lambda: self.drop("drop_connection_after_bytes"))


class BoardServer(paramiko.ServerInterface):
    """Authentication and channel requests of one connection (called on its transport thread)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.requests: dict[int, SessionRequest] = {}

    # --- authentication ---

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL if username == USER else AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == USER and password == ""
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == USER and _authorized(key)
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    # --- channels ---

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind != "session":
            return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.requests[chanid] = SessionRequest()
        return OPEN_SUCCEEDED

    def check_channel_env_request(
        self, channel: paramiko.Channel, name: bytes, value: bytes
    ) -> bool:
        key, text = _text(name), _text(value)
        self.requests[channel.get_id()].env[key] = text
        return True

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        request = self.requests[channel.get_id()]
        request.pty = PtyRequest(_text(term), width or 80, height or 24)
        return True

    def check_channel_window_change_request(
        self,
        channel: paramiko.Channel,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
    ) -> bool:
        request = self.requests.get(channel.get_id())
        if request is None or request.resize is None:
            return False
        request.resize(width, height)
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.connection.faults()["drop_connection_on_exec"]:
            self.connection.drop("drop_connection_on_exec")
            return False
        log.debug("channel %d: command %r", channel.get_id(), command)
        return self._start(channel, "exec", ["/bin/sh", "-c", _text(command)])

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        interactive = self.requests[channel.get_id()].pty is not None
        return self._start(channel, "shell", ["/bin/sh", "-i"] if interactive else ["/bin/sh"])

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        if name != "sftp":
            return False
        log.info("channel %d: sftp", channel.get_id())
        budget = self.connection.byte_budget()
        handler = BoardSftpServer(channel, name, self, BoardSftp, budget)
        handler.daemon = True
        handler.start()
        return True

    def _start(self, channel: paramiko.Channel, kind: str, argv: list[str]) -> bool:
        request = self.requests[channel.get_id()]
        env = session_env(request, self.connection.ssh_connection)
        budget = self.connection.byte_budget()
        log.info("channel %d: %s%s", channel.get_id(), kind, " on a pty" if request.pty else "")
        threading.Thread(
            target=run_session, args=(channel, argv, request, env, budget), daemon=True
        ).start()
        return True


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


def _authorized(key: paramiko.PKey) -> bool:
    """Is `key` listed in the board's /home/root/.ssh/authorized_keys?"""
    try:
        lines = Path(BOARD_HOME, ".ssh", "authorized_keys").read_text().splitlines()
    except OSError:
        return False
    wanted = key.get_base64()
    return any(wanted in line.split() for line in lines if not line.lstrip().startswith("#"))


class BoardSshServer:
    """Listens on (bind, port) and serves every connection on its own threads."""

    def __init__(self, layout: BoardLayout, bind: str, port: int) -> None:
        self.layout = layout
        self.host_key = load_or_create_host_key(layout.host_key_path)
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((bind, port))
        self.listener.listen(128)
        self.port: int = self.listener.getsockname()[1]
        self.transports: weakref.WeakSet[paramiko.Transport] = weakref.WeakSet()
        host = client_host(bind)
        layout.known_hosts_path.write_text(known_hosts_line(host, self.port, self.host_key))

    def serve_forever(self) -> None:
        while True:
            self.serve_one()

    def serve_one(self) -> None:
        """Accept one connection and serve it on a thread of its own."""
        threading.Thread(target=self._handshake, args=(self.accept(),), daemon=True).start()

    def accept(self) -> socket.socket:
        """The next client's socket, with TCP_NODELAY set as sshd sets it: the small packets of
        a session (exit status, EOF, close) then leave at once instead of waiting for the
        client's delayed ACK (Nagle), ~40 ms per command.
        """
        client, address = self.listener.accept()
        log.info("connection from %s:%d", address[0], address[1])
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def _handshake(self, client: socket.socket) -> None:
        transport = paramiko.Transport(client)
        self.transports.add(transport)
        transport.add_server_key(self.host_key)
        try:
            transport.start_server(server=BoardServer(Connection(transport, self.layout)))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            log.info("handshake failed: %s", exc)
            transport.close()

    def close(self) -> None:
        self.listener.close()
        for transport in list(self.transports):
            transport.close()


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(0)


THERMAL_REFRESH_S = 0.5


def _start_thermal_refresh(layout: BoardLayout) -> threading.Thread:
    """Keep the board's thermal zone and clock files current while it idles or cools down
    (the emulated tools publish them while they run): emulator/thermal.py."""
    paths = thermal.BoardPaths(layout.control_dir, layout.sys_class, layout.sys_devices)

    def loop() -> None:
        while True:
            try:
                scale = float(load_faults(layout.control_dir).get("thermal_time_scale", 1.0))
                thermal.refresh(layout.spec, paths, scale)
            except Exception:  # a bad control file must not stop the board
                log.debug("thermal refresh failed", exc_info=True)
            time.sleep(THERMAL_REFRESH_S)

    thread = threading.Thread(target=loop, name="thermal", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imxbench-emulator-sshd")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--soc", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--debug", action="store_true")
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if options.debug else logging.INFO,
        format="%(asctime)s imxbench-emulator[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server = BoardSshServer(layout_for(options.soc, options.state), options.bind, options.port)
    except OSError as exc:
        log.error("cannot listen on %s port %d: %s", options.bind, options.port, exc.strerror)
        return 1
    ready = {
        "event": "ready",
        "port": server.port,
        "host_key_type": server.host_key.get_name(),
        "host_key_fingerprint": fingerprint(server.host_key),
    }
    print(json.dumps(ready), flush=True)
    log.info("listening on %s:%d", options.bind, server.port)
    _start_thermal_refresh(server.layout)
    try:
        server.serve_forever()
    except (SystemExit, KeyboardInterrupt):
        log.info("shutting down")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
