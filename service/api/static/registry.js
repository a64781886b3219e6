// Registered models on the dashboard: names with their versions and aliases, a form to register
// a model as the next version, and one to move an alias. A move is sent with If-Match: the
// version the alias had when this page last showed the model on request (selected, or after
// the user's own change; not the background refresh), so a move someone else made meanwhile is
// reported instead of overwritten. Uses api(), el(), $ and state from app.js.
"use strict";

const REGISTRY_POLL_MS = 3000;
const registry = { selected: null, aliases: {} };
const registryPath = (name, ...parts) =>
  ["/v1/registered-models", encodeURIComponent(name), ...parts.map(encodeURIComponent)].join("/");

function aliasText(aliases) {
  return Object.entries(aliases).map(([alias, version]) => `${alias} → ${version}`).join(", ") || "-";
}

async function refreshRegistry(remember = false) {
  const page = await api("/v1/registered-models?limit=500");
  $("#registry tbody").replaceChildren(
    ...page.items.map((m) => el("tr",
      { "data-name": m.name, class: m.name === registry.selected ? "selected" : "",
        onclick: () => selectRegistered(m.name) },
      el("td", {}, m.name), el("td", {}, m.latest_version ?? "-"), el("td", {}, aliasText(m.aliases)))),
  );
  $("#registry-empty").hidden = page.items.length > 0;
  if (registry.selected) await showRegistered(registry.selected, remember);
}

async function selectRegistered(name) {
  registry.selected = name;
  for (const row of document.querySelectorAll("#registry tbody tr")) {
    row.classList.toggle("selected", row.dataset.name === name);
  }
  await showRegistered(name, true);
}

async function showRegistered(name, remember) {
  const [model, versions] = await Promise.all([
    api(registryPath(name)), api(`${registryPath(name, "versions")}?limit=500`)]);
  if (remember) registry.aliases = model.aliases;
  $("#registry-detail").hidden = false;
  $("#registry-name").textContent = model.name;
  $("#registry-description").textContent = model.description;
  $("#registry-versions tbody").replaceChildren(
    ...versions.items.map((v) => el("tr", { "data-version": v.version },
      el("td", {}, v.version), el("td", {}, v.model_id), el("td", {}, v.aliases.join(", ") || "-"),
      el("td", {}, v.created_at.slice(0, 19) + "Z"))),
  );
}

async function registerModel(event) {
  event.preventDefault();
  const name = $("#register-name").value.trim();
  const body = JSON.stringify({ model_id: $("#register-model").value.trim() });
  const post = () => api(registryPath(name, "versions"),
    { method: "POST", headers: { "Content-Type": "application/json" }, body });
  try {
    let version;
    try {
      version = await post();
    } catch (error) {
      if (error.status !== 404) throw error;
      await api("/v1/registered-models", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
      version = await post();
    }
    $("#register-status").textContent = `Registered as ${name} version ${version.version}.`;
    registry.selected = name;
    await refreshRegistry(true);
  } catch (error) {
    $("#register-status").textContent = `Not registered: ${error.message}`;
  }
}

async function moveAlias(event) {
  event.preventDefault();
  const name = registry.selected;
  const alias = $("#alias-name").value.trim();
  const version = Number($("#alias-version").value);
  const headers = { "Content-Type": "application/json" };
  if (alias in registry.aliases) headers["If-Match"] = String(registry.aliases[alias]);
  try {
    await api(registryPath(name, "aliases", alias),
      { method: "PUT", headers, body: JSON.stringify({ version }) });
    $("#alias-status").textContent = `${name}@${alias} → version ${version}.`;
  } catch (error) {
    $("#alias-status").textContent = `Not moved: ${error.message}`;
  }
  await refreshRegistry(true);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#register-form").addEventListener("submit", registerModel);
  $("#alias-form").addEventListener("submit", moveAlias);
  setInterval(() => {
    if (state.key && !$("#app").hidden) refreshRegistry().catch(() => {});
  }, REGISTRY_POLL_MS);
});
