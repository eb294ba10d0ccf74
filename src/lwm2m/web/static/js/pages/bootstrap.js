// Bootstrap configurations: the server accounts the bootstrap server writes to each device.

import { api, ep } from "../api.js";
import { h, icon, replace } from "../dom.js";
import { HEX, attempt, loadList, pageHead, removeEntry, rowActions } from "./common.js";

const MISSING = [
  "Bootstrap configurations are",
  "This server runs no bootstrap service with a configuration API (GET, PUT and DELETE /api/bootstrap/{endpoint}). Start it with a bootstrap configuration to manage it here.",
];

const NEW_ACCOUNT = { shortServerId: 1, uri: "coaps://", securityMode: "psk", identity: "", lifetime: 86400, binding: "U" };

function input(label, props, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), h("input", { autocomplete: "off", spellcheck: false, ...props }),
    hint ? h("span", { class: "field-hint" }, hint) : null);
}

function accountEditor(account, onRemove) {
  const mode = h("select", { name: "securityMode" },
    [["psk", "PSK (coaps)"], ["nosec", "NoSec (coap)"]].map(([v, t]) => h("option", { value: v, selected: account.securityMode === v }, t)));
  const keyHint = account.hasKey ? "write-only: a key is stored; enter it again to keep it" : "hex, write-only";
  const el = h("fieldset", { class: "account" },
    h("legend", {}, "Server account"),
    h("button", { type: "button", class: "icon-btn account-remove", title: "Remove this account", onclick: () => { el.remove(); onRemove(); } }, icon("close")),
    h("div", { class: "grid-2" },
      input("Short server ID", { name: "shortServerId", type: "number", min: 1, max: 65534, value: account.shortServerId, required: true }),
      h("label", { class: "field" }, h("span", { class: "field-label" }, "Security mode"), mode),
      input("Server URI", { name: "uri", value: account.uri, required: true }, "coaps://host:5684 for PSK, coap://host:5683 for NoSec"),
      input("Binding", { name: "binding", value: account.binding, required: true }, "U, UQ, T, N …"),
      input("PSK identity", { name: "identity", value: account.identity ?? "" }),
      input("PSK key", { name: "key", type: "password", autocomplete: "new-password", placeholder: account.hasKey ? "••••••••" : "" }, keyHint),
      input("Lifetime (s)", { name: "lifetime", type: "number", min: 1, value: account.lifetime, required: true })));
  return el;
}

function readAccount(fieldset) {
  const value = (name) => fieldset.querySelector(`[name=${name}]`).value.trim();
  const account = {
    shortServerId: Number(value("shortServerId")), uri: value("uri"), securityMode: value("securityMode"),
    lifetime: Number(value("lifetime")), binding: value("binding"),
  };
  if (account.securityMode === "psk") {
    account.identity = value("identity");
    if (value("key")) account.key = value("key");
  }
  return account;
}

/** The editor dialog; resolves to [endpoint, configuration] or null. */
function editor(endpoint, config) {
  return new Promise((resolve) => {
    const accounts = h("div", { class: "accounts" });
    const error = h("p", { class: "form-error", hidden: true });
    const name = input("Endpoint name", { name: "endpoint", value: endpoint ?? "", required: true, placeholder: "urn:imei:… or * for every other device" });
    const deletes = input("Delete first", { name: "delete", value: (config?.delete ?? ["/0", "/1"]).join(", ") }, "paths the device deletes before the accounts are written");
    const addAccount = () => accounts.append(accountEditor({ ...NEW_ACCOUNT, shortServerId: accounts.children.length + 1 }, () => {}));
    const body = h("form", { method: "dialog", class: "form" },
      h("header", { class: "dialog-head" }, h("h2", {}, endpoint ? `Bootstrap configuration of ${endpoint}` : "New bootstrap configuration"),
        h("button", { type: "button", class: "icon-btn", title: "Close", onclick: () => dialog.close() }, icon("close"))),
      h("div", { class: "fields" }, name, deletes, accounts,
        h("button", { type: "button", class: "btn btn-ghost", onclick: addAccount }, icon("plus"), "Add server account")),
      error,
      h("footer", { class: "dialog-foot" },
        h("button", { type: "button", class: "btn btn-ghost", onclick: () => dialog.close() }, "Cancel"),
        h("button", { type: "submit", class: "btn btn-primary" }, "Save")));
    const dialog = h("dialog", { class: "dialog dialog-wide" }, body);
    for (const account of config?.servers ?? [NEW_ACCOUNT]) accounts.append(accountEditor(account, () => {}));
    let result = null;
    body.addEventListener("submit", (event) => {
      const servers = [...accounts.querySelectorAll("fieldset.account")].map(readAccount);
      const badKey = servers.find((s) => s.key !== undefined && !HEX.test(s.key));
      const problem = !servers.length ? "Add at least one server account"
        : badKey ? `The key of server ${badKey.shortServerId} must be hex digits, two per byte` : null;
      if (problem) {
        event.preventDefault();
        error.textContent = problem;
        error.hidden = false;
        return;
      }
      const paths = body.elements.delete.value.split(",").map((p) => p.trim()).filter(Boolean);
      const { servers: _, delete: __, endpoint: ___, ...kept } = config ?? {};
      result = [body.elements.endpoint.value.trim(), { ...kept, servers, delete: paths }];
    });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function render(root) {
  const body = h("div", { class: "table-wrap" }, h("p", { class: "muted pad" }, "Loading…"));
  const add = h("button", { class: "btn btn-primary", hidden: true, onclick: () => edit(null, null) }, icon("plus"), "Add configuration");

  async function load() {
    add.hidden = !(await loadList(body, "/api/bootstrap", draw, MISSING));
  }

  function draw(items) {
    if (!items.length) {
      replace(body, h("div", { class: "empty" }, h("strong", {}, "No bootstrap configurations"),
        h("span", {}, "A configuration tells the bootstrap server which server accounts to write to a device.")));
      return;
    }
    replace(body, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Endpoint", "Server accounts", "Delete first", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((item) => h("tr", {},
        h("td", { class: "mono" }, item.endpoint === "*" ? h("span", {}, "* ", h("span", { class: "muted" }, "(every other device)")) : item.endpoint),
        h("td", {}, (item.servers ?? []).map((s) => h("div", { class: "account-line" },
          h("span", { class: "pill pill-plain" }, `#${s.shortServerId}`), h("code", {}, s.uri),
          h("span", { class: "muted" }, ` ${String(s.securityMode).toUpperCase()} · ${s.binding} · ${s.lifetime} s`)))),
        h("td", { class: "mono" }, (item.delete ?? []).join(", ") || "—"),
        rowActions(() => edit(item.endpoint, item), async () => {
          if (await removeEntry("/api/bootstrap", item.endpoint, "bootstrap configuration", "The device can no longer bootstrap from this server.")) load();
        }))))));
  }

  async function edit(endpoint, config) {
    const result = await editor(endpoint, config);
    if (!result) return;
    const [name, configuration] = result;
    if (await attempt(() => api(`/api/bootstrap/${ep(name)}`, { method: "PUT", body: configuration }), `Bootstrap configuration of ${name} saved`)) load();
  }

  replace(root,
    pageHead("Bootstrap", "What the bootstrap server writes to each device: its server accounts, security and the paths to clear first.", add),
    h("section", { class: "card" }, body));
  load();
}
