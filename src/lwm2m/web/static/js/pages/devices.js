// Devices: every registration, live, with search and filters.

import { ago, duration, h, icon, replace } from "../dom.js";
import { peerAddress } from "../format.js";
import { state, subscribe } from "../store.js";

const filters = { text: "", binding: "", version: "", queue: "", status: "online", compliance: "" };

function verdict(endpoint) {
  const checked = state.compliance.get(endpoint);
  return checked ? (checked.passed ? "pass" : "fail") : "unchecked";
}

const STATUS = {
  registered: ["Online", "ok"],
  updated: ["Online", "ok"],
  deregistered: ["Left", "muted"],
  expired: ["Expired", "warn"],
};

function online(entry) {
  return entry.status === "registered" || entry.status === "updated";
}

function matches(entry) {
  const reg = entry.registration;
  const text = filters.text.trim().toLowerCase();
  if (text && ![reg.endpoint, peerAddress(reg.address), reg.registrationId].some((v) => String(v).toLowerCase().includes(text))) return false;
  if (filters.binding && reg.binding !== filters.binding) return false;
  if (filters.version && reg.lwm2mVersion !== filters.version) return false;
  if (filters.queue && String(reg.queueMode) !== filters.queue) return false;
  if (filters.status === "online" && !online(entry)) return false;
  if (filters.status === "gone" && online(entry)) return false;
  if (filters.compliance && verdict(reg.endpoint) !== filters.compliance) return false;
  return true;
}

function objectCount(reg) {
  return new Set(reg.objectLinks.map((link) => link.target.split("/")[1]).filter((id) => /^\d+$/.test(id))).size;
}

function select(name, label, options) {
  return h("label", { class: "filter" },
    h("span", {}, label),
    h("select", {
      name,
      onchange: (event) => { filters[name] = event.target.value; refresh(); },
    }, options.map(([value, text]) => h("option", { value, selected: filters[name] === value }, text))));
}

function tile(label, value, hint, look = "") {
  return h("div", { class: ["tile", look] },
    h("span", { class: "tile-label" }, label),
    h("span", { class: "tile-value" }, value),
    h("span", { class: "tile-hint" }, hint));
}

let refresh = () => {};

/** Rows drawn at most: a fleet of thousands is searched, not scrolled. */
const ROWS_SHOWN = 500;

export function render(root) {
  const tiles = h("section", { class: "tiles" });
  const body = h("tbody");
  const count = h("span", { class: "muted" });
  const flash = new Set();

  const bindings = () => [...new Set([...state.clients.values()].map((entry) => entry.registration.binding))].sort();
  const filterBar = h("div", { class: "filters" });

  let drawnBindings = null;
  function drawFilters() {
    // Rebuilt only when a new binding appears: the search box keeps its focus while typing.
    const known = bindings().join(",");
    if (known === drawnBindings) return;
    drawnBindings = known;
    replace(filterBar,
      h("label", { class: "search" }, icon("search"),
        h("input", {
          type: "search", placeholder: "Search endpoint, address or registration ID", value: filters.text,
          "aria-label": "Search devices",
          oninput: (event) => { filters.text = event.target.value; drawRows(); },
        })),
      select("status", "Status", [["online", "Online"], ["gone", "Left or expired"], ["", "All"]]),
      select("binding", "Binding", [["", "Any"], ...bindings().map((b) => [b, b])]),
      select("version", "LwM2M", [["", "Any"], ["1.0", "1.0"], ["1.1", "1.1"], ["1.2", "1.2"]]),
      select("queue", "Queue mode", [["", "Any"], ["true", "Yes"], ["false", "No"]]),
      select("compliance", "Compliance", [["", "Any"], ["pass", "Compliant"], ["fail", "Not compliant"], ["unchecked", "Not checked"]]));
  }

  function drawTiles() {
    const entries = [...state.clients.values()];
    const up = entries.filter(online);
    replace(tiles,
      tile("Online devices", up.length, `${entries.length - up.length} left or expired`, "tile-accent"),
      tile("Queue mode", up.filter((e) => e.registration.queueMode).length, "sleepy devices reached when awake"),
      tile("LwM2M 1.1 and later", up.filter((e) => e.registration.lwm2mVersion !== "1.0").length, "SenML CBOR by default"),
      tile("Notifications", state.counts.notifications, `${state.counts.sends} Send message(s) since this page opened`));
  }

  function drawRows() {
    const entries = [...state.clients.values()]
      .filter(matches)
      .sort((a, b) => Number(online(b)) - Number(online(a)) || b.registration.registeredAt - a.registration.registeredAt);
    count.textContent = entries.length > ROWS_SHOWN
      ? `first ${ROWS_SHOWN} of ${entries.length} matching (${state.clients.size} known): refine the search`
      : `${entries.length} of ${state.clients.size}`;
    if (!entries.length) {
      const none = state.clients.size === 0;
      replace(body, h("tr", {}, h("td", { colSpan: 9, class: "empty" },
        h("strong", {}, none ? "No devices yet" : "No device matches these filters"),
        h("span", {}, none
          ? `Point a device at this server's CoAP port, e.g. lwm2m client --endpoint urn:imei:490154203237518 --server coap://${location.hostname}:5683 — it appears here the moment it registers.`
          : "Change the search or the filters above."))));
      return;
    }
    replace(body, entries.slice(0, ROWS_SHOWN).map((entry) => {
      const reg = entry.registration;
      const [label, look] = STATUS[entry.status];
      const row = h("tr", {
        class: ["row-link", !online(entry) && "row-gone", flash.has(reg.endpoint) && "flash"],
        dataset: { endpoint: reg.endpoint },
        onclick: () => { location.hash = `#/devices/${encodeURIComponent(reg.endpoint)}`; },
      },
        h("td", {}, h("a", { class: "endpoint", href: `#/devices/${encodeURIComponent(reg.endpoint)}` }, reg.endpoint),
          verdict(reg.endpoint) === "unchecked" ? null : h("span", { class: ["pill", verdict(reg.endpoint) === "pass" ? "pill-ok" : "pill-bad"], title: "compliance check run from this console" },
            verdict(reg.endpoint) === "pass" ? "compliant" : "not compliant")),
        h("td", {}, h("span", { class: ["pill", `pill-${look}`] }, h("i", { class: "dot" }), label)),
        h("td", {}, reg.lwm2mVersion),
        h("td", {}, h("code", {}, reg.binding)),
        h("td", {}, reg.queueMode ? "Yes" : "No"),
        h("td", { class: "num" }, duration(reg.lifetime)),
        h("td", { class: "mono" }, peerAddress(reg.address)),
        h("td", { class: "num" }, objectCount(reg)),
        h("td", { title: new Date(reg.lastSeen * 1000).toLocaleString(), class: "nowrap" }, ago(online(entry) ? reg.lastSeen : entry.changedAt)));
      return row;
    }));
    flash.clear();
  }

  let pending = false;
  refresh = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; drawFilters(); drawTiles(); drawRows(); });
  };

  replace(root,
    h("div", { class: "page-head" },
      h("div", {},
        h("h1", {}, "Devices"),
        h("p", { class: "lede" }, "Registrations as they happen: new devices, updates and expiries appear without reloading.")),
      count),
    tiles,
    h("section", { class: "card" },
      filterBar,
      h("div", { class: "table-wrap" },
        h("table", { class: "table", id: "device-table" },
          h("thead", {}, h("tr", {},
            ["Endpoint", "Status", "LwM2M", "Binding", "Queue", "Lifetime", "Address", "Objects", "Last update"]
              .map((title) => h("th", {}, title)))),
          body))));
  refresh();

  const unsubscribe = subscribe((kind, detail) => {
    if (kind === "clients") {
      if (detail.endpoint) flash.add(detail.endpoint);
      refresh();
    } else if (kind === "event" && (detail.type === "notification" || detail.type === "send")) {
      drawTiles();
    }
  });
  const ticker = setInterval(drawRows, 5000);
  return () => { unsubscribe(); clearInterval(ticker); };
}
