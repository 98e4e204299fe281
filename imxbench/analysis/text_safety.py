"""Pure: text from a board made safe for each sink it reaches.

Board output (stderr tails, error messages, delegate names) may hold any byte. Each sink gets
the one filter it needs, applied where it writes:

* terminal_safe -- the terminal (tables, progress lines, parse-log, Markdown): C0 and C1 control
  characters removed except newline and tab; an escape sequence (CSI `ESC [ ... final`, OSC
  `ESC ] ... BEL/ST`, and the other ESC forms) removed whole, so nothing can move the cursor,
  retitle the window, or hide text.
* xml_safe -- XML 1.0 (junit.xml): the characters XML 1.0 forbids removed (C0 controls but tab,
  newline, carriage return; surrogates; U+FFFE, U+FFFF). ElementTree escapes `<&>"` itself.
* csv_safe_cell / csv_safe_table -- spreadsheets (results.csv, `run --format csv`): a text cell
  starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'` (OWASP's advice
  against CSV formula injection). Numbers are left alone.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# ESC sequences first (CSI with parameters, OSC/DCS/APC/PM/SOS strings up to BEL or ST, and
# the two-character forms), then any C0 or C1 control left except tab and newline. C1 controls
# (U+0080-U+009F) include the 8-bit CSI (U+009B) that some terminals obey.
@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(escapes, controls, not-XML), compiled on first use: `imxbench --help` never pays."""
    escapes = re.compile(
        r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI ... final byte
        r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\Z)"  # OSC, DCS, SOS, PM, APC ... BEL or ST
        r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
        r"|[\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|\Z)"  # 8-bit DCS, SOS, OSC, PM, APC ... ST
        r"|\x1b[ -/]*[0-~]?",  # other ESC forms (ESC c, ESC ( B, ...), or a lone ESC
        re.DOTALL,
    )
    controls = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    not_xml = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    return escapes, controls, not_xml


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(text: str) -> str:
    """`text` without escape sequences and control characters (newline and tab kept)."""
    if text.isprintable():
        return text  # the common case, and cheap
    escapes, controls, _ = _patterns()
    return controls.sub("", escapes.sub("", text))


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold."""
    return _patterns()[2].sub("", text)


def csv_safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, quoted with a leading `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` with every text cell passed through csv_safe_cell."""
    from pandas.api.types import is_numeric_dtype

    out = table.copy()
    for column in out.columns:
        if not is_numeric_dtype(out[column].dtype):
            out[column] = out[column].map(csv_safe_cell).astype(out[column].dtype)
    return out
