// Security credentials: the PSK each device authenticates with. Keys are write-only.

import { api, ep } from "../api.js";
import { form } from "../dialog.js";
import { h, icon, replace } from "../dom.js";
import { HEX, attempt, loadList, pageHead, removeEntry, rowActions } from "./common.js";

const MISSING = [
  "Security credentials are",
  "This server has no credentials API (GET, PUT and DELETE /api/security/{endpoint}). It comes with DTLS support; until then devices connect without security.",
];

export function render(root) {
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted pad" }, "Loading…"));
  const add = h("button", { class: "btn btn-primary", hidden: true, onclick: () => edit(null) }, icon("plus"), "Add credentials");

  async function load() {
    add.hidden = !(await loadList(body, "/api/security", draw, MISSING));
  }

  function draw(items) {
    if (!items.length) {
      replace(body, h("div", { class: "empty" }, h("strong", {}, "No credentials yet"),
        h("span", {}, "Add a pre-shared key for a device so that it can register over DTLS.")));
      return;
    }
    replace(body, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Endpoint", "Mode", "Identity", "Key", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((item) => h("tr", {},
        h("td", { class: "mono" }, item.endpoint),
        h("td", {}, h("span", { class: "pill pill-plain" }, String(item.mode ?? "psk").toUpperCase())),
        h("td", { class: "mono" }, item.identity ?? "—"),
        h("td", {}, h("span", { class: "muted" }, item.hasKey === false ? "not set" : "•••••••• (write-only)")),
        rowActions(() => edit(item), async () => {
          if (await removeEntry("/api/security", item.endpoint, "credentials", "The device can no longer authenticate with them.")) load();
        }))))));
  }

  async function edit(item) {
    const values = await form({
      title: item ? `Credentials of ${item.endpoint}` : "New credentials",
      intro: "The key is write-only: the server stores it and never shows it again. Enter it whenever you save.",
      fields: [
        { name: "endpoint", label: "Endpoint name", value: item?.endpoint ?? "", required: true, placeholder: "urn:imei:490154203237518" },
        { name: "mode", label: "Security mode", type: "select", value: item?.mode ?? "psk", options: [["psk", "Pre-shared key (DTLS 1.2 PSK)"]] },
        { name: "identity", label: "PSK identity", value: item?.identity ?? "", required: true },
        { name: "key", label: "PSK key", type: "password", required: true, placeholder: "hex, e.g. 000102030405060708090a0b0c0d0e0f", hint: "hex; 16 bytes or more recommended", autocomplete: "new-password" },
      ],
      submit: "Save",
      check: (v) => (HEX.test(v.key.trim()) ? null : "The key must be hex digits, two per byte"),
    });
    if (!values) return;
    const endpoint = values.endpoint.trim();
    const body_ = { mode: values.mode, identity: values.identity, key: values.key.trim() };
    if (await attempt(() => api(`/api/security/${ep(endpoint)}`, { method: "PUT", body: body_ }), `Credentials of ${endpoint} saved`)) load();
  }

  replace(root,
    pageHead("Security", "Pre-shared keys that devices authenticate with over DTLS. Identities are bound to endpoint names.", add),
    h("section", { class: "card" }, body));
  load();
}
