// Firmware campaigns: progress of each (counts by device state, a progress bar), one
// campaign's devices with their last error, and pause / resume / cancel. Refreshed every
// two seconds while shown (the API also streams GET /api/campaigns/{id}/events).

import { api, ep } from "../api.js";
import { h, icon, replace } from "../dom.js";
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
  return h("div", { class: "campaign-bar", title: `${campaign.finished} of ${campaign.devices} finished` },
    h("span", { class: "campaign-ok", style: `width:${share("succeeded")}` }),
    h("span", { class: "campaign-failed", style: `width:${share("failed")}` }),
    h("span", { class: "campaign-other", style: `width:${(100 * (campaign.finished - (campaign.counts.succeeded ?? 0) - (campaign.counts.failed ?? 0))) / total}%` }));
}

function counts(campaign) {
  return STATES.filter((state) => campaign.counts[state]).map((state) =>
    h("span", { class: "pill pill-plain", dataset: { state } }, `${state} ${campaign.counts[state]}`));
}

function actions(campaign, reload) {
  const step = (name, label) => h("button", {
    class: "btn btn-xs",
    onclick: async () => {
      if (await attempt(() => api(`/api/campaigns/${ep(campaign.id)}/${name}`, { method: "POST" }), `Campaign ${campaign.id}: ${label.toLowerCase()}`)) reload();
    },
  }, label);
  return h("td", { class: "actions" },
    campaign.status === "running" ? step("pause", "Pause") : null,
    campaign.status === "paused" ? step("resume", "Resume") : null,
    ["running", "paused"].includes(campaign.status) ? step("cancel", "Cancel") : null);
}

export function render(root, [id]) {
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted pad" }, "Loading…"));
  let timer = null;

  async function load() {
    if (id) await loadOne();
    else await loadList(body, "/api/campaigns", drawList, MISSING);
    timer = setTimeout(load, REFRESH_MS);
  }

  function drawList(items) {
    if (!items.length) {
      replace(body, h("div", { class: "empty" }, h("strong", {}, "No campaigns yet"),
        h("span", {}, "Start one with POST /api/campaigns or lwm2m campaign create.")));
      return;
    }
    replace(body, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Campaign", "Status", "Progress", "Devices by state", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((c) => h("tr", {},
        h("td", {}, h("a", { href: `#/campaigns/${ep(c.id)}`, class: "mono" }, c.id), " ", c.name || ""),
        h("td", {}, h("span", { class: "pill" }, c.status), c.reason ? h("div", { class: "muted" }, c.reason) : null),
        h("td", {}, bar(c), h("div", { class: "muted" }, `${c.finished} / ${c.devices}`)),
        h("td", {}, counts(c)),
        actions(c, () => { clearTimeout(timer); load(); }))))));
  }

  async function loadOne() {
    try {
      const c = await api(`/api/campaigns/${ep(id)}`);
      replace(body,
        h("div", { class: "pad" }, h("span", { class: "pill" }, c.status), " ", c.reason ?? "", bar(c), counts(c),
          h("p", { class: "muted" }, `package ${c.package.slice(0, 16)}…, ${c.method}, ${c.concurrency} at once, wave ${c.wave ?? "—"}`)),
        h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Endpoint", "State", "Attempts", "Last error"].map((t) => h("th", {}, t)))),
          h("tbody", {}, c.deviceList.map((d) => h("tr", {},
            h("td", { class: "mono" }, h("a", { href: `#/devices/${ep(d.endpoint)}` }, d.endpoint)),
            h("td", {}, h("span", { class: "pill pill-plain", dataset: { state: d.state } }, d.state)),
            h("td", {}, String(d.attempts)),
            h("td", {}, d.error ?? ""))))));
    } catch (error) {
      replace(body, h("p", { class: "error-text pad" }, String(error.message ?? error)));
    }
  }

  replace(root,
    pageHead(id ? `Campaign ${id}` : "Campaigns", "Firmware campaigns: each device's progress as it reports it (/5/0/3, /5/0/5, and /3/0/3 after its reboot).",
      id ? h("a", { class: "btn", href: "#/campaigns" }, icon("chevron"), "All campaigns") : null),
    h("section", { class: "card" }, body));
  load();
  return () => clearTimeout(timer);
}
