// Comparing jobs on the dashboard, as in MLflow's compare view: tick jobs in the Jobs list or
// trials in a search's leaderboard, and the Compare card overlays their per-epoch curves
// (GET /v1/jobs/{id}/metrics; solid train, dashed validation, one colour per job) and sets
// their parameters side by side, highlighting the rows where they differ. Uses api(), el(),
// svg(), label(), CHART, FINISHED, $ and state from app.js.
"use strict";

const COMPARE_POLL_MS = 3000;
const COMPARE_COLOURS = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2",
  "#ca8a04", "#db2777"];
const compare = { ids: [], cache: new Map() };

// The checkbox cell of a job's row; the same job ticked in one list is ticked in the other.
function compareCell(jobId) {
  const box = el("input", { type: "checkbox", class: "compare-pick", "data-job": jobId,
    title: "compare", "aria-label": `compare ${jobId}` });
  box.checked = compare.ids.includes(jobId);
  box.addEventListener("click", (event) => event.stopPropagation());
  box.addEventListener("change", () => pickForCompare(jobId, box.checked));
  return el("td", { class: "pick", onclick: (event) => event.stopPropagation() }, box);
}

function pickForCompare(jobId, picked) {
  compare.ids = compare.ids.filter((id) => id !== jobId);
  if (picked) compare.ids.push(jobId);
  for (const box of document.querySelectorAll(".compare-pick")) {
    box.checked = compare.ids.includes(box.dataset.job);
  }
  refreshCompare().catch((error) => { $("#compare-error").textContent = error.message; });
}

// A finished job and its curves never change: fetched once; others again at each refresh.
async function compareEntry(jobId) {
  const known = compare.cache.get(jobId);
  if (known) return known;
  const [job, metrics] = await Promise.all([api(`/v1/jobs/${jobId}`),
    api(`/v1/jobs/${jobId}/metrics`)]);
  const entry = { job, rows: metrics.items };
  if (FINISHED.includes(job.status)) compare.cache.set(jobId, entry);
  return entry;
}

async function refreshCompare() {
  const ids = [...compare.ids];
  $("#compare").hidden = ids.length === 0;
  if (!ids.length) return;
  const entries = await Promise.all(ids.map(compareEntry));
  if (ids.join() !== compare.ids.join()) return; // the selection changed meanwhile
  entries.forEach((entry, i) => { entry.colour = COMPARE_COLOURS[i % COMPARE_COLOURS.length]; });
  $("#compare-error").textContent = "";
  $("#compare-count").textContent = `${ids.length} job${ids.length === 1 ? "" : "s"}`;
  $("#compare-legend").replaceChildren(...entries.map((e) => el("span", { class: "entry" },
    swatch(e.colour), jobName(e.job))));
  drawCompareChart($("#compare-loss-chart"), "loss", entries);
  const accuracy = entries.some((e) => e.rows.some((r) => r.val_accuracy != null
    || r.train_accuracy != null));
  $("#compare-accuracy").hidden = !accuracy;
  if (accuracy) drawCompareChart($("#compare-accuracy-chart"), "accuracy", entries);
  showParams(entries);
  showFinalMetrics(entries);
}

function swatch(colour) {
  const node = el("span", { class: "swatch" });
  node.style.setProperty("--colour", colour);
  return node;
}

function jobName(job) {
  return job.search_id ? `${job.id} (trial ${job.trial})` : job.id;
}

function drawCompareChart(target, metric, entries) {
  const epochs = Math.max(1, ...entries.map((e) => e.rows.length ? e.rows[e.rows.length - 1].epoch
    : 1));
  const curves = entries.flatMap((e) => ["train", "val"].map((split) => ({
    job: e.job.id, colour: e.colour, split,
    points: e.rows.filter((r) => Number.isFinite(r[`${split}_${metric}`]))
      .map((r) => [r.epoch, r[`${split}_${metric}`]]),
  }))).filter((c) => c.points.length);
  const [low, high] = valueRange(curves.flatMap((c) => c.points.map((p) => p[1])), metric);
  const x = epochScale(CHART, epochs);
  const y = valueScale(CHART, low, high);
  const nodes = chartFrame(CHART, low, high, "epoch 1", String(epochs));
  for (const c of curves) {
    const attrs = { class: `series curve ${c.split}-curve`, stroke: c.colour, "data-job": c.job,
      "data-series": c.split, "data-points": c.points.length,
      points: polylinePoints(c.points, x, y) };
    if (c.split === "val") attrs["stroke-dasharray"] = "5 3";
    // a one-epoch job (a trial pruned at the first rung) is a dot, not an invisible line
    nodes.push(c.points.length > 1 ? svg("polyline", attrs)
      : svg("circle", { ...attrs, cx: x(c.points[0][0]), cy: y(c.points[0][1]), r: 3,
        fill: c.colour }));
  }
  target.replaceChildren(...nodes);
  target.dataset.curves = String(new Set(curves.map((c) => c.job)).size);
}

// {"network": {"layers": [{"units": 8}]}} → {"network.layers[0].units": 8}
function flatten(value, prefix, into = {}) {
  if (Array.isArray(value) && value.some((v) => v !== null && typeof v === "object")) {
    value.forEach((v, i) => flatten(v, `${prefix}[${i}]`, into));
  } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${key}` : key, into);
  } else {
    into[prefix] = value;
  }
  return into;
}

function jobParams(job) {
  return { dataset: job.dataset_id, task: job.task, ...flatten(job.network, "network"),
    ...flatten(job.training, "training") };
}

function compareTable(table, entries, rows, highlight) {
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, ""),
    ...entries.map((e) => el("th", { "data-job": e.job.id }, swatch(e.colour), jobName(e.job)))));
  table.querySelector("tbody").replaceChildren(...rows.map(([name, values]) => {
    const texts = values.map((v) => (v === undefined ? "—" : formatCell(v)));
    const differs = highlight && new Set(texts).size > 1;
    return el("tr", { "data-name": name, class: differs ? "differs" : "" },
      el("th", {}, name), ...texts.map((t) => el("td", {}, t)));
  }));
}

function formatCell(value) {
  if (typeof value === "number") return String(Number(value.toPrecision(6)));
  if (value === null) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function showParams(entries) {
  const flat = entries.map((e) => jobParams(e.job));
  const names = [...new Set(flat.flatMap((f) => Object.keys(f)))];
  compareTable($("#compare-params"), entries, names.map((n) => [n, flat.map((f) => f[n])]), true);
}

function showFinalMetrics(entries) {
  const finals = entries.map((e) => {
    const shown = { status: e.job.status, epoch: e.job.progress.epoch, ...e.job.metrics };
    delete shown.seconds;
    return shown;
  });
  const names = [...new Set(finals.flatMap((f) => Object.keys(f)))];
  compareTable($("#compare-metrics"), entries, names.map((n) => [n, finals.map((f) => f[n])]),
    false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#compare-clear").addEventListener("click", () => {
    compare.ids = [];
    for (const box of document.querySelectorAll(".compare-pick")) box.checked = false;
    refreshCompare();
  });
  setInterval(() => {
    const live = compare.ids.some((id) => !compare.cache.has(id));
    if (live && state.key && !$("#app").hidden) refreshCompare().catch(() => {});
  }, COMPARE_POLL_MS);
});
