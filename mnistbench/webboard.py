"""The board as one self-contained web page: the three boards as sortable tables, each run's details
with its learning curve, and the pictures (accuracy against parameters with the Pareto front, accuracy
against labels, time to 99 % across seeds).

The page carries its data as JSON and draws everything with its own small script into SVG: no
network, no library, so the file opens anywhere and can be mailed or put on a course page.
`mnistbench export --format html` writes it; `mnistbench serve` renders it afresh on every request.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone

from .boards import boards
from .references import references_boards
from .config import DEFAULT_TARGETS
from .schema import EPOCH_COLUMNS, run_as_dict

# Label offsets (pixels) of the published results on the parameters picture, so that close ones stay readable.
_LABEL_OFFSETS = (-10, -8, 14, 4, 6, -6)


def params_references() -> list[dict]:
    """The published parameter-board results that have a count and an accuracy, for the picture; filled
    when honest or partly so, hollow (and starred) when chosen on the test set or unverified."""
    from .references import load_references  # noqa: PLC0415

    chosen = [r for r in load_references() if r.board == "params" and r.params and r.accuracy]
    return [{"name": r.name, "label": r.name.split("/")[0].split(",")[0].split(" ")[0] + ("" if r.honest in ("yes", "partly") else "*"),
             "params": r.params, "accuracy": r.accuracy, "honest": r.honest in ("yes", "partly"),
             "dy": _LABEL_OFFSETS[i % len(_LABEL_OFFSETS)]} for i, r in enumerate(chosen)]


# Run columns the page shows in a run's details (the rest stay in exports).
DETAIL_COLUMNS = ("id", "benchmark", "model", "status", "owner", "test_accuracy", "val_accuracy", "params_total", "params_trainable",
                  "labels_used", "selection_labels_read", "flags", "verification", "model_sha256", "seed", "epochs_run",
                  "batch_size", "train_seconds", "eval_seconds", "time_to_99", "time_to_995", "device",
                  "tf_version", "keras_version", "git_commit", "host", "created_at", "error")


def _compact(details: dict, longest: int = 50) -> dict:
    """A run's details for the page: a long list (the 1,000 images a labels run chose) as its length."""
    return {k: (f"{len(v):,} items (`mnistbench show`)" if isinstance(v, list) and len(v) > longest else v)
            for k, v in details.items()}


def page_data(reader, source: str = "") -> dict:
    """Everything the page shows, as JSON-able values: the boards' rows, every run with its epochs."""
    runs = reader.runs()
    tables = boards(runs)
    epochs = reader.epochs_by_run()  # one query, not one a run: a class board has thousands
    details = []
    for run in runs:
        row = run_as_dict(run)
        details.append({**{k: row.get(k) for k in DETAIL_COLUMNS}, "config": row.get("config") or {},
                        "details": _compact(row.get("details") or {}),
                        "epochs": [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in epochs.get(run.id, [])]})
    return {
        "source": source,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "boards": [{"name": b.name, "title": b.title, "caption": b.caption,
                    "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in b.columns],
                    "rows": b.rows} for b in tables],
        "runs": details,
        "references": {"params": params_references()},
        "claims": [{"name": b.name, "title": b.title, "caption": b.caption,
                    "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in b.columns],
                    "rows": b.rows} for b in references_boards()],
        "targets": DEFAULT_TARGETS,
    }


def render_page(data: dict, title: str = "mnistbench leaderboard") -> str:
    """The HTML document; the data goes in a JSON script element with <, > and & written as JSON escapes,
    so that no value (`</script>`, `<!--<script>`, which would swallow the page's own code) is markup."""
    payload = (json.dumps(data, default=str, allow_nan=False)
               .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return (_TEMPLATE.replace("%%TITLE%%", html.escape(title))
            .replace("%%DATA%%", payload))


def html_board(reader, source: str = "", title: str = "mnistbench leaderboard") -> str:
    return render_page(json_safe(page_data(reader, source)), title)


def json_safe(value):
    """JSON has no NaN or infinity: such a value (a diverged loss) becomes null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


_TEMPLATE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%%TITLE%%</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2330; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; --good: #15803d; --warn: #b45309; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; background: #fafafa; }
  header { padding: 16px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 20px; }
  header .meta { color: var(--muted); font-size: 12px; }
  main { padding: 8px 24px 40px; max-width: 1400px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 16px 0; padding: 12px 16px; }
  h2 { font-size: 16px; margin: 4px 0 2px; }
  .caption { color: var(--muted); font-size: 12px; margin-bottom: 8px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
  th { cursor: pointer; user-select: none; background: #f3f4f6; position: sticky; top: 0; }
  th.sorted-asc::after { content: " \25B2"; font-size: 10px; } th.sorted-desc::after { content: " \25BC"; font-size: 10px; }
  td.num { text-align: right; }
  tbody tr { cursor: pointer; } tbody tr:hover { background: #eff6ff; }
  .flag { color: var(--warn); }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
  svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
  svg .axis line { stroke: #9ca3af; }
  svg .axis line.grid { stroke: #eeeeee; }
  #detail { display: none; }
  #detail.open { display: block; }
  #detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
  #detail dt { color: var(--muted); } #detail dd { margin: 0; }
  pre { background: #f3f4f6; padding: 8px; border-radius: 6px; overflow: auto; max-height: 240px; }
  .empty { color: var(--muted); font-style: italic; }
  button.close { float: right; }
</style>
</head>
<body>
<header>
  <h1>%%TITLE%%</h1>
  <div class="meta" id="meta"></div>
</header>
<main>
  <section id="detail" aria-live="polite"></section>
  <section>
    <h2>Pictures</h2>
    <div class="charts">
      <figure id="chart-params"></figure>
      <figure id="chart-labels"></figure>
      <figure id="chart-time"></figure>
    </div>
  </section>
  <div id="boards"></div>
</main>
<script id="board-data" type="application/json">%%DATA%%</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("board-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const runsById = new Map(DATA.runs.map(r => [r.id, r]));

function fmt(value, kind) {
  if (value === null || value === undefined || value === "") return kind === "text" ? "" : "\u2013";
  if (kind === "pct") return (100 * value).toFixed(2);
  if (kind === "seconds") return Number(value).toLocaleString("en", {minimumFractionDigits: 1, maximumFractionDigits: 1});
  if (kind === "int") return typeof value === "number" ? value.toLocaleString("en") : String(value);
  return String(value);
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- tables: one per board, sortable by any column -------------------------------------------------
function compare(a, b, kind) {
  const missing = v => v === null || v === undefined || v === "";
  if (missing(a) && missing(b)) return 0;
  if (missing(a)) return 1;  // empty cells last in either direction
  if (missing(b)) return -1;
  if (kind === "text") return String(a).localeCompare(String(b));
  return a - b;
}

function renderBoard(board) {
  const section = el("section", {id: "board-" + board.name});
  section.append(el("h2", {}, board.title), el("div", {class: "caption"}, board.caption));
  const columns = board.columns.filter(c => c.kind !== "text" || c.key === "model" || board.rows.some(r => r[c.key]));
  if (!board.rows.length) { section.append(el("p", {class: "empty"}, "no runs yet")); return section; }
  const table = el("table", {"data-board": board.name});
  const head = el("tr");
  columns.forEach(c => head.append(el("th", {"data-key": c.key, "data-kind": c.kind, scope: "col"},
                                       c.header + (c.kind === "pct" ? " %" : ""))));
  const thead = el("thead"); thead.append(head);
  const tbody = el("tbody");
  let rows = board.rows.slice();
  const fill = () => {
    tbody.replaceChildren(...rows.map(row => {
      const tr = el("tr", {"data-run": row.run ?? ""});
      columns.forEach(c => {
        const td = el("td", {class: c.kind === "text" ? (c.key === "flags" ? "flag" : "") : "num"}, fmt(row[c.key], c.kind));
        tr.append(td);
      });
      tr.addEventListener("click", () => { if (row.run) showRun(row.run); });
      return tr;
    }));
  };
  head.querySelectorAll("th").forEach(th => th.addEventListener("click", () => {
    const key = th.dataset.key, kind = th.dataset.kind;
    const descending = th.classList.contains("sorted-asc");
    head.querySelectorAll("th").forEach(h => h.classList.remove("sorted-asc", "sorted-desc"));
    th.classList.add(descending ? "sorted-desc" : "sorted-asc");
    rows.sort((a, b) => { const c = compare(a[key], b[key], kind); return descending && c ? -c : c; });
    fill();
  }));
  fill();
  table.append(thead, tbody);
  section.append(table);
  return section;
}

// --- charts ------------------------------------------------------------------------------------
function chart(container, title, opts) {
  const W = 460, H = opts.height || 300, m = {l: 52, r: 16, t: 24, b: 40};
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": title});
  svg.append(svgEl("text", {x: m.l, y: 14, "font-weight": "bold"}, title));
  const [x0, x1] = opts.xDomain, [y0, y1] = opts.yDomain;
  const tx = opts.logX ? v => Math.log10(v) : v => v;
  const sx = v => m.l + (tx(v) - tx(x0)) / ((tx(x1) - tx(x0)) || 1) * (W - m.l - m.r);
  const sy = v => H - m.b - (v - y0) / ((y1 - y0) || 1) * (H - m.t - m.b);
  const axis = svgEl("g", {class: "axis"});
  axis.append(svgEl("line", {x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b}),
              svgEl("line", {x1: m.l, y1: m.t, x2: m.l, y2: H - m.b}));
  for (const v of opts.xTicks) {
    axis.append(svgEl("line", {class: "grid", x1: sx(v), x2: sx(v), y1: m.t, y2: H - m.b}),
                svgEl("text", {x: sx(v), y: H - m.b + 14, "text-anchor": "middle"}, opts.xFormat(v)));
  }
  for (const v of opts.yTicks) {
    axis.append(svgEl("line", {class: "grid", x1: m.l, x2: W - m.r, y1: sy(v), y2: sy(v)}),
                svgEl("text", {x: m.l - 6, y: sy(v) + 4, "text-anchor": "end"}, opts.yFormat(v)));
  }
  axis.append(svgEl("text", {x: (W + m.l) / 2, y: H - 6, "text-anchor": "middle"}, opts.xLabel),
              svgEl("text", {x: 12, y: (H - m.b + m.t) / 2, transform: `rotate(-90 12 ${(H - m.b + m.t) / 2})`,
                             "text-anchor": "middle"}, opts.yLabel));
  svg.append(axis);
  container.replaceChildren(svg);
  return {svg, sx, sy, clampY: v => Math.max(y0, Math.min(y1, v))};
}

function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) ticks.push(10 ** e);
  return ticks;
}

function accuracyDomain(values, floor) {
  const lo = Math.min(floor, ...values), hi = Math.max(0.995, ...values);
  return [Math.floor(lo * 200) / 200, Math.min(1, Math.ceil(hi * 200) / 200)];
}

function dot(c, x, y, run, color, label) {
  const circle = svgEl("circle", {cx: c.sx(x), cy: c.sy(c.clampY(y)), r: 4, fill: color, "fill-opacity": 0.75,
                                  "data-run": run ?? ""});
  circle.append(svgEl("title", {}, label));
  if (run) { circle.style.cursor = "pointer"; circle.addEventListener("click", () => showRun(run)); }
  c.svg.append(circle);
}

function paramsChart() {
  const box = document.getElementById("chart-params");
  const runs = DATA.runs.filter(r => r.status === "finished" && r.params_total && r.test_accuracy !== null &&
                                     (r.benchmark === "params" || r.benchmark === "accuracy"));
  const refs = DATA.references.params;
  const xs = [...runs.map(r => r.params_total), ...refs.map(r => r.params)];
  const ys = [...runs.map(r => r.test_accuracy), ...refs.map(r => r.accuracy)];
  const xd = [Math.min(...xs) / 1.5, Math.max(...xs) * 1.5];
  const c = chart(box, "Test accuracy against parameters (log x)", {
    logX: true, xDomain: xd, yDomain: accuracyDomain(ys, 0.975), xTicks: logTicks(...xd).filter(v => v >= xd[0] && v <= xd[1]),
    yTicks: [0.975, 0.98, 0.985, 0.99, 0.995, 1].filter(v => v >= accuracyDomain(ys, 0.975)[0]),
    xFormat: v => v >= 1000 ? (v / 1000) + "k" : String(v), yFormat: v => (100 * v).toFixed(1),
    xLabel: "parameters", yLabel: "test accuracy %"});
  c.svg.append(svgEl("line", {x1: c.sx(xd[0]), x2: c.sx(xd[1]), y1: c.sy(0.99), y2: c.sy(0.99),
                              stroke: "#15803d", "stroke-dasharray": "4 3"}),
               svgEl("text", {x: c.sx(xd[1]) - 4, y: c.sy(0.99) - 4, "text-anchor": "end", fill: "#15803d"}, "99 %"));
  // Pareto front: no other run has fewer parameters and a higher accuracy.
  const front = runs.slice().sort((a, b) => a.params_total - b.params_total || b.test_accuracy - a.test_accuracy)
    .filter((r, i, all) => all.slice(0, i).every(o => o.test_accuracy < r.test_accuracy));
  if (front.length > 1) {
    c.svg.append(svgEl("polyline", {points: front.map(r => `${c.sx(r.params_total)},${c.sy(c.clampY(r.test_accuracy))}`).join(" "),
                                    fill: "none", stroke: "#2563eb", "stroke-width": 1.5, class: "pareto"}));
  }
  runs.forEach(r => dot(c, r.params_total, r.test_accuracy, r.id, "#2563eb",
                        `run ${r.id} ${r.model}: ${r.params_total.toLocaleString("en")} params, ${(100 * r.test_accuracy).toFixed(2)} %`));
  refs.forEach(ref => {
    const x = c.sx(ref.params), y = c.sy(c.clampY(ref.accuracy));
    const mark = svgEl("rect", {x: x - 4, y: y - 4, width: 8, height: 8, fill: ref.honest ? "#111827" : "none",
                                stroke: "#111827", class: "reference"});
    mark.append(svgEl("title", {}, `${ref.name}: ${ref.params} params, ${(100 * ref.accuracy).toFixed(2)} %`));
    c.svg.append(mark, svgEl("text", {x: x + 7, y: y + (ref.dy || 4), class: "reference-label"}, ref.label));
  });
  c.svg.append(svgEl("text", {x: 60, y: 292 - 44, fill: "#6b7280"},
                     "\u25A0 public result  \u25A1 chosen on the test set (*)  \u25CF our runs, line: Pareto front"));
}

function labelsChart() {
  const box = document.getElementById("chart-labels");
  const runs = DATA.runs.filter(r => r.status === "finished" && r.benchmark === "labels" && r.labels_used && r.test_accuracy !== null);
  if (!runs.length) { box.replaceChildren(el("p", {class: "empty"}, "Test accuracy against labels: no labels runs yet")); return; }
  const xs = runs.map(r => r.labels_used), ys = runs.map(r => r.test_accuracy);
  // The axis spans the runs that compete (the labels board's target and up) where there are any: a
  // baseline at 50 % would flatten the curve that matters into one line. Runs under it sit on the bottom edge.
  const competing = ys.filter(v => v >= DATA.targets.labels);
  const xd = [Math.min(...xs) / 1.5, Math.max(...xs) * 1.5];
  const yd = competing.length ? accuracyDomain(competing, 0.97) : accuracyDomain(ys, 0.9);
  const step = yd[1] - yd[0] > 0.05 ? 0.02 : 0.005, yTicks = [];
  for (let v = Math.ceil(yd[0] / step - 1e-9) * step; v <= yd[1] + 1e-9; v += step) yTicks.push(v);
  const c = chart(box, "Test accuracy against labels (log x)", {
    logX: true, xDomain: xd, yDomain: yd, xTicks: logTicks(...xd).filter(v => v >= xd[0] && v <= xd[1]),
    yTicks, xFormat: v => String(v), yFormat: v => (100 * v).toFixed(step < 0.01 ? 1 : 0),
    xLabel: "labels read", yLabel: "test accuracy %"});
  const below = ys.filter(v => v < yd[0]).length;
  if (below) c.svg.append(svgEl("text", {x: c.sx(xd[1]) - 4, y: c.sy(yd[0]) - 6, "text-anchor": "end", class: "below-axis"},
                                `${below} run${below > 1 ? "s" : ""} under ${(100 * yd[0]).toFixed(1)} % on this edge`));
  // One line per method through its mean at each label count: the k-curve, method against method.
  const palette = ["#b45309", "#2563eb", "#059669", "#7c3aed", "#db2777"];
  const methods = [...new Set(runs.map(r => r.model))].sort();
  methods.forEach((method, i) => {
    const byK = new Map();
    runs.filter(r => r.model === method).forEach(r => {
      if (!byK.has(r.labels_used)) byK.set(r.labels_used, []);
      byK.get(r.labels_used).push(r.test_accuracy);
    });
    const means = [...byK].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, v.reduce((s, x) => s + x, 0) / v.length]);
    const color = palette[i % palette.length], [lastK, lastMean] = means[means.length - 1];
    c.svg.append(svgEl("polyline", {points: means.map(([k, m]) => `${c.sx(k)},${c.sy(c.clampY(m))}`).join(" "),
                                    fill: "none", stroke: color, "stroke-width": 1.5, class: "labels-mean"}));
    if (lastMean >= yd[0]) {  // named left of its last point, inside the frame; a line on the edge stays unnamed
      c.svg.append(svgEl("text", {x: c.sx(lastK) - 7, y: c.sy(lastMean) - 8, "text-anchor": "end",
                                  class: "reference-label", fill: color}, `${method} (mean)`));
    }
  });
  runs.forEach(r => dot(c, r.labels_used, r.test_accuracy, r.id, r.selection_labels_read ? "#dc2626" : "#b45309",
                        `run ${r.id} ${r.model}: ${r.labels_used} labels, ${(100 * r.test_accuracy).toFixed(2)} %` +
                        (r.selection_labels_read ? " (selection read labels)" : "")));
}

function timeChart() {
  const box = document.getElementById("chart-time");
  const runs = DATA.runs.filter(r => r.status === "finished" && r.benchmark === "accuracy" && r.time_to_99 !== null);
  if (!runs.length) { box.replaceChildren(el("p", {class: "empty"}, "Time to 99 % validation accuracy: no run reached it yet")); return; }
  // One row per design: a model name whose parameter count changed is two designs.
  const design = r => `${r.model} (${(r.params_total || 0).toLocaleString("en")} params)`;
  const models = [...new Set(runs.map(design))].sort();
  const times = runs.map(r => r.time_to_99);
  const hi = Math.max(...times) * 1.1;
  const c = chart(box, "Seconds to 99 % validation accuracy, one dot a seed", {
    logX: false, xDomain: [0, hi], yDomain: [0, models.length + 1], xTicks: niceTicks(hi), yTicks: [],
    height: 90 + 36 * models.length,
    xFormat: v => String(v), yFormat: () => "", xLabel: "training seconds", yLabel: ""});
  models.forEach((name, i) => {
    const y = models.length - i;
    c.svg.append(svgEl("text", {x: 56, y: c.sy(y) - 8}, name));
    const mine = runs.filter(r => design(r) === name);
    mine.forEach(r => dot(c, r.time_to_99, y, r.id, "#7c3aed", `run ${r.id} seed ${r.seed}: ${r.time_to_99.toFixed(1)} s`));
    const sorted = mine.map(r => r.time_to_99).sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] / 2 + sorted[Math.ceil((sorted.length - 1) / 2)] / 2;
    c.svg.append(svgEl("line", {x1: c.sx(median), x2: c.sx(median), y1: c.sy(y) - 7, y2: c.sy(y) + 7, stroke: "#111827", "stroke-width": 2}));
  });
}

function niceTicks(hi) {
  const step = 10 ** Math.floor(Math.log10(hi / 4 || 1));
  const mult = [1, 2, 5, 10].find(m => hi / (m * step) <= 6) || 10;
  const ticks = [];
  for (let v = 0; v <= hi; v += mult * step) ticks.push(Math.round(v * 1000) / 1000);
  return ticks;
}

// --- a run's details ---------------------------------------------------------------------------
function showRun(id) {
  const run = runsById.get(Number(id));
  const box = document.getElementById("detail");
  if (!run) return;
  const close = el("button", {class: "close", type: "button"}, "close");
  close.addEventListener("click", () => box.classList.remove("open"));
  const dl = el("dl");
  for (const [key, value] of Object.entries(run)) {
    if (["config", "details", "epochs"].includes(key) || value === null || value === "") continue;
    const shown = key.endsWith("accuracy") ? (100 * value).toFixed(2) + " %" :
                  typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : String(value);
    dl.append(el("dt", {}, key), el("dd", {}, shown));
  }
  const curve = el("figure", {id: "curve"});
  box.replaceChildren(close, el("h2", {}, `Run ${run.id}: ${run.model} (${run.benchmark})`), dl, curve,
                      el("h3", {}, "config"), el("pre", {}, JSON.stringify(run.config, null, 2)),
                      el("h3", {}, "details"), el("pre", {}, JSON.stringify(run.details, null, 2)));
  box.classList.add("open");
  learningCurve(curve, run);
  box.scrollIntoView({behavior: "smooth", block: "start"});
}

function learningCurve(box, run) {
  const epochs = run.epochs || [];
  const series = [["accuracy", "#9ca3af", "train"], ["val_accuracy", "#2563eb", "validation"]]
    .map(([key, color, name]) => [epochs.filter(e => e[key] !== null).map(e => [e.epoch, e[key]]), color, name])
    .filter(([points]) => points.length);
  if (!series.length) { box.replaceChildren(el("p", {class: "empty"}, "no learning curve recorded")); return; }
  const ys = series.flatMap(([points]) => points.map(p => p[1]));
  const last = Math.max(...epochs.map(e => e.epoch));
  const yd = [Math.max(0, Math.floor(Math.min(...ys) * 50) / 50), Math.min(1, Math.ceil(Math.max(...ys) * 100) / 100)];
  const c = chart(box, "Learning curve", {logX: false, xDomain: [1, Math.max(2, last)], yDomain: yd,
    xTicks: niceTicks(last).filter(v => v >= 1), yTicks: niceTicks(yd[1]).filter(v => v >= yd[0]),
    xFormat: v => String(v), yFormat: v => (100 * v).toFixed(0), xLabel: "epoch", yLabel: "accuracy %"});
  series.forEach(([points, color, name], i) => {
    c.svg.append(svgEl("polyline", {points: points.map(([x, y]) => `${c.sx(x)},${c.sy(y)}`).join(" "), fill: "none",
                                    stroke: color, "stroke-width": 1.5, class: "curve-" + name}),
                 svgEl("text", {x: 400, y: 40 + 14 * i, fill: color}, name));
  });
}

// --- the page -------------------------------------------------------------------------------------
document.getElementById("meta").textContent =
  `${DATA.runs.length} runs · ${DATA.source || "leaderboard"} · generated ${DATA.generated}`;
const boardsBox = document.getElementById("boards");
DATA.boards.forEach(b => boardsBox.append(renderBoard(b)));
// Published claims after the boards, in tables of their own: claims, not runs, never ranked among them.
(DATA.claims || []).forEach(b => { const s = renderBoard(b); s.classList.add("claims"); boardsBox.append(s); });
paramsChart(); labelsChart(); timeChart();
</script>
</body>
</html>
"""
