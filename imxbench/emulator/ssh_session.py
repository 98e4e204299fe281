"""Processes behind the emulator's SSH session channels (exec and shell), as sshd runs them.

A session's process runs in its own session (setsid) with cwd and HOME = /home/root. Without a
pty, stdin/stdout/stderr are pipes pumped by threads, so neither direction can block the other;
the exit status is sent once stdout and stderr reach EOF (a killed process reports 128+N, like
sshd). With a pty (`pty-req`), the process gets a controlling terminal and the channel carries
the terminal's single stream.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import struct
import subprocess
import termios
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

import paramiko

from imxbench.emulator.socs import BOARD_HOME

log = logging.getLogger("imxbench.emulator")

CHUNK = 32768
BOARD_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
_CHANNEL_GONE = (OSError, EOFError, paramiko.SSHException)


@dataclass
class PtyRequest:
    term: str
    columns: int
    rows: int


@dataclass
class SessionRequest:
    """What a client asked for on one session channel before exec/shell."""

    env: dict[str, str] = field(default_factory=dict)
    pty: PtyRequest | None = None
    resize: Callable[[int, int], None] | None = None


class ByteBudget:
    """Counts bytes received from a client; past `limit` it calls `on_spent` once.

    The drop_connection_after_bytes fault: `take(n)` says how many of `n` incoming bytes may
    still be used. `limit=None` means no limit.
    """

    def __init__(self, limit: int | None, on_spent: Callable[[], None]) -> None:
        self._remaining = limit
        self._on_spent = on_spent
        self._lock = threading.Lock()
        self._spent = False

    def take(self, count: int) -> int:
        with self._lock:
            if self._remaining is None:
                return count
            allowed = min(count, self._remaining)
            self._remaining -= allowed
            fire = allowed < count and not self._spent
            self._spent = self._spent or fire
        if fire:
            self._on_spent()
        return allowed


def session_env(request: SessionRequest, ssh_connection: str) -> dict[str, str]:
    """The environment of a session process: a login's basics, then the client's env requests."""
    env = {
        "HOME": BOARD_HOME,
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/sh",
        "PATH": BOARD_PATH,
        "SSH_CONNECTION": ssh_connection,
        "SSH_CLIENT": " ".join(ssh_connection.split()[:2] + ssh_connection.split()[3:]),
    }
    if request.pty is not None:
        env["TERM"] = request.pty.term
    env.update(request.env)
    return env


def exit_code(returncode: int) -> int:
    """A shell-style exit status: 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def run_session(
    channel: paramiko.Channel,
    argv: Sequence[str],
    request: SessionRequest,
    env: dict[str, str],
    budget: ByteBudget,
) -> None:
    """Run `argv` for `channel` until it exits; send its exit status and close the channel."""
    try:
        if request.pty is None:
            code = _run_piped(channel, argv, env, budget)
        else:
            code = _run_on_pty(channel, argv, env, request, budget)
    except OSError as exc:  # e.g. /bin/sh missing: sshd reports 127 on stderr
        log.warning("cannot start %s: %s", argv[0], exc)
        _quietly(channel.sendall_stderr, f"{argv[0]}: {exc.strerror}\n".encode())
        code = 127
    _quietly(channel.send_exit_status, code)
    _quietly(channel.close)
    log.info("channel %d: exit status %d", channel.get_id(), code)


def _quietly(action: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(*_CHANNEL_GONE):
        action(*args)


def _start(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _run_piped(
    channel: paramiko.Channel, argv: Sequence[str], env: dict[str, str], budget: ByteBudget
) -> int:
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=BOARD_HOME,
        env=env,
        start_new_session=True,
        bufsize=0,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    pumps = [
        _start(_pump_out, proc.stdout, channel.sendall),
        _start(_pump_out, proc.stderr, channel.sendall_stderr),
    ]
    _start(_feed_stdin, channel, proc.stdin, budget)
    for pump in pumps:
        pump.join()
    return exit_code(proc.wait())


def _pump_out(pipe: IO[bytes], send: Callable[[bytes], None]) -> None:
    """Copy a process's output to the channel until EOF (or until the channel is gone)."""
    with pipe:
        while data := os.read(pipe.fileno(), CHUNK):
            try:
                send(data)
            except _CHANNEL_GONE:
                return  # closing our end makes the process's next write fail, as with sshd


def _feed_stdin(channel: paramiko.Channel, stdin: IO[bytes], budget: ByteBudget) -> None:
    """Copy the client's data to the process's stdin; close it at the client's EOF."""
    writable = True
    try:
        while data := channel.recv(CHUNK):
            allowed = budget.take(len(data))
            if writable and allowed:
                try:
                    _write_all(stdin.fileno(), data[:allowed])
                except BrokenPipeError:
                    writable = False  # the process stopped reading: discard like sshd
            if allowed < len(data):
                return
    except _CHANNEL_GONE:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _set_window(fd: int, columns: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _take_controlling_tty() -> None:
    """Runs in the child between fork and exec (after setsid): stdin is the pty's slave."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _run_on_pty(
    channel: paramiko.Channel,
    argv: Sequence[str],
    env: dict[str, str],
    request: SessionRequest,
    budget: ByteBudget,
) -> int:
    assert request.pty is not None
    master, slave = os.openpty()
    try:
        _set_window(slave, request.pty.columns, request.pty.rows)
        proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=BOARD_HOME,
            env=env,
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    request.resize = lambda columns, rows: _set_window(master, columns, rows)
    pump = _start(_pump_pty, master, channel.sendall, proc)
    _start(_feed_fd, channel, os.dup(master), budget)  # the feeder closes its own copy
    code = exit_code(proc.wait())
    pump.join()
    os.close(master)
    return code


def _pump_pty(master: int, send: Callable[[bytes], None], proc: subprocess.Popen[bytes]) -> None:
    """Copy terminal output to the channel; after the process exits, stop at the first pause."""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            if proc.poll() is not None:
                return
            continue
        try:
            data = os.read(master, CHUNK)
        except OSError:  # EIO: every holder of the terminal has closed it
            return
        if not data:
            return
        try:
            send(data)
        except _CHANNEL_GONE:
            return


def _feed_fd(channel: paramiko.Channel, fd: int, budget: ByteBudget) -> None:
    try:
        while data := channel.recv(CHUNK):
            allowed = budget.take(len(data))
            _write_all(fd, data[:allowed])
            if allowed < len(data):
                return
    except _CHANNEL_GONE:
        pass
    finally:
        os.close(fd)
