// Neuronal dashboard: plain JavaScript over the /v1 API, no build step, nothing from the internet.
// The API key lives in sessionStorage. Live curves come from GET /v1/jobs/{id}/events, read with
// fetch() and a stream reader because EventSource cannot send an Authorization header.
"use strict";

const KEY_STORAGE = "neuronal.apiKey";
const JOB_POLL_MS = 2000;
const FINISHED = ["succeeded", "failed", "cancelled", "pruned"];
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  key: sessionStorage.getItem(KEY_STORAGE),
  datasets: [],
  jobs: [],
  selected: null, // job id shown in the detail panel
  stream: null, // AbortController of the selected job's event stream
  history: [], // per-epoch metric rows of the selected job
  finished: null, // the selected job as its final `status` event described it
  poller: null,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

// ---- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.key}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    signOut("That key was not accepted; check it and try again.");
    throw new ApiError(401, "unauthorized");
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return options.raw ? response : response.json();
}

// Server-sent events over fetch: calls onEvent(name, data, id) per event; resolves at the end.
async function readEvents(path, { signal, lastEventId, onEvent }) {
  const headers = { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await fetch(path, { headers, signal });
  if (!response.ok) throw new ApiError(response.status, `event stream: ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { name: "message", data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data.length) onEvent(event.name, JSON.parse(event.data.join("\n")), event.id);
        event = { name: "message", data: [], id: null };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment / keep-alive ping
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event.name = text;
      else if (field === "data") event.data.push(text);
      else if (field === "id") event.id = text;
    }
  }
}

// ---- key handling --------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  if (state.stream) state.stream.abort();
  clearInterval(state.poller);
  $("#app").hidden = true;
  $("#sign-out").hidden = true;
  $("#login").hidden = false;
  $("#whoami").textContent = "";
  $("#login-error").textContent = message || "";
}

async function signIn(key) {
  state.key = key;
  try {
    await refreshDatasets();
  } catch (error) {
    if (error.status !== 401) $("#login-error").textContent = error.message;
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  $("#whoami").textContent = `key …${key.slice(-4)}`;
  await refreshJobs();
  state.poller = setInterval(() => refreshJobs().catch(() => {}), JOB_POLL_MS);
}

// ---- datasets ------------------------------------------------------------------------------

async function refreshDatasets() {
  state.datasets = (await api("/v1/datasets?limit=500")).items;
  const body = $("#datasets tbody");
  body.replaceChildren(
    ...state.datasets.map((d) => {
      const classes = d.target.n_classes ? ` (${d.target.n_classes} classes)` : "";
      return el("tr", { "data-id": d.id }, el("td", {}, d.name), el("td", {}, layoutText(d)),
        el("td", {}, d.n_rows), el("td", {}, d.n_features),
        el("td", {}, `${d.target.name}${classes}`));
    }),
  );
  const select = $("#train-dataset");
  const chosen = select.value;
  select.replaceChildren(...state.datasets.map((d) => el("option", { value: d.id }, d.name)));
  if (state.datasets.some((d) => d.id === chosen)) select.value = chosen;
}

function layoutText(d) {
  if (d.layout === "sequences") return `sequences of ${d.sequence_length} steps`;
  if (d.layout === "series") {
    const n = d.series.n_series;
    return `${n} series${d.series.time_column ? ` by ${d.series.time_column}` : ""}`;
  }
  return "table";
}

async function upload(event) {
  event.preventDefault();
  const file = $("#upload-file").files[0];
  const form = new FormData();
  form.append("file", file, file.name);
  if ($("#upload-name").value) form.append("name", $("#upload-name").value);
  if ($("#upload-target").value) form.append("target", $("#upload-target").value);
  for (const [field, input] of [["layout", "#upload-layout"], ["time_column", "#upload-time"],
    ["group_column", "#upload-group"]]) {
    if ($(input).value) form.append(field, $(input).value);
  }
  $("#upload-status").textContent = "Uploading…";
  try {
    const dataset = await api("/v1/datasets", { method: "POST", body: form });
    $("#upload-status").textContent = `Uploaded ${dataset.name}: ${dataset.n_rows} rows.`;
    await refreshDatasets();
    $("#train-dataset").value = dataset.id;
    event.target.reset();
  } catch (error) {
    $("#upload-status").textContent = `Upload failed: ${error.message}`;
  }
}

// ---- jobs ----------------------------------------------------------------------------------

function trainRequest() {
  const entries = $("#train-layers").value.split(",").map((s) => s.trim()).filter(Boolean);
  const activation = $("#train-activation").value;
  const layers = entries.map((entry) => {
    const [kind, units] = entry.includes(":") ? entry.split(":") : ["dense", entry];
    return kind === "dense" ? { units: Number(units), activation } : { type: kind, units: Number(units) };
  });
  const training = {
    epochs: Number($("#train-epochs").value),
    batch_size: Number($("#train-batch").value),
    optimizer: { name: $("#train-optimizer").value, learning_rate: Number($("#train-lr").value) },
  };
  const dataset = state.datasets.find((d) => d.id === $("#train-dataset").value);
  if (dataset && dataset.layout === "series") {
    training.sequence = { window: Number($("#train-window").value) || 1,
      horizon: Number($("#train-horizon").value) || 1 };
  }
  return { dataset_id: $("#train-dataset").value, network: { layers }, training };
}

async function train(event) {
  event.preventDefault();
  $("#train-status").textContent = "Submitting…";
  try {
    const job = await api("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(trainRequest()),
    });
    $("#train-status").textContent = `Job ${job.id} queued.`;
    await refreshJobs();
    selectJob(job.id);
  } catch (error) {
    $("#train-status").textContent = `Not started: ${error.message}`;
  }
}

async function refreshJobs() {
  state.jobs = (await api("/v1/jobs?limit=500")).items
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  const names = Object.fromEntries(state.datasets.map((d) => [d.id, d.name]));
  $("#jobs tbody").replaceChildren(
    ...state.jobs.map((job) => {
      const accuracy = job.metrics && job.metrics.val_accuracy;
      const row = el("tr", { "data-id": job.id, class: job.id === state.selected ? "selected" : "",
        onclick: () => selectJob(job.id) },
      compareCell(job.id), // compare.js
      el("td", {}, el("code", {}, job.id)),
      el("td", {}, names[job.dataset_id] || job.dataset_id),
      el("td", {}, el("span", { class: `badge ${job.status}` }, job.status)),
      el("td", {}, `${job.progress.epoch}/${job.progress.epochs}`),
      el("td", {}, accuracy == null ? "" : accuracy.toFixed(3)));
      return row;
    }),
  );
}

// ---- the selected job ----------------------------------------------------------------------

function selectJob(jobId) {
  if (state.stream) state.stream.abort();
  state.selected = jobId;
  state.history = [];
  state.finished = null;
  for (const row of document.querySelectorAll("#jobs tbody tr")) {
    row.classList.toggle("selected", row.dataset.id === jobId);
  }
  $("#job-detail").hidden = false;
  $("#detail-id").textContent = jobId;
  showKind(state.jobs.find((j) => j.id === jobId));
  showLineage(state.jobs.find((j) => j.id === jobId)).catch(() => {});
  $("#final").hidden = true;
  $("#confusion-block").hidden = true;
  $("#detail-error").textContent = "";
  setStatus("queued", 0);
  drawCharts();
  const controller = new AbortController();
  state.stream = controller;
  followJob(jobId, controller).catch((error) => {
    if (!controller.signal.aborted) $("#detail-error").textContent = error.message;
  });
}

// Follow an event stream until its `status` event, resuming after a dropped connection from
// the last event seen (at most 20 connections); events after an abort are dropped.
async function followEvents(path, controller, onEvent) {
  let lastEventId = null;
  let ended = false;
  for (let attempt = 0; !ended && attempt < 20; attempt++) {
    if (attempt) await new Promise((resolve) => setTimeout(resolve, 1000));
    await readEvents(path, {
      signal: controller.signal,
      lastEventId,
      onEvent: (name, data, id) => {
        if (controller.signal.aborted) return;
        if (id) lastEventId = id;
        if (name === "status") ended = true;
        onEvent(name, data);
      },
    });
  }
}

function followJob(jobId, controller) {
  return followEvents(`/v1/jobs/${jobId}/events`, controller, (name, data) => {
    if (name === "progress") {
      state.history.push(data);
      setStatus("running", data.fraction);
      drawCharts();
    } else if (name === "status") {
      state.finished = data;
      setStatus(data.status, data.progress.fraction);
      showResult(data).catch((error) => { $("#detail-error").textContent = error.message; });
    }
  });
}

function setStatus(status, fraction) {
  const badge = $("#detail-status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
  $("#detail-progress").value = fraction;
}

// A Hopfield network stores its patterns in one pass: no epochs, so no curves; its results are
// capacity figures, and it is used through /recall rather than predictions or ONNX.
function isHopfield(job) {
  return Boolean(job && job.network && job.network.kind === "hopfield");
}

function showKind(job) {
  const hopfield = isHopfield(job);
  $("#charts").hidden = hopfield;
  $("#download-svg").hidden = hopfield;
  $("#download-onnx").hidden = hopfield;
  $("#final-title").textContent = hopfield ? "Capacity" : "Final metrics";
  $("#hopfield-note").hidden = !hopfield;
  if (hopfield) {
    const { rule, update, max_iterations: sweeps } = job.network;
    const recall = job.model_id ? ` · recall with POST /v1/models/${job.model_id}/recall` : "";
    $("#hopfield-note").textContent =
      `Hopfield network · ${rule} rule · ${update} updates, at most ${sweeps} sweeps${recall}`;
  }
}

async function showResult(job) {
  showKind(job);
  const final = $("#final-metrics");
  const shown = { ...job.metrics };
  delete shown.seconds; // the last epoch's duration: not a result
  if (job.error) shown.error = job.error;
  final.replaceChildren(...Object.entries(shown).flatMap(([name, value]) => [
    el("dt", {}, name.replaceAll("_", " ").replace(/^val /, "validation ")),
    el("dd", {}, typeof value === "number" ? Number(value.toPrecision(4)) : value),
  ]));
  $("#final").hidden = false;
  $("#final .downloads").hidden = job.status !== "succeeded";
  if (job.status !== "succeeded" || job.task !== "classification") return;
  const confusion = await api(`/v1/models/${job.model_id}/confusion`);
  if (state.selected !== job.id) return;
  drawConfusion(confusion);
}

function drawConfusion(confusion) {
  const table = $("#confusion");
  const top = Math.max(1, ...confusion.matrix.flat());
  const header = el("tr", {}, el("th", { class: "corner" }, "actual ↓ / predicted →"),
    ...confusion.classes.map((c) => el("th", {}, c)));
  const rows = confusion.matrix.map((counts, i) => el("tr", {},
    el("th", {}, confusion.classes[i]),
    ...counts.map((count, j) => {
      const cell = el("td", { class: i === j ? "hit" : "miss" }, count);
      cell.style.setProperty("--share", (count / top).toFixed(3));
      return cell;
    })));
  table.replaceChildren(header, ...rows);
  $("#confusion-caption").textContent =
    `on ${confusion.n_rows} ${confusion.split} rows · accuracy ${confusion.accuracy.toFixed(3)}`;
  $("#confusion-block").hidden = false;
}

// ---- lineage: the model a warm start began from, and the models started from this one ------

function jobLink(model) {
  const open = (event) => { event.preventDefault(); selectJob(model.job_id); };
  return el("a", { href: "#", onclick: open, "data-model": model.id }, el("code", {}, model.id));
}

async function showLineage(job) {
  const box = $("#lineage");
  box.replaceChildren();
  box.hidden = true;
  if (!job) return;
  const parts = [];
  if (job.init_from) {
    const verb = job.init_from.mode === "continue" ? "Continues" : "Fine-tunes";
    const parentId = job.init_from.model_id;
    const parent = await api(`/v1/models/${parentId}`).catch(() => null);
    parts.push(el("span", { class: "parent" }, `${verb} model `,
      parent ? jobLink(parent) : el("span", {}, el("code", {}, parentId), " (deleted)")));
  }
  if (job.model_id) {
    const page = await api("/v1/models?limit=500");
    const children = page.items.filter((m) => m.parent_model_id === job.model_id);
    if (children.length) {
      parts.push(el("span", { class: "children" }, `${parts.length ? " · " : ""}Started from it: `,
        ...children.flatMap((m, i) => [i ? ", " : "", jobLink(m)])));
    }
  }
  if (state.selected !== job.id || !parts.length) return;
  box.replaceChildren(...parts);
  box.hidden = false;
}

// ---- charts --------------------------------------------------------------------------------

const CHART = { width: 420, height: 220, left: 48, right: 10, top: 10, bottom: 28 };

function drawCharts() {
  drawChart($("#loss-chart"), "loss");
  drawChart($("#accuracy-chart"), "accuracy");
}

function drawChart(target, metric) {
  const epochs = state.history.length ? state.history[state.history.length - 1].epochs : 1;
  const series = ["train", "val"].map((split) => ({
    split,
    points: state.history.filter((r) => Number.isFinite(r[`${split}_${metric}`]))
      .map((r) => [r.epoch, r[`${split}_${metric}`]]),
  }));
  const [low, high] = valueRange(series.flatMap((s) => s.points.map((p) => p[1])), metric);
  const x = epochScale(CHART, epochs);
  const y = valueScale(CHART, low, high);
  const nodes = chartFrame(CHART, low, high, "epoch 1", String(epochs));
  for (const { split, points } of series) {
    if (!points.length) continue;
    nodes.push(svg("polyline", { class: `series ${split}`, "data-series": split,
      points: polylinePoints(points, x, y) }));
  }
  target.replaceChildren(...nodes);
  target.dataset.points = String(series[0].points.length);
}

// A chart's value range: its values' span (for accuracy at least 0.5 to 1), widened around a
// single value so that a scale never divides by zero.
function valueRange(values, metric) {
  let low = values.length ? Math.min(...values) : 0;
  let high = values.length ? Math.max(...values) : 1;
  if (metric === "accuracy") [low, high] = [Math.min(low, 0.5), 1];
  if (high - low < 1e-9) [low, high] = [low - 0.5, high + 0.5];
  return [low, high];
}

// Where epoch 1 .. `epochs` and values from `low` to `high` fall inside a chart's frame.
function epochScale(box, epochs) {
  return (epoch) => box.left + ((epoch - 1) / Math.max(epochs - 1, 1)) *
    (box.width - box.left - box.right);
}

function valueScale(box, low, high) {
  return (v) => box.height - box.bottom - ((v - low) / (high - low)) *
    (box.height - box.top - box.bottom);
}

// A chart's frame and axis labels: the value range on the left, `first` and `last` below.
function chartFrame(box, low, high, first, last) {
  const { width, height, left, right, top, bottom } = box;
  return [
    svg("rect", { x: left, y: top, width: width - left - right, height: height - top - bottom,
      class: "frame" }),
    label(left - 6, top + 8, high.toPrecision(3), "end"),
    label(left - 6, height - bottom, low.toPrecision(3), "end"),
    label(left, height - 8, first, "start"),
    label(width - right, height - 8, last, "end"),
  ];
}

function polylinePoints(points, x, y) {
  return points.map(([at, v]) => `${x(at).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
}

function label(x, y, text, anchor) {
  const node = svg("text", { x, y, "text-anchor": anchor, class: "axis" });
  node.textContent = text;
  return node;
}

// ---- downloads (they need the Authorization header, so fetch then save a blob) ------------

async function download(path, filename) {
  const response = await api(path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  el("a", { href: url, download: filename }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function selectedJob() {
  if (state.finished && state.finished.id === state.selected) return state.finished;
  return state.jobs.find((j) => j.id === state.selected);
}

function downloadButton(selector, pathOf, nameOf) {
  $(selector).addEventListener("click", () => {
    const job = selectedJob();
    if (!job) return;
    download(pathOf(job), nameOf(job)).catch((e) => { $("#detail-error").textContent = e.message; });
  });
}

// ---- start ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("#login-error").textContent = "";
    signIn($("#api-key").value.trim());
  });
  $("#sign-out").addEventListener("click", () => signOut());
  $("#upload-form").addEventListener("submit", upload);
  $("#train-form").addEventListener("submit", train);
  downloadButton("#download-svg", (j) => `/v1/jobs/${j.id}/curves.svg`, (j) => `${j.id}.svg`);
  downloadButton("#download-onnx", (j) => `/v1/models/${j.model_id}/onnx`,
    (j) => `${j.model_id}.onnx`);
  downloadButton("#download-npz", (j) => `/v1/models/${j.model_id}/weights`,
    (j) => `${j.model_id}.npz`);
  if (state.key) signIn(state.key);
});
