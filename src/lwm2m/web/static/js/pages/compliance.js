// Compliance with Deutsche Telekom's LwM2M device profile: run the check for a device and
// render its report (the JSON of `lwm2m check --json`, docs/compliance.md).

import { ApiError, api, ep } from "../api.js";
import { h, icon, replace } from "../dom.js";
import { httpProblem } from "../format.js";
import { track } from "../pending.js";
import { state } from "../store.js";
import { pageHead, unavailable } from "./common.js";

const OUTCOME = { pass: "ok", fail: "bad", unknown: "muted" };

function verdictPill(item) {
  const look = item.failed ? "bad" : item.verdict === "pass" ? "ok" : item.verdict === "missing recommended" ? "warn" : "muted";
  return h("span", { class: ["pill", `pill-${look}`], title: item.detail || "" }, item.verdict);
}

function presence(present) {
  return present === null ? h("span", { class: "muted" }, "unknown") : present ? "yes" : h("strong", {}, "no");
}

function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ") : String(value);
}

function objectRows(object) {
  const open = object.failed;
  const resources = h("tr", { class: "sub", hidden: !open }, h("td", { colSpan: 7 },
    object.resources.length ? h("table", { class: "table compact" },
      h("thead", {}, h("tr", {}, ["Path", "Resource", "Telekom", "Present", "Value", "Verdict"].map((t) => h("th", {}, t)))),
      h("tbody", {}, object.resources.map((r) => h("tr", { class: r.failed && "row-failed" },
        h("td", { class: "mono" }, r.path), h("td", {}, r.name), h("td", {}, r.telekom),
        h("td", {}, presence(r.present)), h("td", { class: "mono value-cell" }, shown(r.value)),
        h("td", {}, verdictPill(r), r.detail ? h("span", { class: "muted small" }, ` ${r.detail}`) : null)))))
      : h("p", { class: "muted small" }, "The profile lists no resources for this object.")));
  const row = h("tr", {
    class: ["row-link", object.failed && "row-failed"], dataset: { object: object.objectId },
    onclick: () => { resources.hidden = !resources.hidden; },
  },
    h("td", { class: "num mono" }, object.objectId),
    h("td", {}, h("strong", {}, object.name)),
    h("td", {}, object.required),
    h("td", {}, presence(object.present)),
    h("td", { class: "mono" }, object.instances.join(", ") || "—"),
    h("td", {}, verdictPill(object)),
    h("td", { class: "muted small" }, object.detail));
  return [row, resources];
}

function report(data) {
  const objects = data.objects ?? [];
  const mandatory = objects.filter((o) => o.required.startsWith("mandatory"));
  const timers = data.timers ?? [];
  const count = (outcome) => timers.filter((t) => t.outcome === outcome).length;
  return h("div", { class: "report", id: "compliance-report" },
    h("section", { class: ["verdict", data.passed ? "verdict-pass" : "verdict-fail"] },
      h("span", { class: "verdict-icon" }, icon(data.passed ? "check" : "close", "icon-lg")),
      h("div", {},
        h("h2", {}, data.passed ? "Compliant" : `Not compliant: ${data.failures.length} mandatory item${data.failures.length === 1 ? "" : "s"} unmet`),
        h("p", { class: "muted" }, `${data.endpoint} · LwM2M ${data.lwm2mVersion} · ${data.profile}`),
        data.failures.length ? h("ul", { class: "failures" }, data.failures.map((line) => h("li", { class: "mono" }, line))) : null)),
    h("section", { class: "tiles" },
      h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Mandatory objects"),
        h("span", { class: "tile-value" }, `${mandatory.filter((o) => !o.failed).length} / ${mandatory.length}`),
        h("span", { class: "tile-hint" }, "met")),
      h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Security mode"),
        h("span", { class: "tile-value" }, data.security.name ?? "unknown"),
        h("span", { class: "tile-hint" }, data.security.detail || `profile allows ${data.security.allowed.map((m) => m.name).join(", ")}`)),
      h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Binding"),
        h("span", { class: "tile-value" }, data.binding.registration),
        h("span", { class: "tile-hint" }, `${data.binding.queueMode ? "queue mode · " : ""}supported ${data.binding.supported ?? "unknown"}`)),
      h("div", { class: "tile" }, h("span", { class: "tile-label" }, "Timer rules"),
        h("span", { class: "tile-value" }, `${count("pass")} / ${timers.length}`),
        h("span", { class: "tile-hint" }, `${count("fail")} fail, ${count("unknown")} unknown (recommendations)`))),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Objects"), h("span", { class: "muted" }, "click an object for its resources")),
      h("div", { class: "table-wrap" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["ID", "Object", "Telekom", "Present", "Instances", "Verdict", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, objects.flatMap(objectRows))))),
    data.deviceValues?.length ? h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Device object values missing or empty")),
      h("div", { class: "table-wrap" }, h("table", { class: "table compact" }, h("tbody", {}, data.deviceValues.map((v) =>
        h("tr", {}, h("td", { class: "mono" }, v.path), h("td", {}, v.name), h("td", {}, v.required), h("td", { class: "muted" }, v.problem))))))) : null,
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Timer rules"), h("span", { class: "muted" }, "T3412 > lifetime > pmax; pmin < eDRX < pmax ≤ rate-control interval")),
      timers.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, ["Rule", "Scope", "Comparison", "Values", "Outcome"].map((t) => h("th", {}, t)))),
        h("tbody", {}, timers.map((t) => h("tr", {},
          h("td", { class: "num" }, t.rule), h("td", { class: "mono" }, t.scope), h("td", {}, t.text),
          h("td", { class: "mono", title: `${t.left.source} · ${t.right.source}` }, `${t.left.display} ${t.relation} ${t.right.display}`),
          h("td", {}, h("span", { class: ["pill", `pill-${OUTCOME[t.outcome] ?? "muted"}`], title: t.detail }, t.outcome)))))))
        : h("p", { class: "muted small" }, "No timer values known.")),
    data.otherObjects?.length ? h("p", { class: "muted" }, `Other objects on the device (not in the profile): ${data.otherObjects.join(", ")}`) : null);
}

export function render(root, [endpoint]) {
  const online = [...state.clients.values()].filter((e) => e.status === "registered" || e.status === "updated").map((e) => e.registration.endpoint);
  const choices = endpoint && !online.includes(endpoint) ? [endpoint, ...online] : online;
  const picker = h("select", { id: "compliance-endpoint", "aria-label": "Device" },
    choices.length ? choices.map((name) => h("option", { value: name, selected: name === endpoint }, name)) : h("option", { value: "" }, "No device online"));
  const output = h("div", { class: "report-host" });
  const runButton = h("button", { class: "btn btn-primary", id: "run-check", disabled: !choices.length, onclick: () => run(picker.value) }, icon("check"), "Run check");

  async function run(name) {
    if (!name) return;
    history.replaceState(null, "", `#/compliance/${encodeURIComponent(name)}`);
    const progress = h("div", { class: "pending-host" });
    replace(output, h("section", { class: "card" }, h("div", { class: "empty" }, h("strong", {}, `Checking ${name}…`),
      h("span", {}, "Discovering and reading every object the profile names; a sleeping device answers when it wakes up."),
      progress)));
    const op = track(`Compliance check of ${name}`, { button: runButton, host: progress });
    try {
      const data = await api(`/api/compliance/${ep(name)}`, { signal: op.signal });
      state.compliance.set(name, { passed: data.passed, at: Date.now() / 1000 });
      replace(output, report(data));
    } catch (error) {
      if (op.signal.aborted) {
        replace(output, h("section", { class: "card" }, h("p", { class: "muted pad" }, `Check of ${name} cancelled after ${op.elapsed().toFixed(1)} s.`)));
        return;
      }
      if (!(error instanceof ApiError)) throw error;
      replace(output, h("section", { class: "card" }, error.status === 404 && !error.body?.message?.includes("registration")
        ? unavailable("The compliance check is", "This server does not answer GET /api/compliance/{endpoint}.")
        : h("p", { class: "error-text pad" }, httpProblem(error))));
    } finally {
      op.done();
    }
  }

  replace(root,
    pageHead("Compliance", "Checks a registered device against the Telekom LwM2M device profile: objects, resources, Device values, security mode, binding and timer rules.",
      picker, runButton),
    output);
  if (endpoint) {
    run(endpoint); // a deep link (#/compliance/{endpoint}) asks for that device's check
  } else if (!choices.length) {
    replace(output, h("section", { class: "card" }, h("div", { class: "empty" }, h("strong", {}, "No device to check"), h("span", {}, "A device must be registered to be checked."))));
  }
}
