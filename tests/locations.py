"""Where the tests find the repository, their fixtures and the command under test."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MODELS = FIXTURES / "models"
QUANT_MODEL = MODELS / "pretrainedResnet_quant.tflite"
FLOAT_MODEL = MODELS / "pretrainedResnet.tflite"
BENCHMARK_LOGS = FIXTURES / "benchmark_model"
IMXBENCH = [sys.executable, "-m", "imxbench"]
"""The CLI, through the interpreter that runs pytest (never a hard-coded .venv path)."""
