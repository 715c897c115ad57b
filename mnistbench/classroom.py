"""A class board on PostgreSQL: one login role per student, a lecturer, a read-only role for `serve`,
and row-level security that keeps students out of each other's rows.

    students      may read every run, insert runs (and their epochs) as themselves, and update only their
                  own; they may not delete. The database enforces it: `owner` must equal current_user.
    lecturer      may read, verify, flag and delete any run.
    reader        may only read (for `mnistbench serve` and exports).

Roles are created idempotently; rerunning with more students adds them. Passwords are generated once
and written with the connection URLs to a credentials file only the lecturer can read.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .errors import ConfigError, StoreError
from .schema import VERSION_TABLE

STUDENT, LECTURER, READER = "mnistbench_student", "mnistbench_lecturer", "mnistbench_reader"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # plain PostgreSQL identifiers: no quoting games


@dataclass
class Login:
    role: str
    kind: str  # student | lecturer | reader
    url: str  # with its password
    created: bool


def read_students(path: str | Path) -> list[str]:
    """One student per line (blank lines and # comments skipped), lower-case PostgreSQL identifiers."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the students file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    names = [line.split("#", 1)[0].strip() for line in lines]
    names = [n for n in names if n]
    bad = [n for n in names if not ROLE_NAME.match(n) or n.startswith("pg_") or n.startswith("mnistbench_")]
    if bad:
        raise ConfigError(f"{path}: {bad[0]!r} is not a usable role name (lower-case letters, digits and _, "
                          "starting with a letter, at most 63 characters)")
    if not names:
        raise ConfigError(f"{path} names no students")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{path} names {twice!r} twice")
    return names


def _policies() -> list[str]:
    own = "owner = current_user"
    own_run = f"EXISTS (SELECT 1 FROM runs r WHERE r.id = run_id AND r.{own})"
    return [
        "ALTER TABLE runs ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE epochs ENABLE ROW LEVEL SECURITY",
        *(f"DROP POLICY IF EXISTS {name} ON {table}" for table in ("runs", "epochs")
          for name in ("read_all", "student_insert", "student_update", "lecturer_all")),
        f"CREATE POLICY read_all ON runs FOR SELECT TO {STUDENT}, {LECTURER}, {READER} USING (true)",
        f"CREATE POLICY student_insert ON runs FOR INSERT TO {STUDENT} WITH CHECK ({own})",
        f"CREATE POLICY student_update ON runs FOR UPDATE TO {STUDENT} USING ({own}) WITH CHECK ({own})",
        f"CREATE POLICY lecturer_all ON runs FOR ALL TO {LECTURER} USING (true) WITH CHECK (true)",
        f"CREATE POLICY read_all ON epochs FOR SELECT TO {STUDENT}, {LECTURER}, {READER} USING (true)",
        f"CREATE POLICY student_insert ON epochs FOR INSERT TO {STUDENT} WITH CHECK ({own_run})",
        f"CREATE POLICY student_update ON epochs FOR UPDATE TO {STUDENT} USING ({own_run}) WITH CHECK ({own_run})",
        f"CREATE POLICY lecturer_all ON epochs FOR ALL TO {LECTURER} USING (true) WITH CHECK (true)",
    ]


# A student may not choose a run's id (one who picks ids can pre-claim classmates' next ones): the
# column is left out of their INSERT and UPDATE privileges, and the sequence gives it.
STUDENT_DENIED = ("id",)
# Nor set the verdict of `verify`: SQLAlchemy names every column in its INSERT, so a column privilege
# would refuse the tool's own inserts; a trigger refuses a student's value instead.
LECTURER_ONLY_TRIGGER = [
    f"""CREATE OR REPLACE FUNCTION mnistbench_lecturer_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid
                 JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = '{STUDENT}' AND m.rolname = current_user)
  THEN RETURN NEW; END IF;
  IF (TG_OP = 'INSERT' AND (NEW.verification IS NOT NULL OR NEW.verification_note IS NOT NULL))
     OR (TG_OP = 'UPDATE' AND (NEW.verification IS DISTINCT FROM OLD.verification
                               OR NEW.verification_note IS DISTINCT FROM OLD.verification_note)) THEN
    RAISE EXCEPTION 'permission denied: only the lecturer sets a run''s verification' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS runs_lecturer_only ON runs",
    "CREATE TRIGGER runs_lecturer_only BEFORE INSERT OR UPDATE ON runs FOR EACH ROW "
    "EXECUTE FUNCTION mnistbench_lecturer_only()",
]
# A model file lies inside the board's models folder: a row may not point the lecturer's commands at
# /dev/zero or at any other file of the lecturer's machine.
MODEL_PATH_INSIDE = ("model_path IS NULL OR (model_path NOT LIKE '/%' AND model_path NOT LIKE '%..%' "
                     "AND model_path NOT LIKE '%\\%' AND model_path NOT LIKE '~%')")


def _grants(database: str) -> list[str]:
    from .store import RUN_COLUMNS  # noqa: PLC0415

    everyone = f"{STUDENT}, {LECTURER}, {READER}"
    student_columns = ", ".join(c for c in RUN_COLUMNS if c not in STUDENT_DENIED)
    return [
        f"REVOKE ALL ON runs, epochs, {VERSION_TABLE} FROM PUBLIC",
        f"REVOKE INSERT, UPDATE ON runs FROM {STUDENT}",  # a table-wide grant would outweigh the columns
        f"GRANT CONNECT ON DATABASE \"{database}\" TO {everyone}",
        f"GRANT USAGE ON SCHEMA public TO {everyone}",
        f"GRANT SELECT ON runs, epochs, {VERSION_TABLE} TO {everyone}",
        f"GRANT INSERT ({student_columns}), UPDATE ({student_columns}) ON runs TO {STUDENT}",
        f"GRANT INSERT, UPDATE ON epochs TO {STUDENT}",
        "ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_model_path_inside",
        f"ALTER TABLE runs ADD CONSTRAINT runs_model_path_inside CHECK ({MODEL_PATH_INSIDE}) NOT VALID",
        *LECTURER_ONLY_TRIGGER,
        f"GRANT INSERT, UPDATE, DELETE ON runs, epochs TO {LECTURER}",
        f"GRANT USAGE ON SEQUENCE runs_id_seq TO {STUDENT}, {LECTURER}",
    ]


def _ensure_role(conn, name: str, *, login: bool, member_of: str | None = None) -> tuple[str | None, bool]:
    """Create the role if missing; (password set now or None, created)."""
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first() is not None
    password = None
    if not exists:
        if login:
            password = secrets.token_urlsafe(12)
            conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"))  # token_urlsafe: no quotes
        else:
            conn.execute(text(f"CREATE ROLE {name} NOLOGIN"))
    if member_of:
        conn.execute(text(f"GRANT {member_of} TO {name}"))
    return password, not exists


def _refuse_names(conn, names: list[str]) -> None:
    """Names that would fail half-way or hand a stranger's role to the class: a PostgreSQL key word
    (`user`, `select`), or a role that exists already without being one of this class's (`postgres`)."""
    keywords = {r[0] for r in conn.execute(text("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'"))}
    for name in names:
        if name in keywords:
            raise ConfigError(f"{name!r} is a PostgreSQL key word; choose another role name")
    ours = {r[0] for r in conn.execute(text(
        "SELECT m.rolname FROM pg_roles m JOIN pg_auth_members a ON a.member = m.oid "
        "JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname IN (:s, :l, :r) AND NOT m.rolsuper"),
        {"s": STUDENT, "l": LECTURER, "r": READER})}
    existing = {r[0] for r in conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
                                           {"n": list(names)})}
    strangers = sorted(existing - ours)
    if strangers:
        raise ConfigError(f"the role {strangers[0]!r} exists already and is not one of this class's; "
                          "choose another name (a class role must not be an administrator's or another's login)")


def setup_class(admin_url: str, students: list[str], *, lecturer: str = "lecturer",
                reader: str = "board_reader") -> list[Login]:
    """Create the roles and policies on the board at `admin_url` (a role that owns the tables or is a
    superuser); returns every login with its URL (a password only for roles created now)."""
    from .store import Store  # noqa: PLC0415  (creates or migrates the schema first)

    url = make_url(admin_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError("setup-class needs a PostgreSQL board (row-level security); got "
                          f"{url.get_backend_name()}")
    for name in (lecturer, reader):
        if not ROLE_NAME.match(name) or name in students:
            raise ConfigError(f"{name!r} is not a usable role name, or a student has it")
    Store(admin_url, reap=False).close()
    engine = create_engine(url)
    logins = []
    try:
        with engine.begin() as conn:
            _refuse_names(conn, [*students, lecturer, reader])
            for group in (STUDENT, LECTURER, READER):
                _ensure_role(conn, group, login=False)
            for statement in _grants(url.database or "postgres") + _policies():
                conn.execute(text(statement))
            members = [(name, "student", STUDENT) for name in students]
            members += [(lecturer, "lecturer", LECTURER), (reader, "reader", READER)]
            for name, kind, group in members:
                password, created = _ensure_role(conn, name, login=True, member_of=group)
                login_url = url.set(username=name, password=password)
                logins.append(Login(name, kind, login_url.render_as_string(hide_password=False) if password
                                    else login_url.set(password=None).render_as_string(), created))
    except SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"setting up the class on {url.render_as_string(hide_password=True)} failed: {message}") from None
    finally:
        engine.dispose()
    return logins


def write_credentials(logins: list[Login], path: str | Path) -> Path:
    """role,kind,url lines, readable by the file's owner only; existing roles keep their old passwords,
    so their lines from an earlier file are kept."""
    import csv  # noqa: PLC0415
    import os  # noqa: PLC0415

    path = Path(path)
    if path.is_symlink():
        raise ConfigError(f"the credentials file {path} is a symbolic link; give a plain file (it will hold passwords)")
    old = {}
    if path.exists():
        with path.open() as f:
            old = {row["role"]: row for row in csv.DictReader(f)}
    rows = {**old, **{login.role: {"role": login.role, "kind": login.kind, "url": login.url}
                      for login in logins if login.created or login.role not in old}}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)  # the mode of open() applies only to a file it creates
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["role", "kind", "url"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows.values())
    except OSError as exc:
        raise ConfigError(f"cannot write the credentials file {path}: {exc.strerror}") from None
    return path
