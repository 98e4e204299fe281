"""A night's verdicts as a JUnit XML file (for CI) and a Markdown summary (for people). Pure:
text in, text out; nightly.py writes the files, named in the registry (report/formats.py
NIGHT_FORMATS: junit, summary).

JUnit: one testsuite per board, one testcase per cell. regressed -> <failure>; failed (the
benchmark did not run) -> <error>; a board that could not be used (unreachable, busy) -> an
<error> testcase named `board`; inconclusive, missing, no baseline (nothing compared) and
skipped (the delegate cannot run the model: never judged) -> <skipped> with the reason;
unchanged and improved pass (their detail in <system-out>).

Board output reaches both: the XML holds only characters XML 1.0 allows (xml_safe), the Markdown
(read in a terminal as often as in a browser) no escape sequence or control character.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from imxbench.analysis.regression import SEVERITY, CellVerdict
from imxbench.analysis.text_safety import terminal_safe, xml_safe


@dataclass(frozen=True)
class NightContext:
    """What the reports say about the night besides the verdicts."""

    run_id: str
    started_at: str
    model: str
    model_sha256: str
    policy: str
    alpha: float
    min_effect: float
    board_errors: Mapping[str, str]
    boards: Sequence[str]
    emulated: bool = False


@dataclass(frozen=True)
class NightVerdicts:
    """What a night's formats are drawn from: its verdicts and what they say besides."""

    verdicts: Sequence[CellVerdict]
    context: NightContext


COMPARED = ("regressed", "improved", "unchanged", "inconclusive")
"""Latency verdicts that come from comparing with a baseline."""


def outcome(verdicts: Sequence[CellVerdict], board_errors: Mapping[str, str]) -> str:
    """REGRESSION | INFRASTRUCTURE FAILURE | NO BASELINE | CLEAN (exit codes 1, 3, 0, 0).
    NO BASELINE: no cell was compared (every cell's series is new): nothing is known clean."""
    if any(v.verdict in ("regressed", "failed") for v in verdicts):
        return "REGRESSION"
    if board_errors:
        return "INFRASTRUCTURE FAILURE"
    compared = any(v.latency.verdict in COMPARED for v in verdicts)
    if not compared and any(v.verdict == "no baseline" for v in verdicts):
        return "NO BASELINE"
    return "CLEAN"


def headline(verdicts: Sequence[CellVerdict], board_errors: Mapping[str, str]) -> str:
    """The outcome, saying how many cells were not compared for want of a baseline."""
    said = outcome(verdicts, board_errors)
    new = sum(v.verdict == "no baseline" for v in verdicts)
    skipped = sum(v.verdict == "skipped" for v in verdicts)
    skip_note = (
        f"{skipped} cell{'s' if skipped > 1 else ''} skipped: the delegate cannot run the model"
    )
    if said == "NO BASELINE":
        also = f"; {skip_note}" if skipped else ""
        return f"{said} (nothing compared: no earlier night of these {new} series{also})"
    notes = []
    if inconclusive := sum(v.verdict == "inconclusive" for v in verdicts):
        notes.append(f"{inconclusive} inconclusive: too noisy to tell")
    if new:
        notes.append(f"{new} cell{'s' if new > 1 else ''} with no baseline: not compared")
    if skipped:
        notes.append(skip_note)
    return f"{said} ({'; '.join(notes)})" if notes else said


def render_markdown(verdicts: Sequence[CellVerdict], night: NightContext) -> str:
    counts = Counter(v.verdict for v in verdicts)
    tally = ", ".join(f"{n} {name}" for name, n in sorted(counts.items(), key=_by_severity))
    lines = [
        f"# imxbench nightly {night.run_id}: {headline(verdicts, night.board_errors)}",
        "",
        f"{tally or 'no cells'}. Model `{night.model}` (sha256 {night.model_sha256[:12]}), "
        f"baseline {night.policy}, false alarms <= {100 * night.alpha:g}% per cell-night, "
        f"minimum effect {100 * night.min_effect:g}%. Started {night.started_at}.",
        "",
        "CI: the change's confidence interval (two-sided, twice the regressed test's one-sided "
        f"alpha); unchanged: its 90% interval lies within +-{100 * night.min_effect:g}%.",
    ]
    if night.emulated:
        lines += ["", "EMULATED boards: timings come from the emulator's cost model."]
    lines += [
        "",
        "| board | delegate | verdict | baseline | tonight | change | CI | p | detail |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in sorted(verdicts, key=lambda v: (-SEVERITY[v.verdict], v.board, v.cell)):
        lat = v.latency
        name = f"**{v.verdict}**" if v.verdict in ("regressed", "failed") else v.verdict
        ci = f"{_pct(lat.ci[0])}..{_pct(lat.ci[1])}" if lat.ci else "-"
        lines.append(
            f"| {v.board} | {v.cell} | {name} | {_ms(v.baseline_latency_us)} | "
            f"{_ms(v.current_latency_us)} | {_pct(lat.change)} | {ci} | {_p(lat.p_value)} | "
            f"{_cell_text(v.detail)} |"
        )
    lines += ["", "Boards:"]
    for board in night.boards:
        lines.append(f"- {board}: {_cell_text(night.board_errors.get(board, 'ok'))}")
    return terminal_safe("\n".join(lines) + "\n")


def render_junit(verdicts: Sequence[CellVerdict], night: NightContext) -> str:
    root = ET.Element("testsuites", name=f"imxbench nightly {night.run_id}")
    totals: Counter[str] = Counter()
    for board in night.boards:
        mine = [v for v in verdicts if v.board == board]
        suite = ET.SubElement(root, "testsuite", name=board, timestamp=night.started_at)
        props = ET.SubElement(suite, "properties")
        for key, value in (("run_id", night.run_id), ("baseline", night.policy)):
            ET.SubElement(props, "property", name=key, value=value)
        counts: Counter[str] = Counter()
        if board in night.board_errors:
            case = ET.SubElement(suite, "testcase", classname=f"imxbench.{board}", name="board")
            ET.SubElement(
                case, "error", type="infrastructure", message=night.board_errors[board]
            ).text = night.board_errors[board]
            counts.update(tests=1, errors=1)
        for v in mine:
            counts.update(_testcase(suite, board, v))
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
        totals.update(counts)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    _only_xml_characters(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite: ET.Element, board: str, v: CellVerdict) -> dict[str, int]:
    case = ET.SubElement(suite, "testcase", classname=f"imxbench.{board}", name=v.cell, time="0")
    message = f"{v.verdict}: {v.detail}"
    if v.verdict == "regressed":
        ET.SubElement(case, "failure", type="regressed", message=message).text = message
        return {"tests": 1, "failures": 1}
    if v.verdict == "failed":
        ET.SubElement(case, "error", type="failed", message=message).text = message
        return {"tests": 1, "errors": 1}
    if v.verdict in ("inconclusive", "missing", "no baseline", "skipped"):
        ET.SubElement(case, "skipped", message=message)
        return {"tests": 1, "skipped": 1}
    ET.SubElement(case, "system-out").text = message
    return {"tests": 1}


def _only_xml_characters(root: ET.Element) -> None:
    """Every text and attribute value made valid XML 1.0 (ElementTree writes control
    characters as they are: the file would not parse)."""
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        for key, value in element.attrib.items():
            element.set(key, xml_safe(value))


def _by_severity(item: tuple[str, int]) -> int:
    return -SEVERITY[item[0]]


def _ms(value_us: float | None) -> str:
    return "-" if value_us is None else f"{value_us / 1000:.3f} ms"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:+.1f}%"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
