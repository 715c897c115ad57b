"""The web board in a real headless Chromium: the page loads without console errors, its tables hold
the board's runs, a header click sorts, a row opens the run's details, and `serve` is read-only.

Chromium is Debian's (`.ci/run` installs it); Playwright drives it. Where it is missing the browser
tests skip, unless MNISTBENCH_REQUIRE_BROWSER=1 (CI) makes that a failure. A screenshot of the page is
kept in test-artifacts/board.png.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistbench.cli import app
from mnistbench.screenshot import CHROMIUM_FLAGS
from mnistbench.store import Store
from mnistbench.webboard import html_board, params_references

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
FLAGS = CHROMIUM_FLAGS


def _board(url: str) -> dict[str, list[int]]:
    """Runs of every benchmark with learning curves; a running one and a failed one beside them."""
    store = Store(url)
    ids: dict[str, list[int]] = {"accuracy": [], "params": [], "labels": []}
    specs = [("accuracy", "fast", 0.9915, 116_962, None, 0, 37.6), ("accuracy", "fast", 0.9898, 116_962, None, 1, 41.0),
             ("accuracy", "deotte", 0.9961, 327_242, None, 0, 300.0), ("params", "shared", 0.9909, 1_936, None, 0, None),
             ("params", "tiny", 0.9851, 790, None, 0, None), ("labels", "medium", 0.9781, 207_322, 10, 0, None),
             ("labels", "medium", 0.9902, 207_322, 100, 0, None)]
    for benchmark, model, accuracy, params, labels, seed, t99 in specs:
        run_id = store.start_run(benchmark=benchmark, model=model, seed=seed, params_total=params,
                                 labels_used=labels if labels else 55_000, config={"seed": seed, "lr": 0.003},
                                 flags="test set seen </script>" if model == "tiny" else "")
        for epoch in (1, 2, 3):
            store.add_epoch(run_id, epoch=epoch, loss=1 / epoch, accuracy=0.9 + epoch / 40, val_accuracy=0.89 + epoch / 40,
                            seconds=10.0 * epoch, images_per_s=2000.0)
        store.finish_run(run_id, "finished", test_accuracy=accuracy, val_accuracy=accuracy - 0.001, train_seconds=40.0,
                         time_to_99=t99, epoch_to_99=2 if t99 else None)
        ids[benchmark].append(run_id)
    store.start_run(benchmark="accuracy", model="fast")  # still running
    failed = store.start_run(benchmark="accuracy", model="fast")
    store.finish_run(failed, "failed", error="boom")
    store.close()
    return ids


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("MNISTBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed but MNISTBENCH_REQUIRE_BROWSER=1 (apt-get install chromium)")
        pytest.skip("no chromium (Debian's package `chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


def _open(browser, address: str):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(address)
    return page, problems


def _column(page, board: str, header: str) -> list[str]:
    index = page.locator(f"#board-{board} th").all_inner_texts().index(header)
    return [row.locator("td").nth(index).inner_text() for row in page.locator(f"#board-{board} tbody tr").all()]


def test_exported_page_loads_sorts_and_opens_a_run(browser, db_url, tmp_path):
    ids = _board(db_url)
    out = tmp_path / "board.html"
    result = runner.invoke(app, ["export", "--format", "html", "-o", str(out), "--db", db_url])
    assert result.exit_code == 0, result.output
    page, problems = _open(browser, out.as_uri())

    accuracy_runs = _column(page, "accuracy", "run")
    assert sorted(int(r) for r in accuracy_runs) == sorted(ids["accuracy"])  # finished runs only
    assert _column(page, "accuracy", "test acc %") == ["99.61", "99.15", "98.98"]  # the board's order
    page.locator("#board-accuracy th", has_text="test acc %").click()
    assert _column(page, "accuracy", "test acc %") == ["98.98", "99.15", "99.61"]
    page.locator("#board-accuracy th", has_text="test acc %").click()
    assert _column(page, "accuracy", "test acc %") == ["99.61", "99.15", "98.98"]
    page.locator("#board-accuracy th", has_text="model").click()
    assert _column(page, "accuracy", "model") == ["deotte", "fast", "fast"]
    assert _column(page, "params", "params") == ["1,936", "116,962", "327,242", "790"]  # 790 misses 99 %
    assert "test set seen </script>" in page.locator("#board-params").inner_text()  # escaped, not executed

    # The pictures: one dot per finished params/accuracy run, a square per published result, a Pareto line.
    assert page.locator("#chart-params circle").count() == 5
    assert page.locator("#chart-params rect.reference").count() == len(params_references()) == 5
    assert page.locator("#chart-params polyline.pareto").count() == 1
    assert page.locator("#chart-labels circle").count() == 2
    assert page.locator("#chart-labels polyline.labels-mean").count() == 1  # one method: one mean line
    assert "medium (mean)" in page.locator("#chart-labels").inner_text()
    assert page.locator("#chart-time circle").count() == 3

    page.locator("#board-accuracy tbody tr").first.click()
    detail = page.locator("#detail")
    assert detail.is_visible()
    assert "Run" in detail.inner_text() and "deotte" in detail.inner_text()
    assert page.locator("#curve polyline.curve-validation").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
    assert problems == []


def test_a_baseline_far_below_does_not_flatten_the_labels_curve(browser, db_url, tmp_path):
    store = Store(db_url)
    for model, accuracy, labels in [("selftrain", 0.9886, 10), ("selftrain", 0.9934, 100), ("prototype", 0.5035, 10)]:
        run_id = store.start_run(benchmark="labels", model=model, labels_used=labels, params_total=10)
        store.finish_run(run_id, "finished", test_accuracy=accuracy, train_seconds=1.0)
    store.close()
    out = tmp_path / "board.html"
    assert runner.invoke(app, ["export", "--format", "html", "-o", str(out), "--db", db_url]).exit_code == 0
    page, problems = _open(browser, out.as_uri())
    chart = page.locator("#chart-labels")
    assert chart.locator("circle").count() == 3  # the baseline is drawn, on the bottom edge
    assert "1 run under 97.0 % on this edge" in chart.inner_text()
    ticks = [float(t) for t in chart.locator("g.axis text").all_text_contents() if t.replace(".", "").isdigit()]
    assert min(t for t in ticks if t > 90) >= 97  # the y axis starts at 97 %, not near the baseline's 50 %
    assert "selftrain (mean)" in chart.inner_text() and "prototype (mean)" not in chart.inner_text()
    assert problems == []


def test_an_empty_board_renders_without_errors(browser, db_url, tmp_path):
    Store(db_url).close()
    out = tmp_path / "empty.html"
    assert runner.invoke(app, ["export", "-f", "html", "-o", str(out), "--db", db_url]).exit_code == 0
    page, problems = _open(browser, out.as_uri())
    assert "no runs yet" in page.locator("#boards").inner_text()
    assert page.locator("#chart-params rect.reference").count() == len(params_references())
    # The published claims stand in tables of their own, after the boards, with no rank and no run to open.
    claims = page.locator("#board-accuracy-references")
    assert "99.91 %" in claims.inner_text() and page.locator("section.claims").count() == 3
    assert page.locator("#board-accuracy-references th", has_text="#").count() == 0
    assert problems == []


def test_serve_shows_the_live_board_and_never_writes(browser, db_url, tmp_path):
    from mnistbench.server import make_server

    ids = _board(db_url)
    path = Path(db_url.removeprefix("sqlite:///"))

    def digest() -> str:  # the file and its write-ahead log: a write would show in one of them
        wal = path.with_name(path.name + "-wal")
        return hashlib.sha256(path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).hexdigest()

    server = make_server(db_url, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        page, problems = _open(browser, address)
        assert len(_column(page, "accuracy", "run")) == len(ids["accuracy"])
        # A run recorded after the page was served appears on the next load.
        store = Store(db_url, reap=False)
        new = store.start_run(benchmark="accuracy", model="baseline")
        store.finish_run(new, "finished", test_accuracy=0.95, params_total=100)
        store.close()
        before = digest()
        page.reload()
        assert str(new) in _column(page, "accuracy", "run")
        assert problems == []
        data = json.loads(urllib.request.urlopen(address + "data.json").read())
        assert {r["status"] for r in data["runs"]} == {"finished", "running", "failed"}  # the running one not reaped
        for method in ("POST", "PUT", "DELETE"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(address, data=b"x", method=method))
            assert refused.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(address + "../../etc/passwd")
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    assert digest() == before


def test_serve_refuses_a_missing_board_and_a_taken_port_in_one_line(db_url, tmp_path):
    missing = runner.invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'nope.db'}"])
    assert missing.exit_code == 1 and missing.output.startswith("error: no leaderboard at")
    import socket

    Store(db_url).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = runner.invoke(app, ["serve", "--db", db_url, "--port", str(port)])
    assert busy.exit_code == 1 and busy.output.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert runner.invoke(app, ["serve", "--db", db_url, "--port", "70000"]).exit_code == 1


def test_export_html_to_an_unwritable_place_is_one_line(db_url, tmp_path):
    Store(db_url).close()
    result = runner.invoke(app, ["export", "-f", "html", "-o", str(tmp_path / "no" / "such" / "dir.html"), "--db", db_url])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot write") and len(result.output.strip().splitlines()) == 1


def test_the_page_data_carries_no_nan(db_url):
    store = Store(db_url)
    run_id = store.start_run(benchmark="accuracy", model="fast")
    store.add_epoch(run_id, epoch=1, loss=float("nan"), accuracy=0.5)
    store.finish_run(run_id, "finished", test_accuracy=0.5)
    page = html_board(store)
    payload = page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(payload)["runs"][0]["epochs"][0]["loss"] is None
