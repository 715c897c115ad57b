"""The `mnistbench` command line: parses options, calls one library function, prints the result.

Only typer is imported at the top: `--help`, `board`, `runs` and `show` must answer without TensorFlow,
so every library module is imported inside the command that needs it. The commands live by family in
this package; importing a family registers its commands on `app`.
"""

# ruff: noqa: I001  (the families are imported in the order `--help` lists their commands)
from __future__ import annotations

from .app import app
from . import training, boards, runs, transfer, reference, data, db  # noqa: F401  (registers the commands)

__all__ = ["app", "main"]


def main():  # the console script, and `python -m mnistbench`, whose usage lines would read "python -m ..."
    from ..guard import guarded  # noqa: PLC0415

    guarded(lambda: app(prog_name="mnistbench"))
