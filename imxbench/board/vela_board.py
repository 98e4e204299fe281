"""Vela on the board (`--vela-on board`, `vela: {compile: board}`): compile a deployed source
model with the board's own `vela` (NXP's fork, matched to its BSP: NXP_FACTS §4.1, §10) and
NXP's defaults, then fetch what it wrote (the graph, Vela's summary CSV, its console output)
for the Vela summary.

NXP's fork defaults to the i.MX 93 configuration (ethos-u65-256, its internal i.MX 93 system
config, 384 KiB arena cache: NXP_FACTS §4.2), so the command is NXP's own plain `vela MODEL`
with only `--output-dir` added. The output folder is keyed by the source's sha256 and the
board's Vela version, `<workdir>/vela/<sha16>-<version>/`: a folder with its log, graph and
summary is reused (the command prints `imxbench-vela-cached`), so a BSP update compiles anew.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path

from imxbench.board.transport import BoardSession
from imxbench.errors import InfrastructureError

VELA_DIR = "vela"
LOG_NAME = "vela.log"
CACHED_MARK = "imxbench-vela-cached"
COMPILE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class BoardCompile:
    """Where the board's Vela reads and writes, and the one command that does it."""

    source: str
    out_dir: str
    graph: str
    log: str

    @property
    def command(self) -> str:
        """One round trip: compile unless this folder has a complete result, then list it.
        Every path is shell-quoted; on failure Vela's last lines go to stderr (exit 3)."""
        q = shlex.quote
        out, graph, log = q(self.out_dir), q(self.graph), q(self.log)
        return (
            f"mkdir -p {out} && if [ -s {graph} ] && [ -s {log} ] && "
            f"ls {out}/*_summary_*.csv >/dev/null 2>&1; then echo {CACHED_MARK}; else "
            f"rm -f {out}/* && {{ vela --output-dir {out} {q(self.source)} > {log}.part 2>&1 "
            f"|| {{ tail -n 20 {log}.part >&2; exit 3; }}; }} && mv -f {log}.part {log}; fi "
            f"&& ls {out}"
        )


def compile_plan(
    workdir: str, source_remote: str, source_sha256: str, version: str
) -> BoardCompile:
    """The compile of `source_remote` (already on the board) by the board's Vela `version`."""
    stem = posixpath.splitext(posixpath.basename(source_remote))[0]
    safe_version = "".join(c if c.isalnum() or c in ".-_" else "_" for c in version)[:40]
    out = posixpath.join(workdir, VELA_DIR, f"{source_sha256[:16]}-{safe_version}")
    return BoardCompile(
        source=source_remote,
        out_dir=out,
        graph=posixpath.join(out, f"{stem}_vela.tflite"),
        log=posixpath.join(out, LOG_NAME),
    )


@dataclass(frozen=True)
class Fetched:
    """The board's compile, fetched: local copies of the graph, summary CSV and console log."""

    graph: Path
    summary_csv: Path
    log: Path
    cached: bool


def compile_on_board(session: BoardSession, plan: BoardCompile, local_dir: Path) -> Fetched:
    """Run the board's Vela (or reuse its earlier result) and fetch the three files into
    `local_dir`. InfrastructureError with Vela's last lines when it fails."""
    result = session.run(plan.command, timeout_s=COMPILE_TIMEOUT_S, check=False)
    if result.exit_status != 0:
        raise InfrastructureError(
            f"{session.board.name}: the board's vela failed to compile {plan.source} "
            f"(exit {result.exit_status})",
            result.stderr_text.strip()[-1500:] or None,
        )
    names = [line.strip() for line in result.stdout_text.splitlines() if line.strip()]
    csvs = [n for n in names if "_summary_" in n and n.endswith(".csv")]
    graph_name = posixpath.basename(plan.graph)
    if graph_name not in names or len(csvs) != 1:
        raise InfrastructureError(
            f"{session.board.name}: the board's vela wrote no {graph_name} and summary CSV "
            f"into {plan.out_dir}",
            result.stdout_text.strip()[-800:] or None,
        )
    local_dir.mkdir(parents=True, exist_ok=True)
    fetched = Fetched(
        graph=local_dir / graph_name,
        summary_csv=local_dir / csvs[0],
        log=local_dir / LOG_NAME,
        cached=CACHED_MARK in names,
    )
    session.get(plan.graph, fetched.graph)
    session.get(posixpath.join(plan.out_dir, csvs[0]), fetched.summary_csv)
    session.get(plan.log, fetched.log)
    return fetched
