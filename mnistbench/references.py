"""The published claims of each board, beside our runs but never among them.

They come from `references.json` in the package: each with its number as claimed, whether it was reached
under our protocol ("honest"), why not, and the honest figure recomputed from the authors' own logs where
one exists. Boards built here carry no rank: a claim is not a run, and nothing orders it above one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from .boards import Board, Column

HONESTY = ("yes", "partly", "no", "unverified")


@dataclass(frozen=True)
class Reference:
    board: str
    name: str
    what: str
    claim: str
    accuracy: float | None
    params: int | None
    labels: int | None
    honest: str
    why: str
    recomputed: str | None
    recomputed_accuracy: float | None
    source: str


def load_references() -> list[Reference]:
    text = resources.files("mnistbench").joinpath("references.json").read_text(encoding="utf-8")
    return [Reference(**entry) for entry in json.loads(text)["references"]]


COLUMNS = [Column("reference", "published claim"), Column("what", "what"), Column("claim", "claimed"),
           Column("honest", "honest?"), Column("recomputed", "honest recomputation"), Column("why", "why"),
           Column("source", "source")]

TITLES = {"accuracy": "Maximum accuracy", "params": "Minimum parameters", "labels": "Minimum labels"}


def references_boards(which: str | None = None) -> list[Board]:
    """One table of claims per board (or for `which`), honest ones first, then by the number claimed."""
    references = load_references()
    tables = []
    for board in (which,) if which else TITLES:
        chosen = [r for r in references if r.board == board]
        chosen.sort(key=lambda r: (HONESTY.index(r.honest), -(r.accuracy or 0)))
        rows = [{"reference": r.name, "what": r.what, "claim": r.claim, "honest": r.honest,
                 "recomputed": r.recomputed or "", "why": r.why, "source": r.source} for r in chosen]
        tables.append(Board(name=f"{board}-references", title=f"{TITLES[board]}: published claims", columns=COLUMNS,
                            rows=rows, caption="claims, not runs: never ranked; honest = the test set chose nothing "
                                               "and the figure is a mean over seeds"))
    return tables
