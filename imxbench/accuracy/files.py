"""The files an accuracy run exchanges with the board, and the per-image predictions CSV.

* the packed inputs (`accuracy-inputs.npz`): `inputs` (N, H, W, C) already preprocessed in the
  model's input dtype, `labels` (N,); written so that the same content gives the same bytes
  (the upload is content-addressed);
* evaluate.py's result (`.npz`, format 1, see board/scripts/evaluate.py): `header` (JSON),
  `top5`, `outputs`, `invoke_ns`; checked on the way in;
* `accuracy/<board>/<delegate>.csv`: one row per image, `index,id,label,top1..top5,
  reference_top1`.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imxbench.accuracy.datasets import Dataset
from imxbench.accuracy.preprocess import Preprocessing

RESULT_FORMAT = 1


@dataclass(frozen=True)
class BoardResult:
    """evaluate.py's result file, checked."""

    header: dict[str, Any]
    top_k: np.ndarray
    outputs: np.ndarray
    invoke_ns: np.ndarray


def pack_inputs(path: Path, inputs: np.ndarray, labels: np.ndarray) -> None:
    """Write `inputs` and `labels` as an .npz whose bytes depend on the content only.

    (numpy's savez stamps the current time into the zip, which would defeat the
    content-addressed upload.)
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in (("inputs", inputs), ("labels", labels)):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)


def read_board_result(path: Path, images: int, classes: int) -> BoardResult:
    """Load and check evaluate.py's result file; ValueError says what is wrong."""
    with np.load(path, allow_pickle=False) as data:
        missing = {"header", "top5", "outputs", "invoke_ns"} - set(data.files)
        if missing:
            raise ValueError(f"result file lacks {', '.join(sorted(missing))}")
        header = json.loads(str(data["header"]))
        top_k, outputs, invoke_ns = data["top5"], data["outputs"], data["invoke_ns"]
    if header.get("format") != RESULT_FORMAT:
        raise ValueError(f"result format {header.get('format')!r}, expected {RESULT_FORMAT}")
    if outputs.shape != (images, classes) or top_k.ndim != 2 or len(top_k) != images:
        raise ValueError(
            f"result holds outputs {outputs.shape} and top5 {top_k.shape} "
            f"for {images} images of {classes} classes"
        )
    if invoke_ns.shape != (images,):
        raise ValueError(f"result holds {invoke_ns.shape} invoke times for {images} images")
    return BoardResult(header, top_k.astype(np.int64), outputs.astype(np.float32), invoke_ns)


def input_mismatch(header: dict[str, Any], pre: Preprocessing) -> str | None:
    """Why the board's graph does not take the inputs as they were prepared (another dtype,
    scale or zero point than the host's model said), or None. Such inputs would be read with
    another meaning than the one they were quantized for: a wrong number, not a result."""
    given = header.get("input")
    if not isinstance(given, dict):
        return None  # an older result file: nothing to compare
    dtype, scale, zero_point = given.get("dtype"), given.get("scale"), given.get("zero_point")
    same = dtype == pre.dtype
    if same and pre.is_quantized:
        assert pre.scale is not None
        same = isinstance(scale, int | float) and math.isclose(scale, pre.scale, rel_tol=1e-6)
        same = same and zero_point == pre.zero_point
    if same:
        return None
    return (
        f"the board's graph takes {dtype} input (scale {scale}, zero point {zero_point}), "
        f"the inputs were prepared for {pre.dtype} (scale {pre.scale}, zero point "
        f"{pre.zero_point})"
    )


def write_predictions(
    path: Path, dataset: Dataset, top_k: np.ndarray, reference_top1: np.ndarray
) -> None:
    """One CSV row per image: index, id, label, the device's top-k and the reference's top-1."""
    columns = ["index", "id", "label", *(f"top{i + 1}" for i in range(top_k.shape[1]))]
    lines = [",".join([*columns, "reference_top1"])]
    for i, (image_id, label) in enumerate(zip(dataset.ids, dataset.labels, strict=True)):
        quoted = '"' + image_id.replace('"', '""') + '"'
        ranks = ",".join(str(int(c)) for c in top_k[i])
        lines.append(f"{i},{quoted},{int(label)},{ranks},{int(reference_top1[i])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
