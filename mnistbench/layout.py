"""The folders of a board's files: saved models under models/<board>/ and figures under figures/<board>/
beside a SQLite file (or under leaderboards/ for a server's database), $MNISTBENCH_ARTIFACTS/<board>/
when set; and where a run's recorded model path may lead."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from .errors import StoreError
from .schema import DEFAULT_DB


@dataclass(frozen=True)
class BoardLayout:
    url: str
    sqlite_path: Path | None  # the board's file, for a SQLite board on disk

    def key(self) -> str:
        """A folder name of this board's own, so that two boards never share a model file: a SQLite
        file's stem (beside the file, the folder is already the board's), with a digest of the file's
        full path when MNISTBENCH_ARTIFACTS gathers the models of every board in one place; else the
        database's host and name."""
        path = self.sqlite_path
        if path is not None:
            if os.environ.get("MNISTBENCH_ARTIFACTS"):
                import hashlib  # noqa: PLC0415

                return f"{path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]}"
            return path.stem
        url = make_url(self.url)
        raw = f"{url.get_backend_name()}-{url.host or 'local'}-{url.port or ''}-{url.database or 'memory'}"
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)

    def _folder(self, kind: str) -> Path:
        path = self.sqlite_path
        base = path.parent if path is not None else DEFAULT_DB.parent.absolute()
        return base / kind / self.key()

    def models(self) -> Path:
        """Where this board's saved models go: models/<board>/ beside a SQLite file, else under
        leaderboards/, or $MNISTBENCH_ARTIFACTS/<board>/. Rows record a model's path relative to it."""
        if os.environ.get("MNISTBENCH_ARTIFACTS"):
            return Path(os.environ["MNISTBENCH_ARTIFACTS"]).expanduser().absolute() / self.key()
        return self._folder("models")

    def figures(self) -> Path:
        return self._folder("figures")

    def model_file(self, run) -> Path | None:
        """The file of a run's saved model, wherever the command runs: a path recorded relative to the
        board's artifacts folder (older boards: to the board's own folder). A row's path is a stranger's
        words on a class board, so it is honoured only inside those folders (no /dev/zero, no symlink
        out of them); see artifacts.check_model_file for what is then opened."""
        if not run.model_path:
            return None
        recorded = Path(run.model_path)
        roots = [self.models()]
        path = self.sqlite_path
        if path is not None:
            roots += [path.parent, path.parent.parent]  # leaderboards/models/run-N.keras, from the repo root
        candidates = [recorded] if recorded.is_absolute() else [root / recorded for root in roots]
        for candidate in candidates:
            real = candidate.resolve()
            if not any(real.is_relative_to(root.resolve()) for root in roots):
                raise StoreError(f"run {run.id}'s model path {str(run.model_path)[:80]!r} points outside the "
                                 f"board's models folder {roots[0]}; refused")
        return next((c for c in candidates if c.exists()), candidates[0])
