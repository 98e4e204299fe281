"""Screenshots of report pages for docs/img/, taken with headless Chromium (tests/chromium_cdp.py,
the driver the page tests use).

    .venv/bin/python docs/screenshots.py PAGE.html NAME [--widths 1400,420] [--max-height PX]
        [--out DIR]

writes docs/img/NAME-<width>.png (or DIR/...) per width: the whole page (or its top
--max-height CSS px), reduced to a 256-colour palette so that each stays small (the pages are
flat colours and text: the palette costs nothing visible). How the nightly screenshots were
made (README "Screenshots"):

    for n in 1 2 3; do
        .venv/bin/imxbench nightly --board imx8mp,imx93 --emulate --reports demo
    done
    .venv/bin/imxbench nightly --board imx8mp,imx93 --emulate --reports demo --slowdown vx=25%
    .venv/bin/python docs/screenshots.py demo/<the last run id>/report.html nightly
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chromium_cdp import open_page  # noqa: E402  (the repository root first)

IMG = ROOT / "docs" / "img"
LIMIT_BYTES = 300_000


def screenshot(page: Path, width: int, max_height: int | None) -> bytes:
    """The page at `width` CSS px as a palette PNG (its top `max_height` px, if given)."""
    shown = open_page(page, width, "document.title")
    if shown.console_errors:
        raise SystemExit(f"{page}: console errors at {width} px: {shown.console_errors}")
    image = Image.open(io.BytesIO(shown.screenshot_png)).convert("RGB")
    if max_height is not None and image.height > max_height:
        image = image.crop((0, 0, image.width, max_height))
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="an HTML page (a report.html, index.html, ...)")
    parser.add_argument("name", help="docs/img/NAME-<width>.png")
    parser.add_argument("--widths", default="1400,420", help="CSS px, comma-separated")
    parser.add_argument("--max-height", type=int, help="keep the page's top PX CSS px only")
    parser.add_argument("--out", type=Path, default=IMG, help="where (default: docs/img)")
    args = parser.parse_args()
    for width in (int(w) for w in args.widths.split(",")):
        png = screenshot(args.page, width, args.max_height)
        path = args.out / f"{args.name}-{width}.png"
        path.write_bytes(png)
        over = " (over 300 kB)" if len(png) > LIMIT_BYTES else ""
        print(f"{path}: {len(png) / 1000:.0f} kB{over}")


if __name__ == "__main__":
    main()
