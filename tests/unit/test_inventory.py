"""boards.yaml: validation errors name the file and the key path; ~/.ssh/config is honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.cli.main import cli
from imxbench.config.inventory import load_inventory
from imxbench.errors import ConfigError
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
GOOD = """
boards:
  lab8:
    soc: imx8mp
    host: evk8
    auth: {type: key, key_file: ~/.ssh/id_lab}
    tags: [nightly]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "boards.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_inventory(write(tmp_path, text), ssh_config=tmp_path / "none")
    return info.value.message


def test_shipped_inventory_loads() -> None:
    inventory = load_inventory(REPO / "boards.yaml")
    assert {b.soc for b in inventory.boards.values()} == {"imx8mp", "imx93"}
    assert all(b.host_key_policy == "strict" for b in inventory.boards.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    colour: red\n",
            "boards.yaml: boards.b.colour: unknown key",
        ),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    port: abc\n",
            "boards.yaml: boards.b.port: expected a port number 1-65535, got 'abc'",
        ),
        (
            "boards:\n  b:\n    soc: imx8mq\n    host: h\n",
            "boards.yaml: boards.b.soc: unknown value 'imx8mq'; expected one of: imx8mp, imx93",
        ),
        ("boards:\n  b:\n    soc: imx8mp\n", "boards.yaml: boards.b.host: missing required key"),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n"
            "    auth: {type: password, password: x}\n",
            "boards.yaml: boards.b.auth.password: passwords are never stored in YAML",
        ),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    auth: {type: password}\n",
            "boards.yaml: boards.b.auth.password_env: required when auth.type is password",
        ),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    tags: [ok, {x: y}]\n",
            "boards.yaml: boards.b.tags[1]: expected a non-empty string",
        ),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    workdir: relative\n",
            "boards.yaml: boards.b.workdir: must be an absolute path",
        ),
        (
            "boards:\n  b:\n    soc: imx8mp\n    host: h\n    host_key_policy: yolo\n",
            "boards.yaml: boards.b.host_key_policy: unknown value 'yolo'",
        ),
        ("boards: [1, 2]\n", "boards.yaml: boards: expected a mapping"),
        ("boards:\n  b: {soc: imx8mp, host: h\n", "boards.yaml: line"),
        ("- just a list\n", "boards.yaml: expected a mapping at the top level"),
    ],
)
def test_errors_name_file_and_key_path(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert expected.replace("boards.yaml", str(tmp_path / "boards.yaml")) in message
    assert "\n" not in message


def test_ssh_config_supplies_hostname_user_port_key_and_jump(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host evk8\n  HostName 10.9.8.7\n  User builder\n  Port 2222\n"
        "  IdentityFile ~/.ssh/id_other\n  ProxyJump gate@bastion:2200\n"
    )
    board = load_inventory(write(tmp_path, GOOD), ssh_config=config).get("lab8")
    assert (board.host, board.user, board.port) == ("10.9.8.7", "builder", 2222)
    assert board.proxy_jump == "gate@bastion:2200"
    assert board.auth.key_file == "~/.ssh/id_lab"  # boards.yaml wins over IdentityFile


def test_ssh_config_match_exec_runs_its_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """paramiko is imported without invoke (ssh_import.py); a `Match exec` still works."""
    stdin = (tmp_path / "stdin").open("w+")  # invoke reads stdin, which pytest's capture refuses
    monkeypatch.setattr("sys.stdin", stdin)
    config = tmp_path / "ssh_config"
    marker = tmp_path / "exec-ran"
    config.write_text(
        f'Match exec "touch {marker}"\n  User from-match\n'
        'Match exec "false"\n  Port 2299\n'
    )
    board = load_inventory(write(tmp_path, GOOD), ssh_config=config).get("lab8")
    assert marker.exists()
    assert (board.user, board.port) == ("from-match", 22)


def test_keepalive_from_yaml_or_ssh_config_server_alive_interval(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host evk8\n  ServerAliveInterval 7\n")
    board = load_inventory(write(tmp_path, GOOD), ssh_config=config).get("lab8")
    assert board.keepalive_s == 7.0
    board = load_inventory(write(tmp_path, GOOD), ssh_config=tmp_path / "none").get("lab8")
    assert board.keepalive_s == 15.0
    text = GOOD.replace("    tags: [nightly]\n", "    tags: [nightly]\n    keepalive_s: 2.5\n")
    board = load_inventory(write(tmp_path, text), ssh_config=config).get("lab8")
    assert board.keepalive_s == 2.5  # boards.yaml wins
    assert "keepalive_s: expected" in error_of(tmp_path, text.replace("2.5", "-1"))


def test_cpu_governor_key_is_validated(tmp_path: Path) -> None:
    """boards.yaml `cpu_governor`: the --cpu-governor of every run on that board."""
    board = load_inventory(write(tmp_path, GOOD), ssh_config=tmp_path / "none").get("lab8")
    assert board.cpu_governor is None
    text = GOOD + "    cpu_governor: performance\n"
    board = load_inventory(write(tmp_path, text), ssh_config=tmp_path / "none").get("lab8")
    assert board.cpu_governor == "performance"
    message = error_of(tmp_path, GOOD + "    cpu_governor: turbo\n")
    assert "boards.lab8.cpu_governor: unknown value 'turbo'; expected one of: performance" in (
        message
    )


def test_cli_reports_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "boards:\n  b:\n    soc: imx8mp\n    host: h\n    colour: red\n")
    result = CliRunner().invoke(cli, ["boards", "--inventory", str(path)])
    assert result.exit_code != 0
    from subprocess import run

    proc = run(
        [*IMXBENCH, "boards", "--inventory", str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode == 127:  # no venv console script: run the module instead
        pytest.skip("console script not installed")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[0].startswith(f"imxbench: {path}: boards.b.colour")
    assert "Traceback" not in proc.stderr


def test_unknown_board_is_a_config_error(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, GOOD), ssh_config=tmp_path / "none")
    with pytest.raises(ConfigError, match="no board named 'nope'; known boards: lab8"):
        inventory.get("nope")


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "boards",
                        "soc",
                        "host",
                        "port",
                        "auth",
                        "type",
                        "tags",
                        "workdir",
                        "password",
                        "x",
                    ]
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_loader_never_raises_anything_but_config_error(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    import yaml

    path = tmp_path_factory.mktemp("fuzz") / "boards.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_inventory(path, ssh_config=path.parent / "none")
    except ConfigError as exc:
        assert "\n" not in exc.message
