"""A connection to a labgrid coordinator: the one module that imports labgrid.

labgrid (>= 24, the gRPC coordinator) ships its client as `labgrid.remote.client.ClientSession`,
the class `labgrid-client` itself runs: a gRPC stream that keeps a live copy of every place and
resource, plus the coordinator's unary calls (AcquirePlace, ReleasePlace, CreateReservation,
PollReservation, CancelReservation, SetPlaceTags). We use exactly those: structured data instead
of scraping `labgrid-client` output, one connection instead of a process per call.

The session is asyncio; imxbench is threads. So the session lives on its own event loop in one
daemon thread, and every method here submits a coroutine to it and waits (thread-safe, and a
Ctrl-C in the caller never lands inside labgrid's loop). Snapshots are plain frozen dataclasses.
Should labgrid change this API, this file is the one to adapt.
"""

from __future__ import annotations

import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from imxbench.errors import ConfigError, InfrastructureError

DEFAULT_PORT = 20408
CALL_TIMEOUT_S = 30.0
T = TypeVar("T")


class LabgridError(InfrastructureError):
    """The coordinator refused a request or cannot be reached (the message says which)."""


@dataclass(frozen=True)
class PlaceState:
    """A place as the coordinator sees it right now."""

    name: str
    tags: Mapping[str, str]
    acquired: str | None  # the holder's labgrid client name, "host/user"
    reservation: str | None  # token of the reservation the place is allocated to
    acquired_resources: tuple[tuple[str, ...], ...]  # (exporter, group, cls, name)
    matches: tuple[tuple[str, str, str, str | None], ...]  # (exporter, group, cls, name) globs


@dataclass(frozen=True)
class ReservationState:
    token: str
    owner: str
    state: str  # waiting | allocated | acquired | expired | invalid
    place: str | None  # the allocated place


@dataclass(frozen=True)
class Endpoint:
    """A place's NetworkService: where its SSH server is."""

    address: str
    port: int
    username: str
    proxy_required: bool  # only reachable through the exporter host (not supported here)


def labgrid_version() -> str | None:
    """The installed labgrid's version, or None when labgrid is not installed."""
    try:
        from labgrid.util import labgrid_version as version
    except ImportError:
        return None
    return str(version())


class Coordinator:
    """One client session to the coordinator at `address` (HOST[:PORT]); close() when done."""

    def __init__(self, address: str, *, timeout_s: float = 10.0) -> None:
        try:
            from labgrid.remote.client import ClientSession
            from labgrid.remote.generated import labgrid_coordinator_pb2
            from labgrid.util.proxy import ProxyError, proxymanager
        except ImportError:
            raise LabgridError(
                "boards from labgrid places need labgrid",
                "pip install 'imxbench[lab]' (or pip install labgrid)",
            ) from None
        import asyncio  # here, not at import: `imxbench run` on a plain host never pays for it

        try:
            target = proxymanager.get_grpc_address(address, default_port=DEFAULT_PORT)
        except (ValueError, ProxyError) as exc:  # a port out of range or not a number, no host
            raise ConfigError(
                f"labgrid coordinator {address!r}: not HOST[:PORT] ({exc})"
            ) from None
        self.address = address
        self._pb = labgrid_coordinator_pb2
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"labgrid {address}", daemon=True
        )
        self._thread.start()

        async def start() -> Any:
            session = ClientSession(target, self._loop)
            await session.start()
            return session

        try:
            self._session = self._call(start(), timeout_s)
        except BaseException:
            self._stop_loop()
            raise
        self.client_name = f"{self._session.gethostname()}/{self._session.getuser()}"

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        import asyncio

        import grpc

        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise LabgridError(
                f"labgrid coordinator {self.address}: no answer within {timeout_s:g} s"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise LabgridError(f"labgrid coordinator {self.address}: {exc.details()}") from None
        except Exception as exc:  # labgrid's ServerError and friends
            if isinstance(exc, InfrastructureError):
                raise
            text = str(exc).removeprefix("Error: ")  # labgrid's errors prefix themselves
            raise LabgridError(f"labgrid coordinator {self.address}: {text}") from None

    async def _synced(self) -> None:
        if not await self._session.sync_with_coordinator():
            raise LabgridError(f"labgrid coordinator {self.address}: connection lost")

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def close(self) -> None:
        async def stop() -> None:
            await self._session.stop()
            await self._session.close()

        try:
            self._call(stop(), 5.0)
        except InfrastructureError:
            pass
        finally:
            self._stop_loop()

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------
    def places(self) -> dict[str, PlaceState]:
        """Every place, as of now (after a round trip, so our own changes are in)."""

        async def read() -> dict[str, PlaceState]:
            await self._synced()
            return {name: _place_state(p) for name, p in self._session.places.items()}

        return self._call(read())

    def endpoint(self, place: str) -> Endpoint | None:
        """The NetworkService of `place` (its acquired resources, else what its matches find;
        the first by resource path when there are several); None when it has none."""

        async def read() -> Endpoint | None:
            await self._synced()
            found = self._session.places.get(place)
            if found is None:
                return None
            paths = [tuple(p) for p in found.acquired_resources] or [
                (exporter, group, entry.cls, name)
                for exporter, groups in self._session.resources.items()
                for group, entries in groups.items()
                for name, entry in entries.items()
                if found.hasmatch((exporter, group, entry.cls, name))
            ]
            for exporter, group, _, name in sorted(p for p in paths if p[2] == "NetworkService"):
                entry = self._session.resources.get(exporter, {}).get(group, {}).get(name)
                if entry is None or not entry.data.get("cls"):
                    continue
                params = entry.params
                extra = params.get("extra") or {}
                return Endpoint(
                    address=str(params["address"]),
                    port=int(params.get("port") or 22),
                    username=str(params.get("username") or "root"),
                    proxy_required=bool(extra.get("proxy_required")),
                )
            return None

        return self._call(read())

    def reservations(self) -> dict[str, ReservationState]:
        async def read() -> Any:
            return await self._session.stub.GetReservations(self._pb.GetReservationsRequest())

        answer = self._call(read())
        return {r.token: _reservation_state(r) for r in answer.reservations}

    # -- changing ---------------------------------------------------------------------------
    def reserve(self, place: str, prio: float = 0.0) -> ReservationState:
        """A reservation for exactly `place` (filter name=PLACE); the coordinator allocates
        waiting reservations by priority, then age, whenever places become free."""
        pb = self._pb
        request = pb.CreateReservationRequest(
            filters={"main": pb.Reservation.Filter(filter={"name": place})}, prio=prio
        )

        async def create() -> Any:
            return await self._session.stub.CreateReservation(request)

        return _reservation_state(self._call(create()).reservation)

    def poll(self, token: str) -> ReservationState | None:
        """The reservation's state (polling also keeps it from expiring); None when gone."""

        async def poll() -> Any:
            return await self._session.stub.PollReservation(
                self._pb.PollReservationRequest(token=token)
            )

        try:
            return _reservation_state(self._call(poll()).reservation)
        except LabgridError as exc:
            if "does not exist" in exc.message:
                return None
            raise

    def cancel(self, token: str) -> None:
        """Cancel a reservation (anyone's: the coordinator does not check the owner)."""

        async def cancel() -> None:
            await self._session.stub.CancelReservation(
                self._pb.CancelReservationRequest(token=token)
            )

        try:
            self._call(cancel())
        except LabgridError as exc:
            if "does not exist" not in exc.message:
                raise

    def acquire(self, place: str) -> None:
        async def acquire() -> None:
            await self._session.stub.AcquirePlace(self._pb.AcquirePlaceRequest(placename=place))
            await self._synced()

        self._call(acquire())

    def release(self, place: str, *, fromuser: str) -> None:
        """Release `place` if `fromuser` still holds it (a no-op otherwise: never someone
        else's later acquisition)."""

        async def release() -> None:
            await self._session.stub.ReleasePlace(
                self._pb.ReleasePlaceRequest(placename=place, fromuser=fromuser)
            )
            await self._synced()

        self._call(release())

    def set_tags(self, place: str, tags: Mapping[str, str]) -> None:
        """Set (or, with an empty value, remove) tags of `place`."""

        async def set_tags() -> None:
            await self._session.stub.SetPlaceTags(
                self._pb.SetPlaceTagsRequest(placename=place, tags=dict(tags))
            )

        self._call(set_tags())


def _place_state(place: Any) -> PlaceState:
    return PlaceState(
        name=place.name,
        tags=dict(place.tags),
        acquired=place.acquired or None,
        reservation=place.reservation or None,
        acquired_resources=tuple(tuple(p) for p in place.acquired_resources),
        matches=tuple((m.exporter, m.group, m.cls, m.name) for m in place.matches),
    )


_STATES = ("waiting", "allocated", "acquired", "expired", "invalid")


def _reservation_state(pb: Any) -> ReservationState:
    allocated = dict(pb.allocations).get("main")
    return ReservationState(
        token=pb.token,
        owner=pb.owner,
        state=_STATES[pb.state] if 0 <= pb.state < len(_STATES) else str(pb.state),
        place=allocated or None,
    )
