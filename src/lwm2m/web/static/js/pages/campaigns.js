// Firmware campaigns: progress of each (counts by device state, a progress bar), one
// campaign's devices with their last error, pause / resume / cancel, and a new campaign from
// a package of the repository. The list refreshes every two seconds; one campaign follows
// its event stream (GET /api/campaigns/{id}/events) and falls back to polling without it.

import { ApiError, api, ep, openStream } from "../api.js";
import { form } from "../dialog.js";
import { h, icon, replace, toast } from "../dom.js";
import { httpProblem } from "../format.js";
import { track } from "../pending.js";
import { attempt, loadList, pageHead } from "./common.js";

const MISSING = [
  "Firmware campaigns are",
  "This server has no campaign API (/api/campaigns): start it with lwm2m server (docs/firmware.md).",
];
const REFRESH_MS = 2000;
const STATES = ["succeeded", "failed", "skipped", "cancelled", "pending", "checking", "delivering", "downloading", "updating", "verifying"];

function bar(campaign) {
  const total = campaign.devices || 1;
  const share = (state) => `${(100 * (campaign.counts[state] ?? 0)) / total}%`;
  return h("div", { class: "campaign-bar", title: `${campaign.finished} of ${campaign.devices} finished`, role: "progressbar",
    "aria-valuemin": 0, "aria-valuemax": campaign.devices, "aria-valuenow": campaign.finished },
    h("span", { class: "campaign-ok", style: `width:${share("succeeded")}` }),
    h("span", { class: "campaign-failed", style: `width:${share("failed")}` }),
    h("span", { class: "campaign-other", style: `width:${(100 * (campaign.finished - (campaign.counts.succeeded ?? 0) - (campaign.counts.failed ?? 0))) / total}%` }));
}

function counts(campaign) {
  return h("span", { class: "counts" }, STATES.filter((state) => campaign.counts[state]).map((state) =>
    h("span", { class: "pill pill-plain", dataset: { state } }, `${state} ${campaign.counts[state]}`)));
}

function actions(campaign, reload) {
  const step = (name, label) => h("button", {
    class: "btn btn-xs",
    onclick: async (event) => {
      const done = `Campaign ${campaign.id}: ${label.toLowerCase()}`;
      if (await attempt(() => api(`/api/campaigns/${ep(campaign.id)}/${name}`, { method: "POST" }), done, event.currentTarget)) reload();
    },
  }, label);
  return h("span", { class: "campaign-actions" },
    campaign.status === "running" ? step("pause", "Pause") : null,
    campaign.status === "paused" ? step("resume", "Resume") : null,
    ["running", "paused"].includes(campaign.status) ? step("cancel", "Cancel") : null);
}

function numberList(text) {
  return text.split(/[\s,]+/).filter(Boolean).map(Number);
}

/** Ask for a new campaign: a package of the repository, the target, method and pace. */
async function create(button) {
  let packages;
  try {
    packages = await api("/api/firmware");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    toast(`Packages: ${httpProblem(error)}`, "error");
    return null;
  }
  if (!packages.length) {
    toast("The firmware repository is empty: upload a package first (POST /api/firmware or lwm2m firmware add)", "error");
    return null;
  }
  let body;
  const values = await form({
    title: "New firmware campaign",
    intro: "Devices match every target field given (and, with endpoints, are among them).",
    fields: [
      { name: "name", label: "Name", placeholder: "e.g. 2.0.0 rollout" },
      { name: "package", label: "Package", type: "select", required: true,
        options: packages.map((p) => [p.sha256, `${p.version ?? "no version"}${p.model ? ` · ${p.model}` : ""} · ${Math.round(p.size / 1024)} KiB · ${p.sha256.slice(0, 12)}…`]) },
      { name: "endpoints", label: "Endpoints", type: "textarea", rows: 2, hint: "optional; separated by spaces, commas or lines" },
      { name: "manufacturer", label: "Manufacturer (/3/0/0)", hint: "optional" },
      { name: "model", label: "Model (/3/0/1)", hint: "optional" },
      { name: "firmwareVersion", label: "Current firmware version (/3/0/3)", hint: "optional" },
      { name: "binding", label: "Binding", hint: "optional, e.g. U or UQ or N" },
      { name: "method", label: "Method", type: "select", value: "auto",
        options: [["auto", "Auto (by /5/0/9 Delivery Method)"], ["pull", "Pull (URL written to /5/0/1)"], ["push", "Push (package written to /5/0/0)"]] },
      { name: "waves", label: "Waves", placeholder: "e.g. 10, 100", hint: "sizes of the first waves; the rest is the last wave" },
      { name: "concurrency", label: "Devices at once", type: "number", value: 10, min: 1, max: 100000, required: true },
      { name: "threshold", label: "Pause at failure share (%)", type: "number", value: 20, min: 0, max: 100, step: "any", required: true },
    ],
    submit: "Start campaign",
    check: (v) => {
      const waves = numberList(v.waves);
      if (waves.some((size) => !Number.isInteger(size) || size < 1)) return "Waves must be positive whole numbers";
      const endpoints = v.endpoints.split(/[\s,]+/).filter(Boolean);
      const target = Object.fromEntries(["manufacturer", "model", "firmwareVersion", "binding"]
        .filter((key) => v[key].trim()).map((key) => [key, v[key].trim()]));
      if (endpoints.length) target.endpoints = endpoints;
      if (!Object.keys(target).length) return "Give a target: endpoints or at least one field";
      body = {
        package: v.package, target, method: v.method, waves,
        concurrency: Number(v.concurrency), failureThreshold: Number(v.threshold) / 100,
      };
      if (v.name.trim()) body.name = v.name.trim();
      return null;
    },
  });
  if (!values) return null;
  const op = track("Starting the campaign", { button });
  try {
    const campaign = await api("/api/campaigns", { method: "POST", body, signal: op.signal });
    toast(`Campaign ${campaign.id} started: ${campaign.devices} device(s)`, "ok");
    return campaign;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    toast(`New campaign: ${httpProblem(error)}`, "error");
    return null;
  } finally {
    op.done();
  }
}

export function render(root, [id]) {
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted pad" }, "Loading…"));
  let timer = null;
  let stopStream = null;

  async function load() {
    clearTimeout(timer);
    if (id) await loadOne();
    else if (await loadList(body, "/api/campaigns", drawList, MISSING)) timer = setTimeout(load, REFRESH_MS);
  }

  function drawList(items) {
    if (!items.length) {
      replace(body, h("div", { class: "empty" }, h("strong", {}, "No campaigns yet"),
        h("span", {}, "Start one with New campaign, POST /api/campaigns or lwm2m campaign create.")));
      return;
    }
    replace(body, h("table", { class: "table campaigns" },
      h("thead", {}, h("tr", {}, ["Campaign", "Status", "Progress", "Devices by state", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((c) => h("tr", { dataset: { campaign: c.id } },
        h("td", {}, h("a", { href: `#/campaigns/${ep(c.id)}`, class: "mono" }, c.id), " ", c.name || ""),
        h("td", {}, h("span", { class: "pill" }, c.status), c.reason ? h("div", { class: "muted" }, c.reason) : null),
        h("td", {}, bar(c), h("div", { class: "muted" }, `${c.finished} / ${c.devices}`)),
        h("td", {}, counts(c)),
        h("td", { class: "actions" }, actions(c, load)))))));
  }

  // One campaign: its summary and a row per device, kept current by the event stream.
  let campaign = null;
  const rows = new Map();
  const summary = h("div", { class: "pad campaign-summary" });

  function deviceRow(d) {
    return h("tr", { dataset: { endpoint: d.endpoint } },
      h("td", { class: "mono" }, h("a", { href: `#/devices/${ep(d.endpoint)}` }, d.endpoint)),
      h("td", {}, h("span", { class: "pill pill-plain", dataset: { state: d.state } }, d.state)),
      h("td", {}, String(d.attempts)),
      h("td", { class: "campaign-error" }, d.error ?? ""));
  }

  function drawSummary(live) {
    const c = campaign;
    replace(summary, h("span", { class: "pill", id: "campaign-status" }, c.status), " ", c.reason ?? "",
      h("span", { class: "muted" }, live ? " · live" : ""),
      bar(c), h("div", { class: "muted" }, `${c.finished} of ${c.devices} finished`), counts(c),
      h("p", { class: "muted" }, `package ${c.package.slice(0, 16)}…, ${c.method}, ${c.concurrency} at once, wave ${c.wave ?? "—"}`),
      actions(c, loadOne));
  }

  async function loadOne() {
    try {
      campaign = await api(`/api/campaigns/${ep(id)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(body, h("p", { class: "error-text pad" }, httpProblem(error)));
      timer = setTimeout(loadOne, REFRESH_MS);
      return;
    }
    rows.clear();
    const tbody = h("tbody", {}, campaign.deviceList.map((d) => {
      const row = deviceRow(d);
      rows.set(d.endpoint, row);
      return row;
    }));
    replace(body, summary, h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Endpoint", "State", "Attempts", "Last error"].map((t) => h("th", {}, t)))), tbody)));
    drawSummary(false);
    stopStream ??= openStream(`/api/campaigns/${ep(id)}/events`, (event) => {
      if (event.type === "campaignProgress") {
        campaign = { ...campaign, ...event };
        drawSummary(true);
      } else if (event.type === "campaignDevice") {
        const row = deviceRow(event);
        rows.get(event.endpoint)?.replaceWith(row);
        rows.set(event.endpoint, row);
      }
    }, (connection) => {
      if (connection === "ended" && campaign) drawSummary(false);
    }, { endless: false });
  }

  const newButton = id ? null : h("button", { class: "btn btn-primary", id: "new-campaign", onclick: async (event) => {
    const started = await create(event.currentTarget);
    if (started) location.hash = `#/campaigns/${ep(started.id)}`;
  } }, icon("plus"), "New campaign");
  replace(root,
    pageHead(id ? `Campaign ${id}` : "Campaigns", "Firmware campaigns: each device's progress as it reports it (/5/0/3, /5/0/5, and /3/0/3 after its reboot).",
      id ? h("a", { class: "btn", href: "#/campaigns" }, icon("chevron"), "All campaigns") : newButton),
    h("section", { class: "card" }, body));
  load();
  return () => {
    clearTimeout(timer);
    stopStream?.();
  };
}
