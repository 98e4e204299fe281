"""The command line: parse options, call one library function, print. Nothing imports this.

Exit codes: 0 success; 1 a benchmark cell failed or a regression was found; 2 bad input
(a one-line message naming the file, key or value); 3 infrastructure failure; 130 Ctrl-C.
"""

import os
import signal
import sys
from importlib import import_module
from typing import Any

import click

# numpy's OpenBLAS would start a thread per core at import (~0.1 s of CPU, more with more
# cores) for linear algebra imxbench never does; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from imxbench import __version__
from imxbench.cli.output import echo
from imxbench.errors import ImxbenchError

COMMANDS = {
    "boards": "imxbench.cli.boards:boards",
    "run": "imxbench.cli.run:run",
    "report": "imxbench.cli.report:report",
    "history": "imxbench.cli.history:history",
    "compare": "imxbench.cli.history:compare",
    "baseline": "imxbench.cli.history:baseline",
    "nightly": "imxbench.cli.nightly:nightly",
    "lab": "imxbench.cli.lab:lab_group",
    "emulate": "imxbench.cli.emulate:emulate",
    "parse-log": "imxbench.cli.parse_log:parse_log_command",
}
"""Every command: its name and where it is defined ("module:attribute"), imported when used."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is used (issue 17:
    `imxbench boards` loads the boards module, not those of run, report or history).

    `--help` still loads every command (the listing shows each one's short help), and so does
    an unknown name (click's "Did you mean" looks among all the names).
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, attribute = self.lazy_commands[cmd_name].split(":")
            self.add_command(getattr(import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in self.lazy_commands:
            for name in self.lazy_commands:  # an unknown name: suggestions need them all
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="imxbench")
def cli() -> None:
    """On-device benchmarking of TFLite models on NXP i.MX boards.

    \b
    Examples:
      imxbench run --board imx8mp --emulate   # a first run, on an emulated board
      imxbench nightly --emulate              # each cell judged on its history
      imxbench run --help                     # every command: options, examples
    """


def _interrupted(exc: BaseException | None) -> None:
    partial = getattr(exc, "result", None)  # job.JobInterrupted: what finished is on disk
    if partial is not None:
        again = getattr(exc, "resume_dir", None) or partial.out_dir  # a model matrix's: its own
        click.echo(
            f"interrupted: partial results in {partial.out_dir} (resume with --resume {again})",
            err=True,
        )
    elif getattr(exc, "out_dir", None) or getattr(exc, "resume_dir", None):  # RunInterrupted
        out_dir, again = getattr(exc, "out_dir", None), getattr(exc, "resume_dir", None)
        where = f" in {out_dir}" if out_dir else ""
        click.echo(
            f"interrupted: partial results{where}"
            + (f" (resume with --resume {again})" if again else ""),
            err=True,
        )
    else:
        click.echo("interrupted", err=True)
    sys.exit(130)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt()


def main() -> None:
    """Entry point: the one place that turns errors into messages and exit codes."""
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM stops a run like Ctrl-C: nothing lost
    try:
        cli.main(standalone_mode=False, prog_name="imxbench")
    except click.exceptions.Abort as exc:  # click's wrapping of KeyboardInterrupt
        _interrupted(exc.__cause__ or exc.__context__)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ImxbenchError as exc:
        echo(f"imxbench: {exc.message}", err=True)
        if exc.hint:
            echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def entry() -> None:
    """The `imxbench` console script: main(), then a quick exit.

    Tearing the interpreter down (freeing pandas, matplotlib, SQLAlchemy... module by module)
    takes 0.1-0.2 s after a run and nothing of ours needs it: the exit handlers still run and
    the output is flushed, then os._exit. Not when another (non-daemon) thread is still alive:
    a normal exit waits for it. In-process callers (tests) call main().
    """
    import atexit
    import contextlib
    import os
    import threading

    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM right as main() ended
        code = 130
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)  # type: ignore[arg-type]
    for sig in (signal.SIGINT, signal.SIGTERM):  # all done: a late one is no traceback
        signal.signal(sig, signal.SIG_IGN)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what SystemExit("message") does
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe (`| head`): nothing left to say
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
