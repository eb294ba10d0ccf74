// The emulated operator network behind NIDD (GET /api/network, relayed from lwm2m network at
// the server's --nidd URL): its clock, and each UE's radio, power saving, buffered data and
// counters. Refreshed every two seconds; a server without it says so.

import { ApiError, api } from "../api.js";
import { dateTime, h, replace } from "../dom.js";
import { httpProblem } from "../format.js";
import { pageHead, unavailable } from "./common.js";

const REFRESH_MS = 2000;

function seconds(value) {
  return value === null || value === undefined ? "—" : `${value} s`;
}

function ueRow(ue) {
  const sim = ue.sim ?? {};
  const granted = ue.granted ?? {};
  const counters = ue.counters ?? {};
  return h("tr", { dataset: { imsi: sim.imsi ?? "" } },
    h("td", { class: "mono" }, sim.externalId ?? sim.imsi ?? "—", h("div", { class: "muted small" }, sim.msisdn ?? "")),
    h("td", {}, ue.modem === null || ue.modem === undefined ? h("span", { class: "muted" }, "off") : `modem ${ue.modem}`),
    h("td", {}, String(ue.registration ?? "—")),
    h("td", {}, String(ue.rrc ?? "—")),
    h("td", {}, String(ue.reachability ?? "—")),
    h("td", {}, String(ue.psm ?? "—")),
    h("td", { class: "small" }, `TAU ${seconds(granted.periodicTau)} · active ${seconds(granted.activeTime)} · eDRX ${seconds(granted.edrxCycle)}`),
    h("td", { class: "num" }, String(ue.bufferedMt ?? 0)),
    h("td", { class: "small" }, `MO ${counters.moPackets ?? 0} (${counters.moOctets ?? 0} B) · MT ${counters.mtDelivered ?? 0} delivered, ${counters.mtBuffered ?? 0} buffered, ${counters.mtExpired ?? 0} expired`));
}

export function render(root) {
  const body = h("div", {}, h("p", { class: "muted pad" }, "Loading…"));
  let timer = null;

  async function load() {
    try {
      const data = await api("/api/network");
      const ues = Array.isArray(data.ues) ? data.ues : Object.values(data.ues ?? {});
      replace(body,
        h("section", { class: "tiles" },
          h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Network time"),
            h("span", { class: "tile-value small-value" }, typeof data.time === "number" ? dateTime(data.time) : String(data.time ?? "—")),
            h("span", { class: "tile-hint" }, `${data.timeScale ?? 1}× real time`)),
          h("div", { class: "tile" }, h("span", { class: "tile-label" }, "UEs"), h("span", { class: "tile-value" }, ues.length),
            h("span", { class: "tile-hint" }, `${ues.filter((ue) => ue.modem !== null && ue.modem !== undefined).length} with a modem`)),
          h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Non-IP MTU"), h("span", { class: "tile-value" }, `${data.maxPacketSize ?? "—"} B`),
            h("span", { class: "tile-hint" }, `APN ${data.apn ?? "—"}`)),
          h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Callbacks"), h("span", { class: "tile-value" }, data.callbacks?.sent ?? 0),
            h("span", { class: "tile-hint" }, `${data.callbacks?.failed ?? 0} failed, ${data.callbacks?.dropped ?? 0} dropped`))),
        h("section", { class: "card" },
          h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "UEs"), h("span", { class: "muted small" }, data.source ?? "")),
          ues.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact", id: "ue-table" },
            h("thead", {}, h("tr", {}, ["UE", "Modem", "Registration", "RRC", "Reachability", "PSM", "Granted", "Buffered MT", "Counters"].map((t) => h("th", {}, t)))),
            h("tbody", {}, ues.map(ueRow))))
            : h("p", { class: "muted pad" }, "No UE attached.")));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(body, h("section", { class: "card" }, error.status === 404
        ? unavailable("A network status is", error.message)
        : h("p", { class: "error-text pad" }, httpProblem(error))));
      if (error.status === 404) return;
    }
    timer = setTimeout(load, REFRESH_MS);
  }

  replace(root,
    pageHead("Network", "The emulated operator network the server reaches NIDD devices through (lwm2m network, docs/network.md)."),
    body);
  load();
  return () => clearTimeout(timer);
}
