"""The package's layers, as import contracts checked on the source: ranking and rendering read plain rows
(they import no store, no SQLAlchemy and no TensorFlow, at any depth); the library never imports the CLI.
That read commands never import TensorFlow at run time is test_cli's `test_light_commands_...`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnistbench"
# Ranking (which runs, in which order) and rendering (tables, markdown, the web page).
RANKING_AND_RENDERING = ("rules", "boards", "aggregate", "references", "render", "webboard", "schema")
HEAVY = ("tensorflow", "keras", "sqlalchemy", "alembic", "optuna", "mnistbench.store", "mnistbench.backend")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, as absolute names."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                # `from . import models` imports the submodule
                found |= {f"{module}.{alias.name}" for alias in node.names} | {module}
            else:
                found.add(node.module)
    return found


GRAPH = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for name in GRAPH.get(todo.pop(), ()):
            if name not in seen:
                seen.add(name)
                if name in GRAPH:
                    todo.append(name)
    return seen


@pytest.mark.parametrize("module", RANKING_AND_RENDERING)
def test_ranking_and_rendering_import_no_store_and_no_tensorflow(module):
    reached = _reach(f"mnistbench.{module}")
    heavy = sorted(n for n in reached if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert not heavy, f"mnistbench.{module} reaches {heavy}"


def test_the_library_never_imports_the_cli():
    for module, imported in GRAPH.items():
        if module.startswith("mnistbench.cli") or module in ("mnistbench.guard", "mnistbench.__main__"):
            continue
        assert not {n for n in imported if n == "mnistbench.cli" or n.startswith("mnistbench.cli.")}, module


def test_the_check_sees_imports_at_any_depth():
    """A contract that cannot fail proves nothing: the checker finds TensorFlow behind training (a
    function-level import two modules down) and the store behind the CLI."""
    assert "mnistbench.backend" in _reach("mnistbench.training")
    assert "sqlalchemy" in _reach("mnistbench.store") and "mnistbench.store" in _reach("mnistbench.cli")
    assert "mnistbench.backend" in _reach("mnistbench.artifacts")  # imported inside weights_only


def _keras_fit_calls(path: Path) -> list[int]:
    """Lines that compile a Keras model or fit one for epochs (scikit-learn's `.fit(features)` aside)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            keywords = {k.arg for k in node.keywords}
            if node.func.attr == "compile" and keywords & {"optimizer", "loss"}:
                lines.append(node.lineno)
            elif node.func.attr == "fit" and keywords & {"epochs", "callbacks", "validation_data"}:
                lines.append(node.lineno)
    return lines


def test_every_keras_fit_goes_through_the_one_fit_path():
    elsewhere = {str(p.relative_to(PACKAGE)): lines for p in PACKAGE.rglob("*.py")
                 if p.name != "fitting.py" and (lines := _keras_fit_calls(p))}
    assert not elsewhere, f"compile/fit outside mnistbench/fitting.py: {elsewhere}"
    assert _keras_fit_calls(PACKAGE / "fitting.py"), "the checker no longer sees fitting.py's own calls"


def test_only_the_run_lifecycle_inserts_or_ends_runs():
    writers = ("start_run", "finish_run", "record_finished")
    elsewhere = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("recording.py", "store.py"):
            continue
        calls = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in writers]
        if calls:
            elsewhere[str(path.relative_to(PACKAGE))] = calls
    assert not elsewhere, f"run rows written outside mnistbench/recording.py: {elsewhere}"
