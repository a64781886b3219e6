// Hyperparameter searches on the dashboard: the list of searches, and a search page with its
// trials over time (objective of each ended trial, pruned and failed ones marked, the
// best-so-far line), its limits and counts, and the leaderboard. The page follows
// GET /v1/searches/{id}/events like the job page follows its job: each `trial` event redraws
// it from the API, the `status` event ends the stream. Uses api(), readEvents(), el(), svg(),
// label(), $ and state from app.js; compareCell() from compare.js.
"use strict";

const SEARCH_POLL_MS = 3000;
const SEARCH_CHART = { width: 620, height: 240, left: 56, right: 12, top: 12, bottom: 30 };
const search = { selected: null, stream: null, pending: null, again: false };

// ---- the list ------------------------------------------------------------------------------

async function refreshSearches() {
  const page = await api("/v1/searches?limit=500");
  const items = page.items.sort((a, b) => b.created_at.localeCompare(a.created_at));
  $("#searches tbody").replaceChildren(...items.map((s) => el("tr",
    { "data-id": s.id, class: s.id === search.selected ? "selected" : "",
      onclick: () => selectSearch(s.id) },
    el("td", {}, el("code", {}, s.id)),
    el("td", {}, el("span", { class: `badge ${s.status}` }, s.status)),
    el("td", {}, s.strategy),
    el("td", {}, trialCountText(s)),
    el("td", {}, s.best ? `${s.objective.metric} ${formatValue(s.best.objective)}` : "-"))));
  $("#searches-empty").hidden = items.length > 0;
}

function trialCountText(s) {
  const { total, succeeded, pruned, failed } = s.trials;
  const parts = [`${succeeded} ok`];
  if (pruned) parts.push(`${pruned} pruned`);
  if (failed) parts.push(`${failed} failed`);
  return `${total}/${s.limits.max_trials} (${parts.join(", ")})`;
}

function formatValue(value) {
  return typeof value === "number" ? String(Number(value.toPrecision(4))) : String(value ?? "-");
}

// ---- the search page -----------------------------------------------------------------------

function selectSearch(searchId) {
  if (search.stream) search.stream.abort();
  search.selected = searchId;
  for (const row of document.querySelectorAll("#searches tbody tr")) {
    row.classList.toggle("selected", row.dataset.id === searchId);
  }
  $("#search-detail").hidden = false;
  $("#search-id").textContent = searchId;
  $("#search-error").textContent = "";
  const controller = new AbortController();
  search.stream = controller;
  followSearch(searchId, controller).catch((error) => {
    if (!controller.signal.aborted) $("#search-error").textContent = error.message;
  });
  return redrawSearch();
}

function followSearch(searchId, controller) {
  return followEvents(`/v1/searches/${searchId}/events`, controller, () => redrawSearch());
}

// One redraw at a time; events arriving meanwhile ask for one more after it.
function redrawSearch() {
  if (search.pending) {
    search.again = true;
    return search.pending;
  }
  search.pending = (async () => {
    do {
      search.again = false;
      await showSearch(search.selected)
        .catch((error) => { $("#search-error").textContent = error.message; });
    } while (search.again);
    search.pending = null;
  })();
  return search.pending;
}

async function showSearch(searchId) {
  const [found, board, jobs] = await Promise.all([
    api(`/v1/searches/${searchId}`),
    api(`/v1/searches/${searchId}/trials`),
    api(`/v1/jobs?search_id=${encodeURIComponent(searchId)}&limit=500`),
  ]);
  if (search.selected !== searchId) return;
  const status = $("#search-status");
  status.textContent = found.status;
  status.className = `badge ${found.status}`;
  showSummary(found);
  const finishedAt = Object.fromEntries(jobs.items.map((j) => [j.id, j.finished_at]));
  drawTrials(found, board.items.map((row) => ({ ...row, finished_at: finishedAt[row.job_id] })));
  showLeaderboard(board.items);
}

function showSummary(s) {
  const limits = s.limits;
  const counts = Object.entries(s.trials).filter(([name, n]) => name !== "total" && n)
    .map(([name, n]) => `${n} ${name}`).join(", ");
  const shown = {
    strategy: s.strategy + (s.sample ? " (sampled)" : "") + ` · seed ${s.seed}`,
    objective: `${s.objective.goal} ${s.objective.metric}`,
    "early termination": s.early_termination
      ? `ASHA from epoch ${s.early_termination.min_epochs}, ×${s.early_termination.reduction_factor}`
      : "none",
    limits: [`${limits.max_trials} trials`, `${limits.max_parallel} at once`,
      limits.max_runtime_seconds ? `${limits.max_runtime_seconds} s` : null,
      limits.max_failed_trials ? `${limits.max_failed_trials} failures` : null]
      .filter(Boolean).join(" · "),
    trials: `${s.trials.total}${counts ? ` (${counts})` : ""}`,
    best: s.best ? `trial ${s.best.trial} · ${formatValue(s.best.objective)} · model ${s.best.model_id}`
      : "-",
  };
  if (s.error) shown.error = s.error;
  $("#search-summary").replaceChildren(...Object.entries(shown).flatMap(([name, value]) =>
    [el("dt", {}, name), el("dd", { "data-field": name }, value)]));
  $("#search-objective").textContent = `${s.objective.metric} (${s.objective.goal})`;
}

// The ended trials in the order they ended, each with its x position: seconds since the first
// trial started (the search's started_at) to its end.
function endedTrials(s, rows) {
  const start = Date.parse(s.started_at || s.created_at);
  return rows.filter((r) => FINISHED.includes(r.status) && r.finished_at)
    .map((r) => ({ ...r, at: (Date.parse(r.finished_at) - start) / 1000 }))
    .sort((a, b) => a.at - b.at || a.trial - b.trial);
}

function drawTrials(s, rows) {
  const target = $("#search-chart");
  const ended = endedTrials(s, rows);
  const better = s.objective.goal === "maximize" ? (a, b) => a > b : (a, b) => a < b;
  const best = [];
  for (const r of ended) {
    if (r.status !== "succeeded" || r.objective == null) continue;
    const last = best.length ? best[best.length - 1][1] : null;
    best.push([r.at, last == null || better(r.objective, last) ? r.objective : last]);
  }
  const objectives = ended.map((r) => r.objective).filter(Number.isFinite);
  let [low, high] = valueRange(objectives, "objective");
  const pad = (high - low) * 0.04; // marks on the edges stay whole
  [low, high] = [low - pad, high + pad];
  const span = Math.max(1, ...ended.map((r) => r.at));
  const { width, left, right, top } = SEARCH_CHART;
  const x = (at) => left + (at / span) * (width - left - right);
  const y = valueScale(SEARCH_CHART, low, high);
  const nodes = chartFrame(SEARCH_CHART, low, high, "0 s", `${span.toFixed(1)} s after the start`);
  if (best.length) {
    const last = best[best.length - 1];
    const steps = best.flatMap(([at, v], i) => (i ? [[at, best[i - 1][1]], [at, v]] : [[at, v]]));
    steps.push([span, last[1]]);
    nodes.push(svg("polyline", { class: "best", "data-best": String(last[1]),
      points: polylinePoints(steps, x, y) }));
  }
  for (const r of ended) nodes.push(trialMark(r, x(r.at), r.objective == null ? top : y(r.objective)));
  target.replaceChildren(...nodes);
  target.dataset.points = String(ended.length);
}

// A dot per succeeded trial, a ring per pruned one, a cross per failed or cancelled one (drawn
// at the top edge when it has no objective); each says what it is on hover.
function trialMark(r, cx, cy) {
  const attrs = { class: `trial ${r.status}`, "data-trial": r.trial, "data-status": r.status,
    "data-objective": r.objective == null ? "" : String(r.objective) };
  let node;
  if (r.status === "succeeded" || r.status === "pruned") {
    node = svg("circle", { ...attrs, cx: cx.toFixed(1), cy: cy.toFixed(1), r: 4 });
  } else {
    node = svg("path", { ...attrs,
      d: `M${cx - 4},${cy - 4}L${cx + 4},${cy + 4}M${cx - 4},${cy + 4}L${cx + 4},${cy - 4}` });
  }
  const title = svg("title");
  title.textContent = `trial ${r.trial} ${r.status} · ${formatValue(r.objective)} · ` +
    `${r.epochs} epochs · ${paramsText(r.params)}`;
  node.append(title);
  return node;
}

function paramsText(params) {
  return Object.entries(params || {}).map(([path, v]) => `${shortPath(path)}=${formatValue(v)}`)
    .join(" ");
}

function shortPath(path) {
  return path.split(".").pop();
}

function showLeaderboard(rows) {
  $("#leaderboard tbody").replaceChildren(...rows.map((r, i) => el("tr",
    { "data-job": r.job_id, "data-trial": r.trial, class: `status-${r.status}` },
    compareCell(r.job_id),
    el("td", {}, i + 1),
    el("td", {}, r.trial),
    el("td", {}, el("span", { class: `badge ${r.status}` }, r.status)),
    el("td", { class: "objective" }, formatValue(r.objective)),
    el("td", {}, r.epochs),
    el("td", { title: JSON.stringify(r.params) }, paramsText(r.params)))));
}

document.addEventListener("DOMContentLoaded", () => {
  const tick = () => {
    if (state.key && !$("#app").hidden) refreshSearches().catch(() => {});
  };
  setTimeout(tick, 300);
  setInterval(tick, SEARCH_POLL_MS);
});
