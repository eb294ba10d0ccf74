// A device's CoAP messages as the server sent and received them (what Leshan's demo shows):
// direction, type, code, message ID, token, options, payload size, time. Opt-in per device:
// the server keeps a bounded ring only while someone captures (PUT .../messages).

import { ApiError, api, ep } from "../api.js";
import { clock, h, replace } from "../dom.js";
import { httpProblem } from "../format.js";
import { track } from "../pending.js";

const POLL_MS = 2000;
const SHOWN = 100;

export function messageLog(endpoint) {
  const url = `/api/clients/${ep(endpoint)}/messages`;
  const element = h("section", { class: "card", id: "coap-log" });
  let data = null;
  let problem = null;
  let timer = null;
  let stopped = false;

  async function load() {
    try {
      data = await api(url);
      problem = null;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      problem = httpProblem(error);
    }
    draw();
    clearTimeout(timer);
    if (!stopped && (data?.capturing || problem)) timer = setTimeout(load, POLL_MS);
  }

  async function toggle(event) {
    const capturing = data?.capturing;
    const op = track(capturing ? "Stopping the capture" : "Starting the capture", { button: event.currentTarget });
    try {
      await api(url, { method: capturing ? "DELETE" : "PUT", signal: op.signal });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      problem = httpProblem(error);
    } finally {
      op.done();
    }
    await load();
  }

  function draw() {
    const capturing = Boolean(data?.capturing);
    const messages = (data?.messages ?? []).slice(-SHOWN).reverse();
    replace(element,
      h("div", { class: "card-head" },
        h("h2", { class: "card-title" }, "CoAP messages"),
        h("span", { class: "muted" }, capturing ? `${data.messages.length} of the last ${data.limit}` : "not captured"),
        h("button", { class: ["btn", "btn-xs", capturing && "btn-live"], id: "capture", onclick: toggle }, capturing ? "Stop capture" : "Capture")),
      problem ? h("p", { class: "error-text" }, problem) : null,
      messages.length ? h("div", { class: "table-wrap" }, h("table", { class: "table compact messages" },
        h("thead", {}, h("tr", {}, ["Time", "", "Type", "Code", "MID", "Token", "Options", "Payload"].map((t) => h("th", {}, t)))),
        h("tbody", {}, messages.map((m) => h("tr", { class: `msg-${m.direction}` },
          h("td", { class: "mono nowrap" }, clock(m.time)),
          h("td", { class: "dir", title: m.direction === "in" ? "from the device" : "to the device" }, m.direction === "in" ? "←" : "→"),
          m.error ? h("td", { colSpan: 6, class: "error-text" }, `${m.size} bytes that are no CoAP message: ${m.error}`) : [
            h("td", {}, m.type), h("td", { class: "mono" }, m.code), h("td", { class: "mono" }, m.mid),
            h("td", { class: "mono" }, m.token || "—"), h("td", { class: "mono opts" }, m.options.join("; ")),
            h("td", { class: "num" }, `${m.payload} B`)])))))
        : h("p", { class: "muted small" }, capturing
          ? "Waiting for messages: every request to the device and its answers land here."
          : "Capture the messages the server exchanges with this device (the server keeps the last 200 while capturing)."));
  }

  load();
  return {
    element,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
