"""Boards from labgrid places: reserve, acquire, reach, always release.

A board of boards.yaml may name a labgrid `place` (and a `coordinator`, default
`$LG_COORDINATOR`) instead of a host. `hold_places` turns such boards into ordinary ones for the
duration of a job:

1. A reservation per place (`name=PLACE`), all at once; the coordinator allocates them fairly
   (priority, then age) as places become free. Waiting reservations are polled every
   POLL_S, which keeps them alive; one whose job died expires by itself after 60 s.
2. Allocated: AcquirePlace, then the SSH endpoint from the place's NetworkService (address,
   port, username) replaces the board's host. Everything downstream is the usual transport.
3. A lease tag on the place, `imxbench_lease=<job>_p<pid>_l<lease s>_b<unix time>`, renewed
   every lease/5 seconds by a heartbeat thread. It names the job to whoever finds the place
   busy, and it is what makes a killed job's place come back (below).
4. On leaving, whatever happened (success, failure, Ctrl-C, SIGTERM): the lease tag removed,
   the reservation cancelled, then ReleasePlace(fromuser=us) (never someone else's later
   acquisition; in this order the next waiting job gets the place at once, see evict()).

What labgrid guarantees and what it does not (labgrid 26.0, read from its coordinator):
an acquisition never expires; the coordinator does not tie it to the client's connection, so a
SIGKILLed job leaves its place acquired (and its reservation, "acquired" reservations are
refreshed forever) until someone releases it — or the coordinator restarts, which forgets all
acquisitions. Reservations that are waiting or allocated expire 60 s after their last poll.

What imxbench adds for a job that died without releasing (SIGKILL, OOM kill, lost runner): its
lease stops being renewed. Another imxbench job that wants the place treats a lease as expired
when it has watched it unchanged for its lease time, or when its last renewal is older than
twice the lease time by the local clock (clocks agree to within a lease); it then releases the
place from the dead holder, cancels the dead reservation and takes its turn. `imxbench lab
sweep` does the same, by the clock rule, for a whole coordinator (e.g. from cron). Places
acquired without an imxbench lease (people using labgrid-client) are never taken over.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace

from imxbench.config.inventory import Board
from imxbench.errors import ConfigError, InfrastructureError
from imxbench.lab.labgrid_client import Coordinator, LabgridError, PlaceState

LEASE_TAG = "imxbench_lease"
DEFAULT_LEASE_S = 300.0
POLL_S = 0.5
_LEASE = re.compile(r"^(?P<job>[a-z0-9_]*)_p(?P<pid>\d+)_l(?P<lease>\d+)_b(?P<beat>\d+)$")


def coordinator_address(board: Board) -> str:
    """The board's coordinator: its own `coordinator`, else $LG_COORDINATOR."""
    address = board.coordinator or os.environ.get("LG_COORDINATOR")
    if not address:
        raise ConfigError(
            f"{board.name}: place {board.place!r} names no coordinator",
            "set coordinator: HOST:PORT for the board in boards.yaml, or LG_COORDINATOR",
        )
    return address


def lease_seconds() -> float:
    """The lease time: $IMXBENCH_LAB_LEASE_S, default 300 s."""
    raw = os.environ.get("IMXBENCH_LAB_LEASE_S")
    try:
        value = float(raw) if raw else DEFAULT_LEASE_S
    except ValueError:
        raise ConfigError(f"IMXBENCH_LAB_LEASE_S: expected seconds, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"IMXBENCH_LAB_LEASE_S: at least 1 second, got {raw!r}")
    return value


# -- the lease tag (pure) --------------------------------------------------------------------
@dataclass(frozen=True)
class Lease:
    job: str
    pid: int
    lease_s: int
    renewed_at: int  # unix time, holder's clock

    def tag_value(self) -> str:
        return f"{self.job}_p{self.pid}_l{self.lease_s}_b{self.renewed_at}"

    def describe(self, now: float) -> str:
        age = max(0, round(now - self.renewed_at))
        job = self.job.replace("_", "-") or "job"
        return f"imxbench {job} pid {self.pid}, lease renewed {age} s ago"


def lease_job(job: str) -> str:
    """A job name as a tag value may carry it (labgrid: [a-z0-9_])."""
    return re.sub(r"[^a-z0-9]+", "_", job.lower()).strip("_")[:40]


def parse_lease(value: str | None) -> Lease | None:
    match = _LEASE.match(value or "")
    if match is None:
        return None
    return Lease(
        match["job"], int(match["pid"]), int(match["lease"]), renewed_at=int(match["beat"])
    )


@dataclass
class LeaseWatch:
    """Decides when a lease has expired: watched unchanged for its lease time (skew-free), or
    last renewed more than twice its lease time ago by our clock."""

    seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    def expired(self, place: PlaceState, now_wall: float, now_mono: float) -> bool:
        value = place.tags.get(LEASE_TAG)
        lease = parse_lease(value) if place.acquired else None
        if lease is None or value is None:
            self.seen.pop(place.name, None)
            return False
        first = self.seen.get(place.name)
        if first is None or first[0] != value:
            self.seen[place.name] = (value, now_mono)
            first = self.seen[place.name]
        watched_s = now_mono - first[1]
        return watched_s >= lease.lease_s or now_wall - lease.renewed_at > 2 * lease.lease_s


def describe_holder(
    place: PlaceState | None, owners: Mapping[str, str] | None = None, now: float | None = None
) -> str:
    """Who has the place: the labgrid user and, when it is an imxbench job, which one."""
    if place is None:
        return "unknown (the place is gone)"
    if place.acquired:
        lease = parse_lease(place.tags.get(LEASE_TAG))
        job = f" ({lease.describe(time.time() if now is None else now)})" if lease else ""
        return f"{place.acquired}{job}"
    if place.reservation:
        owner = (owners or {}).get(place.reservation, "another user")
        return f"{owner} (reservation {place.reservation}, about to acquire it)"
    return "nobody any more (it was just freed)"


# -- holding places --------------------------------------------------------------------------
def evict(coordinator: Coordinator, place: PlaceState) -> None:
    """Free a place whose imxbench lease expired (its job died): cancel the dead job's
    reservation, release the place from that holder only, drop the stale lease tag.

    Cancel first: labgrid's scheduler only hands a place to a waiting reservation in a pass
    where it is neither acquired nor allocated, and a cancel leaves the place "allocated" until
    the end of its own pass — released first, the next job would wait for the coordinator's
    15-second tick."""
    if place.reservation:
        coordinator.cancel(place.reservation)
    if place.acquired:
        coordinator.release(place.name, fromuser=place.acquired)
    coordinator.set_tags(place.name, {LEASE_TAG: ""})


@dataclass
class _Held:
    board: Board
    place: str
    token: str


class PlaceHolder:
    """The places of one coordinator that one job holds, and their heartbeat."""

    def __init__(self, coordinator: Coordinator, job: str, lease_s: float) -> None:
        self.coordinator = coordinator
        self.job = lease_job(job)
        self.lease_s = lease_s
        self.held: list[_Held] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire_all(
        self, boards: Sequence[Board], wait_s: float
    ) -> tuple[dict[str, Board], dict[str, str]]:
        """Reserve and acquire every board's place, waiting up to `wait_s` for busy ones.
        Returns ({board: board reached through its place}, {board: why not})."""
        reached: dict[str, Board] = {}
        busy: dict[str, str] = {}
        places = self.coordinator.places()
        wanted: dict[str, Board] = {}
        for board in boards:
            assert board.place is not None
            if board.place not in places:
                busy[board.name] = (
                    f"{board.name}: no place {board.place!r} on labgrid coordinator "
                    f"{self.coordinator.address}"
                )
            else:
                wanted[board.place] = board
        tokens = {p: self.coordinator.reserve(p).token for p in sorted(wanted)}
        deadline = time.monotonic() + max(0.0, wait_s)
        watch = LeaseWatch()
        try:
            while tokens:
                places = self.coordinator.places()
                for place in sorted(tokens):
                    board = wanted[place]
                    state = self.coordinator.poll(tokens[place])
                    if state is None or state.state in ("expired", "invalid"):
                        tokens[place] = self.coordinator.reserve(place).token
                    elif state.state in ("allocated", "acquired") and state.place == place:
                        token = tokens.pop(place)
                        try:
                            reached[board.name] = self._take(board, place, token)
                        except InfrastructureError as exc:
                            busy[board.name] = exc.message
                    elif (seen := places.get(place)) and watch.expired(
                        seen, time.time(), time.monotonic()
                    ):
                        evict(self.coordinator, seen)
                if not tokens or time.monotonic() >= deadline:
                    break
                time.sleep(POLL_S)
        finally:
            for token in tokens.values():  # not ours: give the turn back
                with contextlib.suppress(InfrastructureError):
                    self.coordinator.cancel(token)
        if tokens:
            places = self.coordinator.places()
            owners = {t: r.owner for t, r in self.coordinator.reservations().items()}
            for place in tokens:
                board = wanted[place]
                waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
                busy[board.name] = (
                    f"{board.name}: labgrid place {place} busy{waited}: held by "
                    f"{describe_holder(places.get(place), owners)}"
                )
        return reached, busy

    def _take(self, board: Board, place: str, token: str) -> Board:
        """Acquire an allocated place and return the board reached through it."""
        try:
            self.coordinator.acquire(place)
        except LabgridError:
            self.coordinator.cancel(token)
            raise
        with self._lock:
            self.held.append(_Held(board, place, token))
        self._renew(place)
        if self._beat is None:  # now, not after the wait for the others: this lease must live
            self._start_heartbeat()
        endpoint = self.coordinator.endpoint(place)
        if endpoint is None or endpoint.proxy_required:
            with self._lock:
                self.held.pop()
            self._release(_Held(board, place, token))
            why = (
                "no NetworkService resource"
                if endpoint is None
                else "a NetworkService reachable only through its exporter host"
            )
            raise LabgridError(f"{board.name}: labgrid place {place} has {why}")
        return replace(board, host=endpoint.address, port=endpoint.port, user=endpoint.username)

    def _renew(self, place: str) -> None:
        lease = Lease(self.job, os.getpid(), round(self.lease_s), int(time.time()))
        self.coordinator.set_tags(place, {LEASE_TAG: lease.tag_value()})

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(max(0.2, self.lease_s / 5)):
                with self._lock:
                    places = [h.place for h in self.held]
                for place in places:
                    with contextlib.suppress(InfrastructureError):
                        self._renew(place)

        self._beat = threading.Thread(target=beat, name="labgrid lease", daemon=True)
        self._beat.start()

    def _release(self, held: _Held) -> None:
        for step in (  # cancel before release: see evict()
            lambda: self.coordinator.set_tags(held.place, {LEASE_TAG: ""}),
            lambda: self.coordinator.cancel(held.token),
            lambda: self.coordinator.release(held.place, fromuser=self.coordinator.client_name),
        ):
            with contextlib.suppress(InfrastructureError):
                step()

    def release_all(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        with self._lock:
            held, self.held = self.held, []
        for item in held:
            self._release(item)


@contextmanager
def hold_places(
    boards: Sequence[Board], *, job: str, wait_s: float = 0.0, lease_s: float | None = None
) -> Iterator[tuple[dict[str, Board], dict[str, str]]]:
    """Yields ({board name: board to use}, {board name: why it cannot be used}). Boards
    without a place pass through as they are; place boards come back with the place's SSH
    endpoint. Every place is released on the way out, however the job ends."""
    reached = {b.name: b for b in boards if not b.place}
    busy: dict[str, str] = {}
    by_address: dict[str, list[Board]] = {}
    for board in boards:
        if board.place:
            by_address.setdefault(coordinator_address(board), []).append(board)
    lease = lease_s if lease_s is not None else lease_seconds()
    with ExitStack() as stack:
        for address, group in by_address.items():
            try:
                coordinator = stack.enter_context(Coordinator(address))
            except LabgridError as exc:
                busy.update({b.name: f"{b.name}: {exc.message}" for b in group})
                continue
            holder = PlaceHolder(coordinator, job, lease)
            stack.callback(holder.release_all)
            got, failed = holder.acquire_all(group, wait_s)
            reached.update(got)
            busy.update(failed)
        yield reached, busy


@contextmanager
def reach_boards(
    boards: Sequence[Board], *, job: str, wait_s: float = 0.0, emulate: bool = False
) -> Iterator[list[Board]]:
    """All boards or nothing (`run`, `boards probe`): raises naming the busy ones. With
    `emulate` the boards are served by the emulator: no place is touched."""
    with hold_places([] if emulate else boards, job=job, wait_s=wait_s) as (reached, busy):
        if busy:
            first, *rest = busy.values()
            more = f" (and {len(rest)} more)" if rest else ""
            hint = "wait for the holder, or see docs/LAB.md (releasing a place)"
            raise InfrastructureError(first + more, hint if " busy" in first else None)
        yield [reached.get(b.name, b) for b in boards]


def sweep(address: str) -> list[str]:
    """Release every place of the coordinator whose imxbench lease expired by the clock rule
    (last renewal more than twice its lease time ago). Returns what was released."""
    freed = []
    with Coordinator(address) as coordinator:
        watch = LeaseWatch()
        now = time.time()
        for place in coordinator.places().values():
            if watch.expired(place, now, time.monotonic()):
                lease = parse_lease(place.tags.get(LEASE_TAG))
                holder = describe_holder(place, now=now)
                evict(coordinator, place)
                freed.append(f"{place.name}: released from {holder}" if lease else place.name)
    return freed
