"""The published claims shown beside the boards: complete, well-formed, and never ranked."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.references import HONESTY, load_references, references_boards
from mnistbench.store import Store


def test_every_reference_is_well_formed():
    references = load_references()
    assert {r.board for r in references} == {"accuracy", "params", "labels"}
    for r in references:
        assert r.honest in HONESTY and r.claim and r.why and r.source, r
        assert r.accuracy is None or 0 < r.accuracy <= 1, r
        assert r.recomputed_accuracy is None or (r.recomputed and 0 < r.recomputed_accuracy <= 1), r
        if r.honest == "no":  # a dishonest claim says why, and is never its own honest figure
            assert r.recomputed_accuracy is None or r.recomputed_accuracy < r.accuracy, r


def test_claims_are_shown_honest_first_and_carry_no_rank():
    accuracy = references_boards("accuracy")[0]
    honesty = [row["honest"] for row in accuracy.rows]
    assert honesty == sorted(honesty, key=HONESTY.index)
    assert all("rank" not in row for row in accuracy.rows)
    assert accuracy.rows[0]["reference"].startswith("cdeotte")  # the honest 99.745 % ensemble leads its group


def test_board_references_beside_runs_and_never_among_them(db_url):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="baseline", params_total=62_834)
    store.finish_run(run_id, "finished", test_accuracy=0.99)
    result = CliRunner().invoke(app, ["board", "accuracy", "--references", "-f", "json", "--db", db_url])
    assert result.exit_code == 0, result.stderr
    tables = json.loads(result.stdout)
    assert [row["run"] for row in tables["accuracy"]["rows"]] == [run_id]  # the runs' board: runs only
    claims = tables["accuracy-references"]["rows"]
    assert any(row["claim"].startswith("99.91") and row["honest"] == "no" for row in claims)
    plain = CliRunner().invoke(app, ["board", "accuracy", "-f", "json", "--db", db_url])
    assert "accuracy-references" not in json.loads(plain.stdout)
