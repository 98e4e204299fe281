"""The pure parts of lab boards: boards.yaml `place` entries, tag selection over places, shards,
and the lease tag that lets a dead job's place come back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imxbench.config.inventory import Board, load_inventory
from imxbench.errors import ConfigError
from imxbench.lab.labgrid_client import PlaceState
from imxbench.lab.places import LEASE_TAG, Lease, LeaseWatch, describe_holder, parse_lease
from imxbench.lab.selection import (
    boards_of_places,
    merge_boards,
    parse_shard,
    place_matches,
    shard_of,
)


def load(tmp_path: Path, text: str) -> dict[str, Board]:
    path = tmp_path / "boards.yaml"
    path.write_text(text)
    return load_inventory(path, ssh_config=tmp_path / "none").boards


def test_a_board_may_name_a_place_instead_of_a_host(tmp_path: Path) -> None:
    boards = load(
        tmp_path,
        "boards:\n  a:\n    soc: imx8mp\n    place: evk-1\n    coordinator: lab:20408\n"
        "  b:\n    soc: imx93\n    place: evk-2\n    auth: {type: agent}\n",
    )
    assert (boards["a"].place, boards["a"].coordinator, boards["a"].host) == (
        "evk-1",
        "lab:20408",
        "",
    )
    assert boards["b"].coordinator is None and boards["b"].auth.type == "agent"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("soc: imx8mp", "boards.yaml: boards.a.host: missing required key (or `place`"),
        ("soc: imx8mp\n    place: p\n    host: h", "boards.yaml: boards.a.host: not with `place`"),
        ("soc: imx8mp\n    place: p\n    port: 22", "boards.yaml: boards.a.port: not with `place`"),
        ("soc: imx8mp\n    host: h\n    coordinator: c", "boards.a.coordinator: only with `place`"),
    ],
)
def test_place_entries_are_validated(tmp_path: Path, entry: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"boards:\n  a:\n    {entry}\n")
    assert expected in info.value.message


def test_tags_match_a_tag_name_a_tag_value_or_an_exact_pair() -> None:
    tags = {"soc": "imx8mp", "nightly": "1"}
    assert place_matches(tags, "imx8mp") and place_matches(tags, "nightly")
    assert place_matches(tags, "soc=imx8mp") and not place_matches(tags, "soc=imx93")
    assert not place_matches(tags, "imx93")


def test_places_with_a_known_soc_tag_are_boards() -> None:
    places = {
        "p2": {"soc": "imx93", "lab": "nightly"},
        "p1": {"soc": "imx8mp", "lab": "nightly"},
        "power-switch": {"lab": "nightly"},  # no soc: not a board
        "p3": {"soc": "imx8mp"},  # not tagged nightly
    }
    found = boards_of_places(places, "lab:1", "nightly")
    assert [(b.name, b.soc, b.place, b.coordinator) for b in found] == [
        ("p1", "imx8mp", "p1", "lab:1"),
        ("p2", "imx93", "p2", "lab:1"),
    ]
    assert "nightly" in found[0].tags and "lab=nightly" in found[0].tags


def test_boards_yaml_entries_win_over_the_same_place_found_in_the_lab() -> None:
    listed = [Board("evk-a", "imx8mp", "", place="p1"), Board("other", "imx93", "h")]
    lab = boards_of_places({"p1": {"soc": "imx8mp"}, "p2": {"soc": "imx93"}}, "lab:1", None)
    assert [b.name for b in merge_boards(listed, lab)] == ["evk-a", "other", "p2"]
    with pytest.raises(ConfigError, match=r"has the name of a different boards\.yaml board"):
        merge_boards([Board("p2", "imx93", "h")], lab)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "1", "a/b", "-1/2"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


@given(
    names=st.sets(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=30),
    count=st.integers(1, 8),
)
def test_shards_are_disjoint_cover_everything_and_balance(names: set[str], count: int) -> None:
    boards = [Board(n, "imx8mp", "h") for n in names]
    shards = [shard_of(boards, i, count) for i in range(1, count + 1)]
    seen = [b.name for shard in shards for b in shard]
    assert sorted(seen) == sorted(names)  # every board exactly once
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    # the same selection in another order (another runner) gives the same shards
    again = [shard_of(list(reversed(boards)), i, count) for i in range(1, count + 1)]
    assert again == shards


def test_the_lease_tag_round_trips_and_fits_labgrid_tag_values() -> None:
    lease = Lease("nightly_20261121_053800_ab12", 4242, 300, 1795240000)
    value = lease.tag_value()
    assert parse_lease(value) == lease
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in value)
    assert parse_lease("someone's note") is None


def place(tags: dict[str, str], acquired: str | None = "ci/runner") -> PlaceState:
    return PlaceState("p", tags, acquired, "TOKEN", (), ())


def test_a_lease_expires_when_watched_unchanged_or_when_old_by_the_clock() -> None:
    beat = Lease("nightly_x", 1, 10, 1000).tag_value()
    watch = LeaseWatch()
    assert not watch.expired(place({LEASE_TAG: beat}), now_wall=1005, now_mono=0)
    assert not watch.expired(place({LEASE_TAG: beat}), now_wall=1014, now_mono=9)
    assert watch.expired(place({LEASE_TAG: beat}), now_wall=1015, now_mono=10)
    renewed = Lease("nightly_x", 1, 10, 1012).tag_value()
    assert not watch.expired(place({LEASE_TAG: renewed}), now_wall=1016, now_mono=11)
    # a fresh observer trusts the holder's clock only up to twice the lease
    assert not LeaseWatch().expired(place({LEASE_TAG: beat}), now_wall=1020, now_mono=0)
    assert LeaseWatch().expired(place({LEASE_TAG: beat}), now_wall=1021, now_mono=0)
    # no imxbench lease (a person with labgrid-client), or not acquired: never taken over
    assert not LeaseWatch().expired(place({}), now_wall=10**10, now_mono=10**6)
    assert not LeaseWatch().expired(place({LEASE_TAG: beat}, None), now_wall=10**10, now_mono=0)


def test_the_holder_is_named_with_its_imxbench_job() -> None:
    beat = Lease("nightly_20261121_053800_ab12", 77, 300, 1000).tag_value()
    assert describe_holder(place({LEASE_TAG: beat}), now=1012) == (
        "ci/runner (imxbench nightly-20261121-053800-ab12 pid 77, lease renewed 12 s ago)"
    )
    assert describe_holder(place({}, acquired="bench/alice")) == "bench/alice"
    waiting = PlaceState("p", {}, None, "TOK", (), ())
    assert describe_holder(waiting, {"TOK": "ci/bob"}) == (
        "ci/bob (reservation TOK, about to acquire it)"
    )


@pytest.mark.parametrize(
    ("address", "expected"),
    [("lab:99999", "Port out of range"), ("lab:abc", "could not be cast"), (":5", "host")],
)
def test_a_malformed_coordinator_address_is_bad_input(address: str, expected: str) -> None:
    """Before: urllib's ValueError came out of labgrid as a traceback (exit 1), and the
    client's event-loop thread was already started. Now exit 2, naming the address, before
    anything connects."""
    from imxbench.lab.labgrid_client import Coordinator

    with pytest.raises(ConfigError, match=f"labgrid coordinator '{address}'.*{expected}"):
        Coordinator(address)
