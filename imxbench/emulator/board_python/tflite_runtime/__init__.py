"""tflite_runtime as the emulated i.MX board ships it (imxbench emulator).

LiteRT runs the models on the host; `tflite_runtime.interpreter` adds the board's delegates
(see board.json) and pads `Interpreter.invoke()` to the emulated board's latency.
Python 3.8 syntax on purpose: this imitates a module that runs on a board.
"""


def _board_version() -> str:
    """The board's TFLite version (board.json; the BSP decides it), 2.19.0 without one."""
    import json
    import os

    path = os.environ.get("IMXBENCH_EMULATOR_BOARD_JSON") or (
        "/usr/share/imxbench-emulator/board.json"
    )
    try:
        with open(path) as stream:
            return str(json.load(stream).get("tflite_version", "2.19.0"))
    except (OSError, ValueError, AttributeError):
        return "2.19.0"


__version__ = _board_version()
__git_version__ = "imxbench-emulator"
