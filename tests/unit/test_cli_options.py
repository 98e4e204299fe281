"""Option values a user can mistype, refused by the command line itself (exit 2, the option
named) before anything runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from imxbench.cli.main import cli
from imxbench.errors import ConfigError


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--board", "imx8mp", "--dry-run", "--timeout", "nan"],
        ["run", "--board", "imx8mp", "--dry-run", "--min-secs", "nan"],
        ["run", "--board", "imx8mp", "--dry-run", "--max-seconds", "inf"],
        ["run", "--board", "imx8mp", "--dry-run", "--cooldown-timeout", "nan"],
        ["nightly", "--dry-run", "--lock-wait", "nan"],
        ["nightly", "--dry-run", "--min-effect", "nan"],
        ["emulate", "--soc", "imx8mp", "--noise", "nan"],
    ],
)
def test_non_finite_numbers_are_refused(args: list[str]) -> None:
    """A NaN passes every bound check (it compares False): before, `--timeout nan` ran with no
    timeout at all and `--min-secs nan` wrote `NaN` (not JSON) into run.json."""
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 2, done.output
    assert f"Invalid value for '{args[-2]}'" in done.output
    assert "is not a finite number" in done.output


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["--repetitions", "3", "--precision", "2%"], "--precision is for adaptive sampling"),
        (["--repetitions", "3", "--max-seconds", "5"], "--max-seconds is for adaptive sampling"),
        (["--no-op-profile", "--op-profile", "always"], "--no-op-profile contradicts"),
    ],
)
def test_contradictory_options_are_refused_not_one_silently_ignored(
    given: list[str], expected: str
) -> None:
    """Before: `--repetitions 3 --precision 2%` ran 3 processes and dropped the precision
    asked for without a word; `--no-op-profile --op-profile always` profiled nothing."""
    done = CliRunner().invoke(cli, ["run", "--board", "imx8mp", "--dry-run", *given])
    assert isinstance(done.exception, ConfigError)  # main(): one line, exit 2
    assert expected in done.exception.message


def test_an_option_at_its_default_is_no_contradiction() -> None:
    for given in (["--repetitions", "3"], ["--no-op-profile", "--op-profile", "never"]):
        done = CliRunner().invoke(cli, ["run", "--board", "imx8mp", "--dry-run", *given])
        assert done.exit_code == 0, done.output


def test_a_board_named_twice_is_refused() -> None:
    """Before: `--board imx8mp,imx8mp` planned (and ran) two jobs on the one board at once,
    their timings disturbing each other and both writing its steps journal."""
    for command in (["run"], ["nightly"]):
        done = CliRunner().invoke(
            cli, [*command, "--board", "imx8mp, imx8mp", "--emulate", "--dry-run"]
        )
        assert isinstance(done.exception, ConfigError), done.output
        assert done.exception.message == "--board 'imx8mp, imx8mp': 'imx8mp' is named twice"
