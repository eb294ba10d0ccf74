// One device: its object tree named by the models, every LwM2M operation, live values with
// time charts, Send data and the device's event log.

import { ApiError, api, ep } from "../api.js";
import { chart, chartable, sparkline } from "../chart.js";
import { confirm, form } from "../dialog.js";
import { ago, clock, dateTime, duration, h, icon, replace, toast } from "../dom.js";
import { FORMATS, codeText, formatName, httpProblem, isNumeric, isSuccess, parseInput, peerAddress, showValue, valueField } from "../format.js";
import { track } from "../pending.js";
import { device, log, merge, model, models, record, state, subscribe, targetKey } from "../store.js";
import { messageLog } from "./messages.js";

let format = "";
const ATTRIBUTES = [
  ["pmin", "Minimum period (s)"], ["pmax", "Maximum period (s)"], ["gt", "Greater than"],
  ["lt", "Less than"], ["st", "Step"], ["epmin", "Evaluation min period (s)"], ["epmax", "Evaluation max period (s)"],
];
const LOG_SHOWN = 120;
const LOG_KINDS = {
  registration: "register", notification: "notify", send: "send", observe: "observe",
  queue: "queue", op: "request", "op-error": "error", other: "event",
};
/** Objects with more instances than this list them only while selected. */
const FOLDED = 4;
/** Values per object fetched from the server's history when the page opens. */
const HISTORY = 200;
/** Seconds between two looks at the server's state of the device (observations, awake). */
const STATE_EVERY = 5;

function parsePath(path) {
  return path.split("/").filter(Boolean).map(Number);
}

/** Object ID -> sorted instance IDs, from the registration's links and values seen since. */
function objectTree(registration, values) {
  const tree = new Map();
  const add = (objectId, instanceId) => {
    if (!tree.has(objectId)) tree.set(objectId, new Set());
    if (instanceId !== undefined) tree.get(objectId).add(instanceId);
  };
  for (const link of registration?.objectLinks ?? []) {
    const match = link.target.match(/^\/(\d+)(?:\/(\d+))?$/);
    if (match) add(Number(match[1]), match[2] === undefined ? undefined : Number(match[2]));
  }
  for (const path of values.keys()) {
    const [objectId, instanceId] = parsePath(path);
    if (tree.has(objectId)) add(objectId, instanceId);
  }
  return new Map([...tree.entries()].sort(([a], [b]) => a - b).map(([id, set]) => [id, [...set].sort((a, b) => a - b)]));
}

export function render(root, [endpoint]) {
  const dev = device(endpoint);
  dev.attributes ??= new Map();
  const known = new Map();
  let summaries = new Map();
  let selected = null;
  const selection = new Set();
  let response = null;

  const entry = () => state.clients.get(endpoint);
  const api_ = (suffix = "") => `/api/clients/${ep(endpoint)}${suffix}`;
  const resourceOf = (path) => {
    const [objectId, , resourceId] = parsePath(path);
    return known.get(objectId)?.resources.find((r) => r.id === resourceId) ?? null;
  };
  const objectName = (objectId) => known.get(objectId)?.name ?? summaries.get(objectId)?.name ?? `Object ${objectId}`;

  const head = h("section", { class: "device-head card" });
  const treeEl = h("nav", { class: "tree", "aria-label": "Objects" });
  const panel = h("section", { class: "panel card" });
  const responseEl = h("section", { class: "card response", hidden: true });
  const toolbar = h("div", { class: "composite" });
  const live = h("section", { class: "card" });
  const sends = h("section", { class: "card" });
  const logEl = h("section", { class: "card" });
  const pendingHost = h("div", { class: "pending-host", id: "pending" });
  const awakeEl = h("span", { class: "awake-host" });
  const messages = messageLog(endpoint);
  let trigger = null;
  let historyLoaded = false;
  // The button a click is on (capture phase, before its handler): the operation it starts
  // marks that button busy; a dialog's submit is outside `root`, so its opener stays marked.
  root.addEventListener("click", (event) => {
    const button = event.target.closest?.("button");
    if (button && !button.closest(".pending")) trigger = button;
  }, true);

  // --- operations -------------------------------------------------------------------------

  async function run(label, target, method, suffix, { query = {}, body, formatted = false, source = "read", written = null } = {}) {
    const op = track(`${label} ${target}`, { button: trigger, host: pendingHost });
    trigger = null;
    const params = formatted ? { ...query, format } : query;
    try {
      const result = await api(api_(suffix), { method, query: params, body, signal: op.signal });
      const ms = Math.round(op.elapsed() * 1000);
      const ok = isSuccess(result.status);
      response = { label, target, result, ms, at: Date.now() / 1000, written: ok ? written : null };
      if (result.values) record(endpoint, result.values, source);
      if (ok && written) record(endpoint, written, "write");
      if (result.links) for (const link of result.links) dev.attributes.set(link.target, link.attributes);
      log(endpoint, ok ? "op" : "op-error", `${label} ${target}: ${codeText(result.status)}${result.message ? ` (${result.message})` : ""}`);
      toast(`${label} ${target}: ${codeText(result.status)}`, ok ? "ok" : "error");
      drawResponse();
      refreshValues();
      return ok ? result : null;
    } catch (error) {
      if (op.signal.aborted) {
        response = { label, target, cancelled: op.elapsed(), at: Date.now() / 1000 };
        log(endpoint, "op-error", `${label} ${target}: cancelled after ${op.elapsed().toFixed(1)} s`);
        drawResponse();
        return null;
      }
      if (!(error instanceof ApiError)) throw error;
      response = { label, target, error, at: Date.now() / 1000 };
      log(endpoint, "op-error", `${label} ${target}: ${httpProblem(error)}`);
      toast(`${label} ${target}: ${httpProblem(error)}`, "error");
      drawResponse();
      return null;
    } finally {
      op.done();
    }
  }

  const read = (path) => run("Read", path, "GET", path, { formatted: true });
  const discover = (path) => run("Discover", path, "GET", `${path}/discover`);

  async function observe(path) {
    if (await run("Observe", path, "POST", `${path}/observe`, { formatted: true, source: "notify" })) dev.observed.add(path);
    drawAll();
  }

  async function cancel(target) {
    const paths = target.split(" + ");
    const result = paths.length > 1
      ? await run("Cancel observation", target, "DELETE", "/composite/observe", { body: { paths } })
      : await run("Cancel observation", target, "DELETE", `${target}/observe`);
    if (result) dev.observed.delete(target);
    drawAll();
  }

  async function writeResource(path) {
    const resource = resourceOf(path);
    const current = dev.values.get(path)?.value;
    if (resource?.multiple) {
      const instances = Object.fromEntries(
        [...dev.values.entries()].filter(([p]) => p.startsWith(`${path}/`)).map(([p, v]) => [p.split("/").pop(), v.value]));
      const values = await form({
        title: `Write ${resource.name}`,
        intro: `Replaces every instance of ${path}. Give a JSON object from instance ID to value.`,
        fields: [{ name: "instances", label: "Instances", type: "textarea", value: JSON.stringify(instances, null, 1), hint: resource.units }],
        submit: "Write",
        check: (v) => { try { JSON.parse(v.instances); return null; } catch (e) { return `Not JSON: ${e.message}`; } },
      });
      if (!values) return;
      const body = Object.fromEntries(Object.entries(JSON.parse(values.instances)).map(([id, value]) => [`${path}/${id}`, value]));
      await run("Write", path, "PUT", path, { body: { values: body }, formatted: true, written: body });
      return;
    }
    let parsed;
    const values = await form({
      title: `Write ${resource?.name ?? path}`,
      intro: `${path}${resource ? ` · ${resource.type}` : ""}${resource?.range ? ` · range ${resource.range}` : ""}`,
      fields: [valueField("value", "New value", resource, current)],
      submit: "Write",
      check: (v) => {
        try { parsed = parseInput(v.value, resource?.type); return null; } catch (e) { return e.message; }
      },
    });
    if (values) await run("Write", path, "PUT", path, { body: { values: { [path]: parsed } }, formatted: true, written: { [path]: parsed } });
  }

  function writableFields(objectId, instanceId) {
    return (known.get(objectId)?.resources ?? [])
      .filter((r) => r.operations.includes("W") && !r.multiple)
      .map((r) => valueField(`r${r.id}`, `${r.id} · ${r.name}`, r, dev.values.get(`/${objectId}/${instanceId}/${r.id}`)?.value));
  }

  function collect(values, objectId, instanceId) {
    const out = {};
    for (const r of known.get(objectId)?.resources ?? []) {
      const text = values[`r${r.id}`];
      if (text === undefined || text === "") continue;
      out[`/${objectId}/${instanceId}/${r.id}`] = parseInput(text, r.type);
    }
    return out;
  }

  async function writeInstance(objectId, instanceId) {
    const path = `/${objectId}/${instanceId}`;
    let body;
    const values = await form({
      title: `Write ${objectName(objectId)} ${path}`,
      intro: "Empty fields are left out.",
      fields: [...writableFields(objectId, instanceId),
        { name: "replace", label: "Replace the instance (PUT) instead of updating it (PATCH)", type: "checkbox" }],
      submit: "Write",
      check: (v) => {
        try { body = collect(v, objectId, instanceId); } catch (e) { return e.message; }
        return Object.keys(body).length ? null : "Fill in at least one value";
      },
    });
    if (values) await run("Write", path, values.replace ? "PUT" : "PATCH", path, { body: { values: body }, formatted: true, written: body });
  }

  async function create(objectId) {
    const used = objectTree(entry()?.registration, dev.values).get(objectId) ?? [];
    const next = used.length ? Math.max(...used) + 1 : 0;
    let body;
    const values = await form({
      title: `New ${objectName(objectId)} instance`,
      intro: `Create in /${objectId}. Empty fields are left out.`,
      fields: [{ name: "instance", label: "Instance ID", type: "number", value: next, min: 0, max: 65534, required: true },
        ...writableFields(objectId, "")],
      submit: "Create",
      check: (v) => {
        try { body = collect(v, objectId, Number(v.instance)); } catch (e) { return e.message; }
        return Object.keys(body).length ? null : "Fill in at least one value";
      },
    });
    if (!values) return;
    const result = await run("Create", `/${objectId}`, "POST", `/${objectId}`, { body: { values: body }, formatted: true });
    if (result) {
      selected = { objectId, instanceId: Number(values.instance) };
      record(endpoint, body, "read");
      drawAll();
    }
  }

  async function remove(objectId, instanceId) {
    const path = `/${objectId}/${instanceId}`;
    if (!(await confirm(`Delete ${path}?`, `The device deletes ${objectName(objectId)} instance ${instanceId}.`))) return;
    if (await run("Delete", path, "DELETE", path)) {
      for (const key of [...dev.values.keys()]) if (key === path || key.startsWith(`${path}/`)) dev.values.delete(key);
      selected = { objectId, instanceId: null };
      drawAll();
    }
  }

  async function execute(path) {
    const resource = resourceOf(path);
    const values = await form({
      title: `Execute ${resource?.name ?? path}`,
      intro: resource?.description ? resource.description.slice(0, 300) : path,
      fields: [{ name: "args", label: "Arguments", placeholder: "0='value',1", hint: "optional, e.g. 0='http://example.com',1" }],
      submit: "Execute",
    });
    if (values) await run("Execute", path, "POST", `${path}/execute`, { body: { args: values.args } });
  }

  async function writeAttributes(path) {
    const depth = parsePath(path).length;
    const names = depth >= 3 && isNumeric(resourceOf(path)) ? ATTRIBUTES : ATTRIBUTES.filter(([n]) => !["gt", "lt", "st"].includes(n));
    const current = dev.attributes.get(path) ?? {};
    const values = await form({
      title: `Notification attributes of ${path}`,
      intro: "Set the attributes the device applies to observations of this path. Empty fields are not sent.",
      fields: names.map(([name, label]) => ({ name, label, type: "number", step: "any", value: current[name] ?? "" })),
      submit: "Write attributes",
    });
    if (!values) return;
    const query = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
    if (!Object.keys(query).length) return toast("No attribute given", "error");
    await run("Write-Attributes", path, "PUT", `${path}/attributes`, { query });
  }

  async function composite(kind) {
    const paths = [...selection];
    if (kind === "read") {
      await run("Read-Composite", paths.join(", "), "POST", "/composite/read", { body: { paths }, formatted: true });
    } else if (kind === "observe") {
      if (await run("Observe-Composite", paths.join(", "), "POST", "/composite/observe", { body: { paths }, formatted: true, source: "notify" })) {
        dev.observed.add(paths.join(" + "));
      }
    } else if (kind === "write") {
      const writable = paths.filter((p) => parsePath(p).length >= 3 && resourceOf(p)?.operations.includes("W"));
      if (!writable.length) return toast("Select writable resources to write them together", "error");
      let body;
      const values = await form({
        title: "Write-Composite",
        intro: "One request writes all of these resources.",
        fields: writable.map((p, i) => valueField(`v${i}`, `${p} · ${resourceOf(p).name}`, resourceOf(p), dev.values.get(p)?.value)),
        submit: "Write",
        check: (v) => {
          try {
            body = Object.fromEntries(writable.map((p, i) => [p, parseInput(v[`v${i}`], resourceOf(p).type)]));
            return null;
          } catch (e) { return e.message; }
        },
      });
      if (values) await run("Write-Composite", writable.join(", "), "POST", "/composite/write", { body: { values: body }, formatted: true, written: body });
    }
    drawAll();
  }

  // --- drawing ----------------------------------------------------------------------------

  function drawHead() {
    const current = entry();
    const reg = current?.registration;
    const status = !current ? ["Not registered", "muted"]
      : current.status === "expired" ? ["Expired", "warn"]
        : current.status === "deregistered" ? ["Left", "muted"] : ["Online", "ok"];
    const nidd = reg?.address?.transport === "N";
    const reach = dev.nidd?.reachability;
    const meta = reg ? [
      ["Registration ID", reg.registrationId],
      [nidd ? "External identifier" : "Address", nidd ? reg.address.address : peerAddress(reg.address)],
      ["Lifetime", duration(reg.lifetime)],
      ["Registered", dateTime(reg.registeredAt)], ["Last update", ago(reg.lastSeen)],
      nidd ? ["Last reachability event", reach ? `${reach.event} ${ago(Date.parse(reach.time) / 1000)}` : "none yet"] : null,
      nidd && dev.nidd ? ["At the SCEF", dev.nidd.status] : null,
    ].filter(Boolean) : [];
    replace(head,
      h("div", { class: "crumbs" }, h("a", { href: "#/devices" }, "Devices"), h("span", {}, "/"), h("span", {}, "Device")),
      h("div", { class: "device-title" },
        h("h1", { class: "endpoint-title" }, endpoint),
        h("span", { class: ["pill", `pill-${status[1]}`] }, h("i", { class: "dot" }), status[0]),
        reg ? [
          h("span", { class: "pill pill-plain" }, `LwM2M ${reg.lwm2mVersion}`),
          h("span", { class: "pill pill-plain" }, `Binding ${reg.binding}`),
          nidd ? h("span", { class: "pill pill-info", id: "transport-pill" }, "Transport N · NIDD") : null,
          reg.queueMode ? h("span", { class: "pill pill-info" }, "Queue mode") : null,
          reg.queueMode ? awakeEl : null,
        ] : null,
        h("a", { class: "btn btn-ghost btn-sm head-link", href: `#/compliance/${encodeURIComponent(endpoint)}` }, icon("check"), "Compliance")),
      h("dl", { class: "meta" }, meta.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
      toolbar);
    drawToolbar();
    drawAwake();
  }

  /** Awake or asleep, as the server judges a queue-mode device (GET .../state). */
  function drawAwake() {
    const session = dev.session;
    if (!session || !session.queueMode) {
      replace(awakeEl);
      return;
    }
    const left = Math.max(0, session.awakeFor - (Date.now() / 1000 - session.at));
    const queued = session.queued ? ` · ${session.queued} queued` : "";
    replace(awakeEl, left > 0
      ? h("span", { class: "pill pill-ok", id: "awake", title: "The server sends requests at once" }, h("i", { class: "dot" }), `Awake · ${Math.ceil(left)} s${queued}`)
      : h("span", { class: "pill pill-muted", id: "awake", title: "Requests wait in the server's queue until the device speaks" }, h("i", { class: "dot" }), `Asleep${queued}`));
  }

  function drawToolbar() {
    replace(toolbar,
      h("label", { class: "filter" }, h("span", {}, "Content format"),
        h("select", { id: "content-format", onchange: (e) => { format = e.target.value; } },
          FORMATS.map(([value, label]) => h("option", { value, selected: value === format }, label)))),
      h("div", { class: "composite-ops" },
        h("span", { class: "muted" }, selection.size ? `${selection.size} selected:` : "Composite: tick resources to read, write or observe them together"),
        selection.size ? [...selection].map((p) => h("code", { class: "chip" }, p)) : null,
        h("button", { class: "btn btn-sm", disabled: !selection.size, onclick: () => composite("read") }, "Read"),
        h("button", { class: "btn btn-sm", disabled: !selection.size, onclick: () => composite("write") }, "Write"),
        h("button", { class: "btn btn-sm", disabled: !selection.size, onclick: () => composite("observe") }, "Observe"),
        selection.size ? h("button", { class: "btn btn-sm btn-ghost", onclick: () => { selection.clear(); drawAll(); } }, "Clear") : null));
  }

  function drawTree() {
    const tree = objectTree(entry()?.registration, dev.values);
    if (!tree.size) {
      replace(treeEl, h("p", { class: "muted pad" }, "The device announced no objects."));
      return;
    }
    replace(treeEl, h("h2", { class: "card-title" }, "Objects"), h("ul", {}, [...tree.entries()].map(([objectId, instances]) =>
      h("li", { class: "tree-object" },
        h("button", {
          class: ["tree-row", selected?.objectId === objectId && selected.instanceId === null && "active"],
          onclick: () => { selected = { objectId, instanceId: instances.length ? instances[0] : null }; drawAll(); },
          title: summaries.get(objectId)?.urn ?? "",
        },
          h("span", { class: "tree-name" }, objectName(objectId),
            instances.length > FOLDED && selected?.objectId !== objectId ? h("span", { class: "tree-count" }, instances.length) : null),
          h("code", { class: "tree-id" }, `/${objectId}`)),
        instances.length && (instances.length <= FOLDED || selected?.objectId === objectId) ? h("ul", {}, instances.map((instanceId) =>
          h("li", {}, h("button", {
            class: ["tree-row", "tree-instance", selected?.objectId === objectId && selected.instanceId === instanceId && "active"],
            dataset: { path: `/${objectId}/${instanceId}` },
            onclick: () => { selected = { objectId, instanceId }; drawAll(); },
          }, h("span", {}, `Instance ${instanceId}`), h("code", { class: "tree-id" }, `/${objectId}/${instanceId}`))))) : null))));
  }

  function opsBadges(operations) {
    return h("span", { class: "ops" }, ["R", "W", "E"].filter((op) => operations.includes(op)).map((op) =>
      h("span", { class: `op op-${op}`, title: { R: "Read", W: "Write", E: "Execute" }[op] }, op)));
  }

  function valueCell(path, resource) {
    const cell = h("td", { class: "value", dataset: { path } });
    fillValue(cell, path, resource);
    return cell;
  }

  function fillValue(cell, path, resource) {
    if (resource?.multiple) {
      const items = [...dev.values.entries()].filter(([p]) => p.startsWith(`${path}/`));
      replace(cell, items.length
        ? items.map(([p, v]) => h("span", { class: "chip", title: p }, `${p.split("/").pop()}: ${showValue(v.value, resource)}`))
        : h("span", { class: "muted" }, "—"));
      return;
    }
    const seen = dev.values.get(path);
    const series = dev.series.get(path);
    replace(cell,
      series && series.length > 1 && chartable(resource) ? sparkline(series) : null,
      h("span", { class: ["val", seen?.source === "notify" && "val-live"], title: seen ? `${seen.source === "read" ? "read" : seen.source === "send" ? "sent" : "notified"} ${ago(seen.at)}` : "not read yet" },
        showValue(seen?.value, resource)));
  }

  function refreshValues() {
    for (const cell of panel.querySelectorAll("td.value[data-path]")) fillValue(cell, cell.dataset.path, resourceOf(cell.dataset.path));
  }

  function resourceRow(objectId, instanceId, resource) {
    const path = `/${objectId}/${instanceId}/${resource.id}`;
    const observed = dev.observed.has(path);
    const ops = resource.operations;
    const attributes = dev.attributes.get(path);
    const shown = attributes ? Object.entries(attributes).filter(([k]) => k !== "dim") : [];
    return h("tr", { dataset: { path }, class: observed && "row-observed" },
      h("td", { class: "check" }, ops.includes("E") ? null : h("input", {
        type: "checkbox", checked: selection.has(path), "aria-label": `Select ${path}`,
        onchange: (e) => { if (e.target.checked) selection.add(path); else selection.delete(path); drawToolbar(); },
      })),
      h("td", { class: "num mono" }, resource.id),
      h("td", {},
        h("div", { class: "res-name", title: resource.description }, resource.name, resource.mandatory ? h("span", { class: "req", title: "mandatory" }, "*") : null),
        h("div", { class: "res-type" }, opsBadges(ops), `${resource.type}${resource.multiple ? " · multiple" : ""}`,
          shown.length ? h("span", { class: "attrs" }, shown.map(([k, v]) => `${k}=${v}`).join(" ")) : null)),
      valueCell(path, resource),
      h("td", { class: "units" }, resource.units),
      h("td", { class: "actions" },
        ops.includes("R") ? h("button", { class: "btn btn-xs", onclick: () => read(path) }, "Read") : null,
        ops.includes("W") ? h("button", { class: "btn btn-xs", onclick: () => writeResource(path) }, "Write") : null,
        ops.includes("E") ? h("button", { class: "btn btn-xs btn-primary", onclick: () => execute(path) }, icon("play"), "Execute") : null,
        ops.includes("R") ? (observed
          ? h("button", { class: "btn btn-xs btn-live", onclick: () => cancel(path) }, "Stop")
          : h("button", { class: "btn btn-xs", onclick: () => observe(path) }, "Observe")) : null,
        h("details", { class: "menu" },
          h("summary", { class: "icon-btn", title: "More", "aria-label": `More for ${path}` }, icon("more")),
          h("div", { class: "menu-list" },
            h("button", { class: "menu-item", onclick: () => discover(path) }, "Discover"),
            h("button", { class: "menu-item", onclick: () => writeAttributes(path) }, "Write attributes"),
            observed ? h("button", { class: "menu-item", onclick: () => cancel(path) }, "Cancel observation") : null))));
  }

  function drawPanel() {
    if (!selected) {
      replace(panel, h("div", { class: "empty" }, h("strong", {}, "Pick an object"), h("span", {}, "Choose an object instance on the left to see its resources.")));
      return;
    }
    const { objectId, instanceId } = selected;
    const objectModel = known.get(objectId);
    const path = instanceId === null ? `/${objectId}` : `/${objectId}/${instanceId}`;
    const observed = dev.observed.has(path);
    const actions = h("div", { class: "panel-actions" },
      h("button", { class: "btn btn-primary", onclick: () => read(path), id: "read-instance" }, icon("read"), "Read"),
      observed ? h("button", { class: "btn btn-live", onclick: () => cancel(path) }, "Stop observing")
        : h("button", { class: "btn", onclick: () => observe(path) }, icon("eye"), "Observe"),
      h("button", { class: "btn", onclick: () => discover(path) }, "Discover"),
      instanceId !== null && objectModel ? h("button", { class: "btn", onclick: () => writeInstance(objectId, instanceId) }, icon("edit"), "Write") : null,
      h("button", { class: "btn", onclick: () => writeAttributes(path) }, "Attributes"),
      objectModel?.multiple || instanceId === null ? h("button", { class: "btn", onclick: () => create(objectId) }, icon("plus"), "Create") : null,
      instanceId !== null ? h("button", { class: "btn btn-ghost btn-danger-text", onclick: () => remove(objectId, instanceId) }, icon("trash"), "Delete") : null);
    replace(panel,
      h("div", { class: "panel-head" },
        h("div", {},
          h("h2", {}, objectName(objectId), h("code", { class: "path" }, path)),
          objectModel ? h("p", { class: "desc", title: objectModel.description }, objectModel.description) : null,
          objectModel ? h("p", { class: "muted small" }, `Object version ${objectModel.version} · ${objectModel.multiple ? "multiple instances" : "single instance"} · ${objectModel.mandatory ? "mandatory" : "optional"}`) : null),
        actions),
      instanceId === null ? h("div", { class: "empty" }, h("strong", {}, "No instances"), h("span", {}, "This object has no instances on the device. Create one or read the object."))
        : !objectModel ? h("div", { class: "empty" }, h("strong", {}, "No model for this object"), h("span", {}, "The server has no definition of this object; read it to see raw values."))
          : h("div", { class: "table-wrap" }, h("table", { class: "table resources" },
            h("thead", {}, h("tr", {}, ["", "ID", "Resource", "Value", "Units", ""].map((t) => h("th", {}, t)))),
            h("tbody", {}, objectModel.resources.map((r) => resourceRow(objectId, instanceId, r))))));
  }

  function drawResponse() {
    if (!response) return;
    responseEl.hidden = false;
    const { label, target, result, error, ms, written, cancelled } = response;
    if (cancelled !== undefined) {
      replace(responseEl,
        h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Response"),
          h("span", { class: "muted mono" }, `${label} ${target}`),
          h("span", { class: "pill pill-warn", id: "response-status" }, "Cancelled")),
        h("p", { class: "muted pad-x" }, `Cancelled after ${cancelled.toFixed(1)} s: the console stopped waiting; a request the server had sent may still reach the device.`));
      return;
    }
    const status = error ? (error.status ? `HTTP ${error.status}` : "Unreachable") : codeText(result.status);
    const ok = !error && isSuccess(result.status);
    let body;
    if (error) body = h("p", { class: "error-text", id: "response-error" }, httpProblem(error));
    else if (!ok) {
      body = h("p", { class: "error-text", id: "response-error" }, result.message
        ? `The device answered ${codeText(result.status)}: ${result.message}`
        : `The device answered ${codeText(result.status)} (no diagnostic payload)`);
    } else if (written) {
      body = h("table", { class: "table compact", id: "written" }, h("tbody", {}, Object.entries(written).map(([p, v]) =>
        h("tr", {}, h("td", { class: "mono" }, p), h("td", { class: "muted" }, `written${resourceOf(p) ? ` · ${resourceOf(p).name}` : ""}`),
          h("td", { class: "mono" }, showValue(v, resourceOf(p)), resourceOf(p)?.units ? ` ${resourceOf(p).units}` : "")))));
    } else if (result.values) {
      body = h("table", { class: "table compact" }, h("tbody", {}, Object.entries(result.values).map(([p, v]) =>
        h("tr", {}, h("td", { class: "mono" }, p), h("td", { class: "muted" }, resourceOf(p)?.name ?? ""), h("td", { class: "mono" }, showValue(v, resourceOf(p)))))));
    } else if (result.links) {
      body = h("table", { class: "table compact" }, h("tbody", {}, result.links.map((link) =>
        h("tr", {}, h("td", { class: "mono" }, link.target), h("td", { class: "mono muted" },
          Object.entries(link.attributes).map(([k, v]) => (v === null ? k : `${k}=${v}`)).join("; "))))));
    } else body = h("p", { class: "muted" }, result.message ?? (result.location ? `Created at ${result.location}` : "No content"));
    replace(responseEl,
      h("div", { class: "card-head" },
        h("h2", { class: "card-title" }, "Response"),
        h("span", { class: "muted mono" }, `${label} ${target}`),
        h("span", { class: ["pill", ok ? "pill-ok" : "pill-bad"], id: "response-status" }, status),
        result?.contentFormat !== undefined && result.contentFormat !== null ? h("span", { class: "pill pill-plain" }, formatName(result.contentFormat)) : null,
        ms !== undefined ? h("span", { class: "muted" }, `${ms} ms`) : null),
      body);
  }

  function drawLive() {
    const numeric = [...dev.series.entries()].filter(([path, series]) => series.length > 0 && chartable(resourceOf(path)));
    // Identifiers (Cell ID, MCC...) and times change too, but a chart of them means nothing.
    const plain = [...dev.series.keys()].filter((path) => !chartable(resourceOf(path)) && resourceOf(path));
    const observations = [...dev.observed];
    replace(live,
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Live values"),
        h("span", { class: "muted" }, observations.length ? `${observations.length} observation(s)` : "nothing observed")),
      observations.length ? h("ul", { class: "observations" }, observations.map((target) =>
        h("li", {}, h("span", { class: "live-dot" }), h("code", {}, target),
          h("button", { class: "btn btn-xs btn-ghost", onclick: () => cancel(target) }, "Stop")))) : null,
      numeric.length ? numeric.map(([path, series]) => {
        const resource = resourceOf(path);
        const [t, v] = series[series.length - 1];
        if (series.length < 2) {
          return h("div", { class: "chart-box chart-single", dataset: { path } },
            h("div", { class: "chart-head" },
              h("span", {}, h("strong", {}, resource?.name ?? path), h("code", { class: "muted" }, ` ${path}`)),
              h("span", { class: "chart-value" }, showValue(v, resource), h("small", {}, ` ${resource?.units ?? ""}`))),
            h("div", { class: "chart-foot muted" }, `1 value · ${clock(t)} · the chart starts with the next one`));
        }
        return h("div", { class: "chart-box", dataset: { path } },
          h("div", { class: "chart-head" },
            h("span", {}, h("strong", {}, resource?.name ?? path), h("code", { class: "muted" }, ` ${path}`)),
            h("span", { class: "chart-value" }, showValue(v, resource), h("small", {}, ` ${resource?.units ?? ""}`))),
          chart(series, { units: resource?.units ?? "" }),
          h("div", { class: "chart-foot muted" }, `${series.length} value${series.length === 1 ? "" : "s"} · last ${clock(t)}`));
      }) : h("p", { class: "muted small" }, "Observe a resource: every notification lands here, measurements as a time chart."),
      plain.length ? h("table", { class: "table compact live-values" }, h("tbody", {}, plain.map((path) => {
        const seen = dev.values.get(path);
        return h("tr", { dataset: { path } }, h("td", {}, resourceOf(path).name, h("code", { class: "muted" }, ` ${path}`)),
          h("td", { class: "mono" }, showValue(seen?.value, resourceOf(path))), h("td", { class: "muted nowrap" }, seen ? clock(seen.at) : ""));
      }))) : null);
  }

  function drawSends() {
    replace(sends,
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Send data"), h("span", { class: "muted" }, `${dev.sends.length} batch(es)`)),
      dev.sends.length ? h("table", { class: "table compact" }, h("tbody", {}, dev.sends.slice(0, 12).flatMap((batch) =>
        Object.entries(batch.values).map(([p, v], i) => h("tr", {},
          h("td", { class: "muted nowrap" }, i === 0 ? clock(batch.timestamp ?? batch.at) : ""),
          h("td", { class: "mono" }, p), h("td", {}, showValue(v, resourceOf(p)))))))) : h("p", { class: "muted small" }, "Values the device pushes with the Send operation (POST /dp) appear here."));
  }

  function drawLog() {
    replace(logEl,
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Event log"), h("span", { class: "muted" }, `${dev.log.length} event(s)`)),
      dev.log.length ? h("ol", { class: "log", id: "event-log" }, dev.log.slice(0, LOG_SHOWN).map((item) =>
        h("li", { class: `log-${item.kind}` }, h("time", {}, clock(item.at)), h("span", { class: "log-kind" }, LOG_KINDS[item.kind] ?? item.kind), h("span", { class: "log-text" }, item.text)))) : h("p", { class: "muted small" }, "Registrations, updates, notifications and operations on this device."));
  }

  function drawAll() {
    drawHead();
    drawTree();
    drawPanel();
    drawLive();
    drawSends();
    drawLog();
  }

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      refreshValues();
      drawLive();
      drawSends();
      drawLog();
    });
  }

  replace(root,
    head,
    h("div", { class: "device-grid" },
      h("aside", { class: "card tree-card" }, treeEl),
      h("div", { class: "stack" }, pendingHost, responseEl, panel),
      h("aside", { class: "stack" }, live, sends, messages.element, logEl)));

  async function loadModels() {
    const tree = objectTree(entry()?.registration, dev.values);
    summaries = await models().catch(() => new Map());
    await Promise.all([...tree.keys()].filter((id) => !known.has(id)).map(async (id) => {
      known.set(id, await model(id).catch(() => null));
    }));
    if (!selected) {
      const first = tree.has(3) ? 3 : [...tree.keys()][0];
      if (first !== undefined) selected = { objectId: first, instanceId: tree.get(first)[0] ?? null };
    }
    drawAll();
    if (!historyLoaded && tree.size) {
      historyLoaded = true;
      loadHistory([...tree.keys()]);
    }
  }

  /** Values the server kept (notified or sent) fill the charts when the page opens. */
  async function loadHistory(objectIds) {
    await Promise.all(objectIds.map(async (objectId) => {
      try {
        const data = await api(api_(`/${objectId}/history`), { query: { limit: HISTORY } });
        merge(endpoint, data.values);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
      }
    }));
    schedule();
  }

  /** The server's observations and queue-mode state: the truth after a reload or restart. */
  async function syncState() {
    const before = [...dev.observed].sort().join("|");
    try {
      const data = await api(api_("/state"));
      dev.observed = new Set(data.observations.map(targetKey));
      dev.session = { ...data, at: Date.now() / 1000 };
      const address = entry()?.registration?.address;
      if (address?.transport === "N") {
        dev.nidd = await api(`/api/nidd/devices/${ep(address.address)}`).catch(() => null);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status !== 404) return; // unreachable: keep what is shown until it answers
      dev.observed.clear();
      dev.session = null;
    }
    // Redraw the tables only for a change: a redraw closes menus and moves the focus.
    if ([...dev.observed].sort().join("|") !== before) drawAll();
    else if (dev.nidd) drawHead();
    else drawAwake();
  }

  drawAll();
  loadModels();
  syncState();

  const unsubscribe = subscribe((kind, detail) => {
    if (kind === "clients" && (!detail.endpoint || detail.endpoint === endpoint)) {
      loadModels();
    } else if (kind === "device" && detail.endpoint === endpoint) {
      schedule();
    } else if (kind === "event" && detail.type === "observationCancelled" && detail.endpoint === endpoint) {
      drawAll();
    } else if (kind === "event" && detail.endpoint === endpoint && ["registered", "updated", "requestQueued", "queueDrained"].includes(detail.type)) {
      syncState();
    } else if (kind === "connection" && state.connection === "live") {
      syncState();
    }
  });
  let ticks = 0;
  const ticker = setInterval(() => {
    ticks += 1;
    drawAwake();
    if (ticks % STATE_EVERY === 0) syncState();
    if (ticks % 10 === 0) drawHead();
  }, 1000);
  return () => { unsubscribe(); clearInterval(ticker); messages.stop(); };
}
