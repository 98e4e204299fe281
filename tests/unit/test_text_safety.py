"""Board output at each sink: the terminal, junit.xml, the Markdown summary, CSV (issue 15)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from imxbench.analysis.regression import CellVerdict, LatencyVerdict
from imxbench.analysis.results import csv_safe
from imxbench.analysis.text_safety import csv_safe_cell, terminal_safe, xml_safe
from imxbench.cli.progress_display import ProgressDisplay
from imxbench.model.progress import ProgressEvent
from imxbench.report.nightly_formats import NightContext, render_junit, render_markdown

HOSTILE = (
    "Segfault\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"
    "\x00\x07\x08\rhidden\x9b31m\x1bc end\ttab\nnext"
)


def assert_terminal_clean(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text
    controls = [c for c in text if (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) and c not in "\n\t"]
    assert not controls, repr(text)


def test_terminal_safe_removes_sequences_and_controls_keeps_newline_and_tab() -> None:
    out = terminal_safe(HOSTILE)
    assert_terminal_clean(out)
    assert out.startswith("Segfault") and out.endswith(" end\ttab\nnext")
    assert "pwned" not in out and "http://evil" not in out  # OSC strings removed whole
    assert terminal_safe("plain text, ünïcode ✓") == "plain text, ünïcode ✓"


@given(st.text())
def test_terminal_safe_never_leaves_a_control(text: str) -> None:
    assert_terminal_clean(terminal_safe(text))


@given(st.text())
def test_xml_safe_always_parses(text: str) -> None:
    element = ET.Element("e", attr=xml_safe(text))
    element.text = xml_safe(text)
    ET.fromstring(ET.tostring(element, encoding="unicode"))


def test_csv_cells_that_start_a_formula_are_quoted() -> None:
    for bad in ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe_cell(bad) == "'" + bad
    assert csv_safe_cell("cpu") == "cpu"
    assert csv_safe_cell(-3.5) == -3.5  # numbers stay numbers
    table = pd.DataFrame(
        {"board": ['=HYPERLINK("http://x")', "b"], "inference_avg_us": [-1.0, 2.0]}
    )
    out = csv_safe(table)
    assert out["board"].tolist() == ['\'=HYPERLINK("http://x")', "b"]
    assert out["inference_avg_us"].tolist() == [-1.0, 2.0]
    assert table["board"][0].startswith("=")  # the run's own table is not changed
    assert out.to_csv(index=False).splitlines()[1].startswith("\"'=HYPERLINK")


def _night(errors: dict[str, str]) -> NightContext:
    return NightContext(
        run_id="r1",
        started_at="2026-01-01T00:00:00Z",
        model="m.tflite",
        model_sha256="0" * 64,
        policy="window:5",
        alpha=0.01,
        min_effect=0.05,
        board_errors=errors,
        boards=["evk", "evk2"],
    )


def test_junit_with_board_output_is_well_formed_xml_and_markdown_is_clean() -> None:
    verdict = CellVerdict(
        board="evk",
        cell="vx",
        delegate="vx",
        latency=LatencyVerdict("failed", detail=f"benchmark failed: {HOSTILE}\ud800\ufffe"),
    )
    night = _night({"evk2": f"lab: {HOSTILE}"})
    xml = render_junit([verdict], night)
    root = ET.fromstring(xml.split("\n", 1)[1])  # raised ParseError before issue 15
    messages = [e.get("message", "") for e in root.iter() if e.get("message")]
    assert any("Segfault" in m for m in messages)
    markdown = render_markdown([verdict], night)
    assert_terminal_clean(markdown)
    assert "Segfault" in markdown


def test_progress_lines_carry_no_escape_sequence() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream=stream, live=False)
    event = ProgressEvent(
        board="evk\x1b]0;x\x07", kind="board", cell="cpu", message=f"failed: {HOSTILE}"
    )
    display(event)
    live = ProgressDisplay(stream=stream, live=True)
    live(
        ProgressEvent(
            board="evk", kind="step_started", cell="c\x1b[31m", step="cold", message="started"
        )
    )
    live.close()
    display.close()
    written = stream.getvalue().replace("\r\x1b[K", "")  # the bar's own erase: ours
    assert_terminal_clean(written)
    assert "failed: Segfault" in written and "c cold" in written
