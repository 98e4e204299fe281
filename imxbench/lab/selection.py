"""Which boards a lab job takes: by tag across boards.yaml and a labgrid coordinator's places,
and which of them one shard (`--shard i/n`) runs.

Places as boards: a place is a board when it carries a `soc` tag (imx8mp, imx93, imx95). Its
name is the place name; its SSH endpoint comes from its NetworkService when it is acquired
(lab_places.py); connection settings are the defaults (auth none, strict host keys against
~/.ssh/known_hosts); list a place in boards.yaml (`place: NAME`) to set them.

Tags: labgrid tags are key=value. `--tag imx8mp` matches a place with a tag *named* imx8mp
(any value) or a tag whose *value* is imx8mp (`soc=imx8mp`); `--tag soc=imx8mp` matches that
pair exactly. boards.yaml boards match on their `tags` list as before.

Shards: the selected boards sorted by name, board k (0-based) to shard k mod n + 1. Stable for
the same lab (inventory and places), independent of which boards are free at the moment, so n
runners with the same selection cover it exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from imxbench.config.inventory import SOCS, Board
from imxbench.errors import ConfigError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n`, 1 <= i <= n, as (i, n)."""
    match = _SHARD.match(text)
    if match is None:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 1/2")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(f"--shard {text}: I must be between 1 and N (N >= 1)")
    return index, count


def shard_of(boards: Sequence[Board], index: int, count: int) -> list[Board]:
    """The boards shard `index` of `count` runs (1-based; see the module doc)."""
    ordered = sorted(boards, key=lambda b: b.name)
    return [b for k, b in enumerate(ordered) if k % count == index - 1]


def place_matches(tags: Mapping[str, str], tag: str) -> bool:
    key, sep, value = tag.partition("=")
    if sep:
        return tags.get(key) == value
    return tag in tags or tag in tags.values()


def boards_of_places(
    places: Mapping[str, Mapping[str, str]], address: str, tag: str | None
) -> list[Board]:
    """Pure: the places (name -> tags) that are boards and match `tag` (None: all)."""
    found = []
    for name, tags in sorted(places.items()):
        soc = tags.get("soc")
        if soc not in SOCS or (tag is not None and not place_matches(tags, tag)):
            continue
        labels = {*tags, *(v for v in tags.values() if v), *(f"{k}={v}" for k, v in tags.items())}
        found.append(
            Board(
                name=name,
                soc=soc,
                host="",
                place=name,
                coordinator=address,
                tags=tuple(sorted(labels)),
            )
        )
    return found


def lab_boards(address: str, tag: str | None) -> list[Board]:
    """The boards among the places of the coordinator at `address` (see the module doc)."""
    from imxbench.lab.labgrid_client import Coordinator

    with Coordinator(address) as coordinator:
        places = coordinator.places()
    return boards_of_places({n: p.tags for n, p in places.items()}, address, tag)


def merge_boards(inventory: Sequence[Board], lab: Sequence[Board]) -> list[Board]:
    """boards.yaml's boards, then the lab's places that no boards.yaml entry already names."""
    named = {(b.coordinator, b.place) for b in inventory if b.place}  # None: $LG_COORDINATOR
    names = {b.name for b in inventory}
    out = list(inventory)
    for board in lab:
        if (board.coordinator, board.place) in named or (None, board.place) in named:
            continue
        if board.name in names:
            raise ConfigError(
                f"labgrid place {board.name!r} has the name of a different boards.yaml board",
                f"rename one of them, or give the boards.yaml entry `place: {board.name}`",
            )
        out.append(board)
    return out
