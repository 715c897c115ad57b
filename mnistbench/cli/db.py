"""The database: `db upgrade`, `db setup-class`, `db check`."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import DbOption, db_app, fail, friendly, make_console, open_store


@db_app.command("upgrade")
@friendly
def db_upgrade(db: DbOption = None):
    """Migrate the leaderboard's schema to this version of mnistbench (SQLite does this by itself)."""
    from ..store import SCHEMA_REVISION, Store  # noqa: PLC0415

    store = Store(db, upgrade=True)
    before = store.revision_before or "empty"
    if before == SCHEMA_REVISION:
        make_console().print(f"the leaderboard is already at schema revision {SCHEMA_REVISION}")
    else:
        make_console().print(f"migrated the leaderboard from {before} to schema revision {SCHEMA_REVISION}")


@db_app.command("setup-class")
@friendly
def db_setup_class(
    students: Annotated[str, typer.Option(help="A file with one student name per line (PostgreSQL role names).")],
    db: DbOption = None,
    lecturer: Annotated[str, typer.Option(help="The lecturer's role.")] = "lecturer",
    reader: Annotated[str, typer.Option(help="The read-only role, for `mnistbench serve`.")] = "board_reader",
    credentials: Annotated[str, typer.Option(help="Where the logins' URLs go (mode 600).")] = "class-credentials.csv",
):
    """Make a PostgreSQL board a class board: a role per student, a lecturer, a reader, row-level security."""
    from ..classroom import read_students, setup_class, write_credentials  # noqa: PLC0415
    from ..schema import default_url  # noqa: PLC0415

    names = read_students(students)
    logins = setup_class(db or default_url(), names, lecturer=lecturer, reader=reader)
    path = write_credentials(logins, credentials)
    created = sum(login.created for login in logins)
    make_console().print(f"class board ready: {len(names)} students, lecturer {lecturer!r}, reader {reader!r} "
                     f"({created} roles created now); their URLs are in {path} (readable by you only)")


@db_app.command("check")
@friendly
def db_check(db: DbOption = None,
             rebuild: Annotated[bool, typer.Option("--repair", help="Rebuild a damaged SQLite board from every row "
                                                  "that can still be read; the damaged file is kept beside it.")] = False):
    """Check the leaderboard's integrity (SQLite's integrity_check; a connection and a read elsewhere)."""
    from ..errors import StoreError  # noqa: PLC0415
    from ..quickread import sqlite_file  # noqa: PLC0415
    from ..schema import default_url  # noqa: PLC0415

    path = sqlite_file(db or default_url())
    console = make_console()
    if path is None:  # PostgreSQL and friends check themselves; we check that the board answers
        store = open_store(db)
        console.print(f"the leaderboard answers: {len(store.runs())} runs, integrity ok")
        return
    from ..integrity import (  # noqa: PLC0415
        foreign_message,
        missing_board_message,
        repair,  # noqa: PLC0415
        verdict,
    )

    if not path.is_file():
        raise StoreError(missing_board_message(path) or f"no leaderboard at {path}")
    foreign = foreign_message(path)
    if foreign:
        raise StoreError(foreign)
    found = verdict(path)
    if found == "ok":
        console.print(f"{path}: integrity ok")
        return
    if not rebuild:
        fail(f"{path}: integrity check: {found}; `mnistbench db check --repair` keeps every readable run")
    import sqlite3  # noqa: PLC0415

    try:
        result = repair(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot repair {path}: {exc}") from None
    kept = ", ".join(f"{n} {t}" for t, n in result.rows_kept.items())
    lost = sum(result.rows_lost.values())
    console.print(f"{path}: rebuilt with {kept} ({lost} unreadable rows lost; integrity {result.verdict_after}); "
                  f"the damaged file is kept as {result.damaged_copy}")
    if result.verdict_after != "ok":
        raise typer.Exit(1)
