"""tflite_runtime as the emulated i.MX board ships it (imxbench emulator).

LiteRT runs the models on the host; `tflite_runtime.interpreter` adds the board's delegates
(see board.json) and pads `Interpreter.invoke()` to the emulated board's latency.
Python 3.8 syntax on purpose: this imitates a module that runs on a board.
"""

__version__ = "2.19.0"
__git_version__ = "imxbench-emulator"
