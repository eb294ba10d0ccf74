// Live state of the console: registrations, values, series and event logs, fed by the API's
// event stream, shared by every page so nothing is lost when the operator navigates.

import { api, openEvents } from "./api.js";
import { peerAddress } from "./format.js";

const LOG_SIZE = 400;
const SERIES_SIZE = 120;
const SENDS_SIZE = 50;

export const state = {
  /** endpoint -> {registration, status: registered|updated|deregistered|expired, changedAt} */
  clients: new Map(),
  connection: "connecting",
  counts: { notifications: 0, sends: 0, left: 0 },
  /** endpoint -> {passed, at}: compliance checks run from this console */
  compliance: new Map(),
};

const devices = new Map();
const listeners = new Set();

/** Listen to changes: fn(kind, detail) with kind "clients", "device", "connection". */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(kind, detail) {
  for (const fn of [...listeners]) fn(kind, detail);
}

/** What the console knows about one endpoint beyond its registration. */
export function device(endpoint) {
  let found = devices.get(endpoint);
  if (!found) {
    found = { log: [], values: new Map(), series: new Map(), observed: new Set(), sends: [] };
    devices.set(endpoint, found);
  }
  return found;
}

export function log(endpoint, kind, text, detail) {
  const entry = { at: Date.now() / 1000, kind, text, detail };
  const dev = device(endpoint);
  dev.log.unshift(entry);
  if (dev.log.length > LOG_SIZE) dev.log.length = LOG_SIZE;
  emit("device", { endpoint, entry });
}

/** Record values (flat path -> value) that a read, notification or Send brought. */
export function record(endpoint, values, source, at = Date.now() / 1000) {
  const dev = device(endpoint);
  for (const [path, value] of Object.entries(values ?? {})) {
    dev.values.set(path, { value, at, source });
    if (typeof value === "number" && Number.isFinite(value) && (source === "notify" || source === "send")) {
      const series = dev.series.get(path) ?? [];
      series.push([at, value]);
      if (series.length > SERIES_SIZE) series.splice(0, series.length - SERIES_SIZE);
      dev.series.set(path, series);
    }
  }
}

/**
 * Merge values from the server's history ([{time, path, value}], oldest first) under what
 * this tab saw live: a point already held (same path and time) is not added twice.
 */
export function merge(endpoint, entries) {
  const dev = device(endpoint);
  for (const { time, path, value } of entries ?? []) {
    const seen = dev.values.get(path);
    if (!seen || seen.at < time) dev.values.set(path, { value, at: time, source: "notify" });
    if (typeof value !== "number" || !Number.isFinite(value)) continue;
    const series = dev.series.get(path) ?? [];
    if (series.some(([t, v]) => v === value && Math.abs(t - time) < 2)) continue;
    series.push([time, value]);
    series.sort((a, b) => a[0] - b[0]);
    if (series.length > SERIES_SIZE) series.splice(0, series.length - SERIES_SIZE);
    dev.series.set(path, series);
  }
}

/** A target of an observation as one key: "/3/0/9" or "/3/0/9 + /4/0/2" for composites. */
export function targetKey(event) {
  return event.paths ? event.paths.join(" + ") : event.path;
}

function describe(registration) {
  const queue = registration.queueMode ? ", queue mode" : "";
  return `LwM2M ${registration.lwm2mVersion}, binding ${registration.binding}, lifetime ${registration.lifetime} s${queue}`;
}

function changes(registration, previous) {
  const fields = ["lifetime", "binding", "queueMode"];
  const changed = fields.filter((field) => registration[field] !== previous?.[field]);
  if (peerAddress(registration.address) !== peerAddress(previous?.address)) changed.push("address");
  const links = (reg) => (reg?.objectLinks ?? []).map((link) => link.target).join(",");
  if (links(registration) !== links(previous)) changed.push("objects");
  return changed.length ? `changed: ${changed.join(", ")}` : "no change";
}

function setClient(registration, status) {
  state.clients.set(registration.endpoint, { registration, status, changedAt: Date.now() / 1000 });
  emit("clients", { endpoint: registration.endpoint, status });
}

function handle(event) {
  const endpoint = event.endpoint ?? event.registration?.endpoint;
  switch (event.type) {
    case "registered":
      setClient(event.registration, "registered");
      device(endpoint).observed.clear();
      log(endpoint, "registration", `Registered: ${describe(event.registration)}`);
      break;
    case "updated":
      setClient(event.registration, "updated");
      log(endpoint, "registration", `Update, ${changes(event.registration, event.previous)}`);
      break;
    case "deregistered":
    case "expired":
      state.counts.left += 1;
      setClient(event.registration, event.type);
      device(endpoint).observed.clear();
      log(endpoint, "registration", event.type === "expired" ? "Registration expired" : "De-registered");
      break;
    case "notification": {
      state.counts.notifications += 1;
      record(endpoint, event.values, "notify");
      device(endpoint).observed.add(targetKey(event));
      const count = Object.keys(event.values ?? {}).length;
      log(endpoint, "notification", `Notification ${targetKey(event)} #${event.sequence ?? "-"}: ${count} value${count === 1 ? "" : "s"}`, event.values);
      break;
    }
    case "send": {
      state.counts.sends += 1;
      const dev = device(endpoint);
      for (const batch of event.batches ?? []) {
        record(endpoint, batch.values, "send", batch.timestamp ?? Date.now() / 1000);
        dev.sends.unshift({ at: Date.now() / 1000, timestamp: batch.timestamp, values: batch.values });
      }
      if (dev.sends.length > SENDS_SIZE) dev.sends.length = SENDS_SIZE;
      log(endpoint, "send", `Send: ${(event.batches ?? []).length} batch(es)`, event.batches);
      break;
    }
    case "observationCancelled":
      device(endpoint).observed.delete(targetKey(event));
      log(endpoint, "observe", `Observation of ${targetKey(event)} ended (${event.reason})`);
      break;
    case "requestQueued":
      log(endpoint, "queue", `${event.operation} queued until the device wakes up`);
      break;
    case "queueDrained":
      log(endpoint, "queue", `Device awake: ${event.count} queued request(s) sent`);
      break;
    default:
      if (endpoint) log(endpoint, "other", `Event ${event.type}`, event);
  }
  emit("event", event);
}

/** Reload the registrations (after connecting: events may have been missed meanwhile). */
export async function resync() {
  const list = await api("/api/clients");
  const present = new Set(list.map((registration) => registration.endpoint));
  for (const [endpoint, entry] of state.clients) {
    if (!present.has(endpoint) && (entry.status === "registered" || entry.status === "updated")) {
      state.clients.set(endpoint, { ...entry, status: "deregistered", changedAt: Date.now() / 1000 });
    }
  }
  for (const registration of list) {
    const known = state.clients.get(registration.endpoint);
    const status = known && known.status !== "deregistered" && known.status !== "expired" ? known.status : "registered";
    state.clients.set(registration.endpoint, { registration, status, changedAt: known?.changedAt ?? registration.registeredAt });
  }
  emit("clients", {});
}

export function connect() {
  return openEvents(handle, (connection) => {
    state.connection = connection;
    emit("connection", connection);
    if (connection === "live") resync().catch((error) => console.warn("resync failed", error));
  });
}

let modelList = null;
const modelDetails = new Map();

/** Object summaries by ID (names for the tree and lists). */
export function models() {
  modelList ??= api("/api/models")
    .then((list) => new Map(list.map((model) => [model.id, model])))
    .catch((error) => {
      modelList = null;
      throw error;
    });
  return modelList;
}

/** One object's full model (resources with names, units, operations), or null if unknown. */
export function model(objectId) {
  if (!modelDetails.has(objectId)) {
    modelDetails.set(
      objectId,
      api(`/api/models/${objectId}`).catch((error) => {
        if (error.status === 404) return null;
        modelDetails.delete(objectId);
        throw error;
      }),
    );
  }
  return modelDetails.get(objectId);
}
