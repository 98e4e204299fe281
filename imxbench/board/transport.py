"""The board seam: one SSH connection per board, and four verbs (run, put, get, close).

Real boards and the emulator sit behind this same class. Every remote argument is shell-quoted
by `quote_command`; every command runs in its own process group so that a timeout or Ctrl-C can
kill all of it (see docs/DESIGN.md, "The board seam").
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imxbench.board.ssh_import import paramiko
from imxbench.config.inventory import Board
from imxbench.errors import (
    ConfigError,
    ConnectError,
    HostKeyError,
    RemoteCommandError,
    RemoteTimeout,
)

PGID_MARKER = b"__IMXBENCH_PGID__ "
WINDOW_BYTES = 16 * 1024 * 1024  # a deep window and large packets: 2x paramiko's bulk throughput
MAX_PACKET_BYTES = 256 * 1024
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
STDERR_TAIL_CHARS = 2000
CAPTURE_BYTES = 2 * 1024 * 1024
"""What `run` keeps of each output stream by default: the first and the last half of this (a
board that floods its output must neither fill our memory nor outlive its timeout)."""
READ_BYTES = 65536
Output = Callable[[bytes], object]


class OutputCapture:
    """One output stream as kept: its first `limit / 2` bytes and its last `limit / 2`; what
    lies between is dropped, counted, and stated where it was (`getvalue`)."""

    def __init__(self, limit: int = CAPTURE_BYTES) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._tail_limit:  # trimmed now and then: amortised
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def dropped(self) -> int:
        return max(0, self.total - len(self._head) - self._tail_limit)

    def getvalue(self) -> bytes:
        tail = self._tail[-self._tail_limit :] if self._tail_limit else b""
        if not self.dropped:
            return bytes(self._head + tail)
        note = (
            f"\n[imxbench: {self.dropped} bytes of output dropped here: kept the first "
            f"{len(self._head)} and the last {len(tail)} of {self.total}]\n"
        ).encode()
        return bytes(self._head) + note + bytes(tail)


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: bytes
    stderr: bytes
    duration_s: float

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def quote_command(argv: str | Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """A shell command line from an argv list (each element quoted) and an environment.

    A plain string is taken as an already-written shell command (our own scripts only).
    """
    parts = [argv] if isinstance(argv, str) else list(argv)
    if any("\0" in p for p in [*parts, *(env or {}).values()]):
        raise ConfigError("a remote argument contains a NUL byte, which no shell can pass on")
    command = argv if isinstance(argv, str) else shlex.join(argv)
    if env:
        for key in env:
            if not key.replace("_", "A").isalnum() or key[0].isdigit():
                raise ConfigError(f"invalid environment variable name {key!r}")
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"env {assignments} {command}"
    return command


def _process_group_wrapper(command: str, hangup_kills: bool = False) -> str:
    """Run `command` in a new session (its own process group) and report the group id first.

    The job is started in the background so `setsid` need not fork (it would, were the shell a
    group leader); stdin is handed to it explicitly because background jobs get /dev/null.

    `hangup_kills`: the command gets /dev/null as stdin, and a watchdog reads the channel's
    stdin instead, which the client keeps open. Its end of file means the client is gone (the
    connection dropped, or imxbench was killed, even with SIGKILL): the watchdog then kills the
    command's group (TERM, then KILL 2 s later). sshd keeps a vanished client's commands running
    otherwise; a benchmark would go on loading the board under the next job's measurements.
    """
    inner = shlex.quote(command)
    marker = f'echo "{PGID_MARKER.decode()}$p" >&2'
    if not hangup_kills:
        return (
            "exec 3<&0; S=setsid; command -v setsid >/dev/null 2>&1 || S=; "
            f"$S sh -c {inner} 0<&3 3<&- & p=$!; exec 3<&-; {marker}; wait $p"
        )
    return (
        "exec 3<&0; S=setsid; command -v setsid >/dev/null 2>&1 || S=; "
        f"$S sh -c {inner} </dev/null 3<&- & p=$!; "
        "{ cat >/dev/null; kill -s TERM -- -$p 2>/dev/null || kill -s TERM $p 2>/dev/null; "
        "sleep 2; kill -s KILL -- -$p 2>/dev/null; } <&3 >/dev/null 2>&1 & w=$!; exec 3<&-; "
        f"{marker}; wait $p; s=$?; kill $w 2>/dev/null; exit $s"
    )


class BoardSession:
    """An open SSH connection to one board. Thread-safe for concurrent `run` calls."""

    def __init__(self, board: Board, transport: paramiko.Transport, jump: BoardSession | None):
        self.board = board
        self._transport = transport
        self._jump = jump
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_checked = False
        self._lock = threading.Lock()
        self._running: dict[int, list[int]] = {}  # channel id -> [pgid] of commands in flight
        self._spare: paramiko.Channel | None = None  # see _open_spare

    # -- connecting -----------------------------------------------------------------------
    @classmethod
    def connect(cls, board: Board, retries: int = 3, backoff_s: float = 1.0) -> BoardSession:
        """Connect with retries and exponential backoff; host-key and auth errors never retry."""
        last: Exception | None = None
        for attempt in range(retries + 1):
            try:
                return cls._connect_once(board)
            except (HostKeyError, ConfigError):
                raise
            except ConnectError as exc:
                if "authentication" in exc.message:
                    raise
                last = exc
            if attempt < retries:
                time.sleep(backoff_s * (2**attempt))
        assert last is not None
        raise last

    @classmethod
    def _connect_once(cls, board: Board) -> BoardSession:
        jump = None
        if board.proxy_jump:
            jump = cls.connect(_jump_board(board), retries=0)
        try:
            sock = _open_socket(board, jump)
            transport = paramiko.Transport(
                sock, default_window_size=WINDOW_BYTES, default_max_packet_size=MAX_PACKET_BYTES
            )
            _prefer_fast_ciphers(transport)
            transport.banner_timeout = board.connect_timeout_s
            transport.start_client(timeout=board.connect_timeout_s)
            _verify_host_key(board, transport)
            _authenticate(board, transport)
            transport.set_keepalive(max(1, round(board.keepalive_s)))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if jump:
                jump.close()
            raise ConnectError(
                f"{board.name}: cannot connect to {board.user}@{board.host}:{board.port}: "
                f"{exc or type(exc).__name__}"
            ) from None
        except Exception:
            if jump:
                jump.close()
            raise
        return cls(board, transport, jump)

    def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()
        if self._sftp is not None:
            self._sftp.close()
        self._transport.close()
        if self._jump is not None:
            self._jump.close()

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_alive(self) -> bool:
        return self._transport.is_active()

    # -- running commands -------------------------------------------------------------------
    def run(
        self,
        argv: str | Sequence[str],
        *,
        timeout_s: float = 600.0,
        env: Mapping[str, str] | None = None,
        stdin: bytes | BinaryIO | None = None,
        on_stdout: Output | None = None,
        on_stderr: Output | None = None,
        check: bool = True,
        hangup_kills: bool = False,
        capture_bytes: int = CAPTURE_BYTES,
        shown_as: str | None = None,
    ) -> CommandResult:
        """Run a command on the board and wait for it.

        On timeout (RemoteTimeout) or KeyboardInterrupt the remote process group is killed
        before the exception propagates. `check` raises RemoteCommandError on a non-zero exit.
        `hangup_kills` (no `stdin`): should this client vanish, the board kills the command
        (see _process_group_wrapper) — for long commands, e.g. a benchmark step.
        Of each output stream the result keeps the first and last `capture_bytes / 2` (the
        callbacks see all of it), stating what was dropped; the timeout holds while the
        command writes, however fast. `shown_as`: how errors name the command (a wrapped step
        is named by its benchmark_model line, not by its wrapping).
        """
        if hangup_kills and stdin is not None:
            raise ValueError("hangup_kills needs the channel's stdin: no stdin data with it")
        command = quote_command(argv, env)
        shown = shown_as or command
        started = time.monotonic()
        stdout, stderr = OutputCapture(capture_bytes), OutputCapture(capture_bytes)
        pgid: list[int] = []
        channel = self._start(_process_group_wrapper(command, hangup_kills), shown)
        self._running[channel.get_id()] = pgid
        stop_feeding = threading.Event()
        try:
            if hangup_kills:  # a long command (a step): the next one's channel opens meanwhile
                self._open_spare()
            feeder = None if hangup_kills else _start_stdin_feeder(channel, stdin, stop_feeding)
            status = self._pump(
                channel, started + timeout_s, stdout, stderr, pgid, on_stdout, on_stderr
            )
            if feeder is not None:
                feeder.join(timeout=5)
        except KeyboardInterrupt:
            stop_feeding.set()  # not one packet more: an upload stops at once, not when killed
            self._kill_group(pgid)
            raise
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise ConnectError(
                f"{self.board.name}: connection lost during `{shown}`: {exc}"
            ) from None
        finally:
            self._running.pop(channel.get_id(), None)
            channel.close()
        err_text = _strip_marker(stderr.getvalue())
        if status is None:
            self._kill_group(pgid)
            raise RemoteTimeout(
                self.board.name,
                shown,
                None,
                _tail(err_text),
                f"{self.board.name}: `{shown}` timed out after {timeout_s:g} s; "
                "its process group was killed",
            )
        result = CommandResult(
            shown, status, stdout.getvalue(), err_text, time.monotonic() - started
        )
        if check and status != 0:
            raise RemoteCommandError(self.board.name, shown, status, _tail(err_text))
        return result

    def _open_channel(self) -> paramiko.Channel:
        if not self._transport.is_active():
            raise ConnectError(f"{self.board.name}: the SSH connection is closed")
        try:
            return self._transport.open_session(timeout=self.board.connect_timeout_s)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectError(f"{self.board.name}: cannot open a channel: {exc}") from None

    def _start(self, command_line: str, shown: str) -> paramiko.Channel:
        """A channel running `command_line`. A server that closes the channel instead of
        starting the command (Dropbear did once under load: "Channel closed") never ran it:
        it is asked once more on a new channel before the connection counts as lost."""
        for attempt in (1, 2):
            channel = self._spare_or_new_channel() if attempt == 1 else self._open_channel()
            try:
                channel.exec_command(command_line)
                return channel
            except (OSError, paramiko.SSHException, EOFError) as exc:
                channel.close()
                if attempt == 2 or not self.is_alive:
                    raise ConnectError(
                        f"{self.board.name}: connection lost during `{shown}`: {exc}"
                    ) from None
        raise AssertionError("unreachable")

    def _open_spare(self) -> None:
        """Open the next command's channel while this one's command runs (issue 17): the
        next step then starts without the channel's round trip. Best effort: a failure here
        leaves the next command to open its own."""
        if self._spare is not None:
            return
        try:
            spare = self._transport.open_session(timeout=self.board.connect_timeout_s)
        except (paramiko.SSHException, OSError, EOFError):
            return
        with self._lock:
            if self._spare is None:
                self._spare = spare
                return
        spare.close()

    def _spare_or_new_channel(self) -> paramiko.Channel:
        """The spare channel when one is open and still usable, else a new channel."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare.active and not spare.closed and self.is_alive:
            return spare
        if spare is not None:
            spare.close()
        return self._open_channel()

    def _pump(
        self,
        channel: paramiko.Channel,
        deadline: float,
        stdout: OutputCapture,
        stderr: OutputCapture,
        pgid: list[int],
        on_stdout: Output | None,
        on_stderr: Output | None,
    ) -> int | None:
        """Stream both outputs until exit; None when the deadline passed first (checked after
        every read: a command that never stops writing still times out)."""
        pending: bytearray | None = bytearray()  # stderr held back until the PGID line is seen
        drain_until: float | None = None
        while True:
            progressed = False
            if channel.recv_ready():
                data = channel.recv(READ_BYTES)
                stdout.add(data)
                if on_stdout:
                    on_stdout(data)
                progressed = True
            if channel.recv_stderr_ready():
                data = channel.recv_stderr(READ_BYTES)
                progressed = True
                if pending is not None:
                    # Hold stderr back until the wrapper's PGID line has been seen and removed.
                    pending += data
                    if _find_pgid(pending, pgid):
                        data, pending = _strip_marker(bytes(pending)), None
                    elif len(pending) > 2 * READ_BYTES:  # no marker (yet): bounded, all the same
                        data = bytes(pending[:-READ_BYTES])
                        del pending[:-READ_BYTES]
                    else:
                        data = b""
                if data:
                    stderr.add(data)
                    if on_stderr:
                        on_stderr(data)
            if time.monotonic() > deadline:
                return None
            if progressed:
                continue
            if (
                channel.exit_status_ready()
                and not channel.recv_ready()
                and not channel.recv_stderr_ready()
            ):
                # The exit status may arrive before the last output does (OpenSSH sends it when
                # the command exits, while its pipes still drain): read on until the server's
                # EOF, for at most EOF_GRACE_S (a daemon the command left may hold them open).
                if not (channel.eof_received or channel.closed):
                    if drain_until is None:
                        drain_until = time.monotonic() + EOF_GRACE_S
                    if time.monotonic() < drain_until:
                        select.select([channel], [], [], 0.05)
                        continue
                status = channel.recv_exit_status()
                if status == -1 and not self._transport.is_active():
                    # paramiko's "no exit status": the connection died, not the command
                    raise EOFError("transport closed")
                if pending:  # no PGID line came: what was held back is the command's
                    stderr.add(bytes(pending))
                return status
            if channel.closed and not self._transport.is_active():
                raise EOFError("transport closed")
            select.select([channel], [], [], 0.05)

    def interrupt(self) -> None:
        """Kill the process groups of every command in flight (callable from another thread);
        their `run` calls then return with the signal's exit status."""
        for pgid in list(self._running.values()):
            self._kill_group(pgid)

    def _kill_group(self, pgid: list[int]) -> None:
        """TERM, then KILL, the command's process group, over a fresh channel."""
        if not pgid or not self._transport.is_active():
            return
        group = pgid[0]
        script = (
            f"kill -s TERM -- -{group} 2>/dev/null || kill -s TERM {group} 2>/dev/null; "
            f"i=0; while kill -0 -- -{group} 2>/dev/null && [ $i -lt 20 ]; do "
            "sleep 0.1; i=$((i+1)); done; "
            f"kill -s KILL -- -{group} 2>/dev/null || kill -s KILL {group} 2>/dev/null; true"
        )
        try:
            channel = self._open_channel()
            channel.exec_command(script)
            channel.recv_exit_status()
            channel.close()
        except Exception:  # best effort: the connection may be the thing that failed
            pass

    # -- files ----------------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient | None:
        """The SFTP client, or None when the server has no SFTP subsystem (old Dropbear)."""
        with self._lock:
            if not self._sftp_checked:
                self._sftp_checked = True
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self._transport)
                except (paramiko.SSHException, EOFError, OSError):
                    self._sftp = None
            return self._sftp

    def put(self, local: Path, remote: str) -> None:
        """Copy a file to the board (not atomic by itself: see deploy.py for that)."""
        sftp = self.sftp()
        if sftp is not None:
            sftp.put(str(local), remote)
            return
        with local.open("rb") as fh:
            self.run(f"cat > {shlex.quote(remote)}", stdin=fh, timeout_s=3600)

    def get(self, remote: str, local: Path) -> None:
        """Copy a file from the board, written locally under a temporary name then renamed."""
        part = local.with_name(f".{local.name}.part")
        try:
            sftp = self.sftp()
            if sftp is not None:
                sftp.get(remote, str(part))
            else:
                with part.open("wb") as fh:
                    self.run(["cat", remote], on_stdout=fh.write, timeout_s=3600)
            os.replace(part, local)
        finally:
            part.unlink(missing_ok=True)


def _start_stdin_feeder(
    channel: paramiko.Channel, stdin: bytes | BinaryIO | None, stop: threading.Event
) -> threading.Thread | None:
    if stdin is None:
        channel.shutdown_write()
        return None

    def feed() -> None:
        try:
            if isinstance(stdin, bytes):
                _send_all(channel, stdin, stop)
            else:
                while chunk := stdin.read(STDIN_CHUNK_BYTES):
                    _send_all(channel, chunk, stop)
            channel.shutdown_write()
        except (OSError, paramiko.SSHException, EOFError):
            pass

    thread = threading.Thread(target=feed, name="imxbench-stdin", daemon=True)
    thread.start()
    return thread


STDIN_CHUNK_BYTES = 1024 * 1024


def _send_all(channel: paramiko.Channel, data: bytes, stop: threading.Event) -> None:
    """`channel.sendall(data)`, one packet's worth at a time, until `stop` is set (Ctrl-C).
    paramiko's own re-slices all the rest of `data` after each packet (a 1 MiB chunk in
    32 KiB packets, OpenSSH's limit, was copied 16 times over)."""
    step = max(1024, channel.out_max_packet_size - 64)  # what paramiko's send takes at most
    pos = 0
    while pos < len(data):
        if stop.is_set():
            raise EOFError("stopped")
        sent = channel.send(data[pos : pos + step])
        if sent == 0:
            raise EOFError("the channel was closed while sending")
        pos += sent


EOF_GRACE_S = 2.0
"""How long output may still arrive after a command's exit status (see `_pump`)."""


def _find_pgid(stderr: bytearray, pgid: list[int]) -> bool:
    at = stderr.find(PGID_MARKER)
    if at < 0:
        return False
    end = stderr.find(b"\n", at)
    if end < 0:
        return False
    with contextlib.suppress(ValueError):
        pgid.append(int(stderr[at + len(PGID_MARKER) : end]))
    return True


def _strip_marker(data: bytes) -> bytes:
    at = data.find(PGID_MARKER)
    if at < 0:
        return data
    end = data.find(b"\n", at)
    return data[:at] + (data[end + 1 :] if end >= 0 else b"")


def _tail(data: bytes) -> str:
    return data.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:].strip()


# -- connection helpers ----------------------------------------------------------------------
def _jump_board(board: Board) -> Board:
    spec = board.proxy_jump or ""
    user, _, hostport = spec.rpartition("@")
    host, _, port = hostport.partition(":")
    return Board(
        name=f"{board.name} (jump host {spec})",
        soc=board.soc,
        host=host,
        port=int(port) if port.isdigit() else 22,
        user=user or board.user,
        auth=board.auth,
        host_key_policy=board.host_key_policy,
        known_hosts=board.known_hosts,
        connect_timeout_s=board.connect_timeout_s,
    )


def _open_socket(board: Board, jump: BoardSession | None) -> socket.socket | paramiko.Channel:
    if jump is None:
        sock = socket.create_connection((board.host, board.port), timeout=board.connect_timeout_s)
        # SSH's small request/reply packets (channel open, exec, SFTP stat) would otherwise
        # wait for the peer's delayed ACK (Nagle): ~40 ms per command on Linux.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            # A silent board (crashed, unplugged, its network blackholed) acknowledges nothing:
            # with the keepalives we send (Transport.set_keepalive) unacknowledged for 3
            # intervals, the kernel ends the connection and every wait on it ends with an
            # error (paramiko's exec request and SFTP calls wait without a deadline).
            timeout_ms = int(3 * board.keepalive_s * 1000)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms)
        return _QuickAckSocket.wrap(sock) if hasattr(socket, "TCP_QUICKACK") else sock
    return jump._transport.open_channel(
        "direct-tcpip",
        (board.host, board.port),
        ("127.0.0.1", 0),
        timeout=board.connect_timeout_s,
    )


class _QuickAckSocket(socket.socket):
    """A TCP socket that acknowledges what it receives at once (Linux TCP_QUICKACK, re-armed
    after every read: the kernel drops back to delayed ACKs by itself).

    OpenSSH's sshd does not set TCP_NODELAY for a session without a pty, so after two small
    packets in a row (after authentication: the host-keys announcement, then a debug message)
    it holds the next one, our first channel's confirmation, until we acknowledge the last;
    a delayed ACK is 40 ms. Measured on the emulated board behind OpenSSH: the first command
    took 47 ms, now 3-9 ms."""

    @classmethod
    def wrap(cls, sock: socket.socket) -> _QuickAckSocket:
        timeout = sock.gettimeout()
        quick = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        quick.settimeout(timeout)
        return quick

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        with contextlib.suppress(OSError):  # closed meanwhile: the next recv says so
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data


def _prefer_fast_ciphers(transport: paramiko.Transport) -> None:
    """AES-GCM first when paramiko offers it (the server still chooses among what both have)."""
    options = transport.get_security_options()
    offered = tuple(options.ciphers)
    fast = tuple(c for c in FAST_CIPHERS if c in offered)
    options.ciphers = fast + tuple(c for c in offered if c not in fast)


def known_hosts_path(board: Board) -> Path:
    return Path(os.path.expanduser(board.known_hosts or "~/.ssh/known_hosts"))


def host_key_name(board: Board) -> str:
    return board.host if board.port == 22 else f"[{board.host}]:{board.port}"


def _verify_host_key(board: Board, transport: paramiko.Transport) -> None:
    key = transport.get_remote_server_key()
    path = known_hosts_path(board)
    known = paramiko.HostKeys()
    if path.is_file():
        try:
            known.load(str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read known_hosts: {exc}") from None
    name = host_key_name(board)
    entries = known.lookup(name)
    fingerprint = _fingerprint(key)
    if entries is not None and key.get_name() in entries:
        if entries[key.get_name()] == key:
            return
        raise HostKeyError(
            f"{board.name}: HOST KEY CHANGED for {name} ({key.get_name()} {fingerprint}); refusing",
            f"if the board was re-flashed, remove its line from {path} and connect again",
        )
    if entries is not None and len(entries):
        raise HostKeyError(
            f"{board.name}: {name} offered a {key.get_name()} key but {path} lists only "
            f"{', '.join(entries.keys())} for it; refusing",
        )
    if board.host_key_policy != "accept-new":
        raise HostKeyError(
            f"{board.name}: unknown host key for {name} ({key.get_name()} {fingerprint})",
            f"verify it, then add it to {path} (ssh-keyscan -p {board.port} {board.host}) "
            "or set host_key_policy: accept-new for this board",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_fingerprint().hex()


def _authenticate(board: Board, transport: paramiko.Transport) -> None:
    auth = board.auth
    try:
        if auth.type == "none":
            _auth_none(board, transport)
        elif auth.type == "password":
            password = os.environ.get(auth.password_env or "")
            if password is None:
                raise ConfigError(
                    f"{board.name}: environment variable {auth.password_env} is not set "
                    "(auth.password_env)"
                )
            transport.auth_password(board.user, password)
        elif auth.type == "key":
            key_file = os.path.expanduser(auth.key_file or "")
            try:
                pkey = paramiko.PKey.from_path(key_file)
            except (OSError, paramiko.SSHException) as exc:
                raise ConfigError(f"{board.name}: auth.key_file {key_file}: {exc}") from None
            transport.auth_publickey(board.user, pkey)
        else:
            _auth_agent(board, transport)
    except paramiko.AuthenticationException as exc:
        raise ConnectError(
            f"{board.name}: authentication as {board.user} failed ({auth.type}): {exc}"
        ) from None
    if not transport.is_authenticated():
        raise ConnectError(f"{board.name}: authentication as {board.user} failed ({auth.type})")


def _auth_none(board: Board, transport: paramiko.Transport) -> None:
    """NXP images (L6.12 multimedia/full too) let root in with no password: try 'none', then an
    empty one."""
    try:
        transport.auth_none(board.user)
        return
    except paramiko.BadAuthenticationType as exc:
        allowed = exc.allowed_types
    if "password" in allowed:
        transport.auth_password(board.user, "")
        return
    raise paramiko.AuthenticationException(f"server allows only: {', '.join(allowed)}")


def _auth_agent(board: Board, transport: paramiko.Transport) -> None:
    keys = paramiko.Agent().get_keys()
    if not keys:
        raise paramiko.AuthenticationException("the ssh-agent offers no keys")
    for key in keys:
        try:
            transport.auth_publickey(board.user, key)
            return
        except paramiko.AuthenticationException:
            continue
    raise paramiko.AuthenticationException("no agent key was accepted")
