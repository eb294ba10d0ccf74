// A pending operation: the button that started it disabled with a spinner, the elapsed time,
// and a Cancel that aborts the request (AbortController); never a silent wait.

import { h, replace } from "./dom.js";

/**
 * Start tracking `label`. `button` (optional) is disabled until done; `host` (optional) gets a
 * line with a spinner, the elapsed time and Cancel. Returns {signal, elapsed(), done()}.
 */
export function track(label, { button = null, host = null } = {}) {
  const controller = new AbortController();
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const clock = h("span", { class: "pending-time" }, "0.0 s");
  const line = h("div", { class: "pending", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    h("span", { class: "pending-label" }, label),
    clock,
    h("button", { class: "btn btn-xs btn-ghost pending-cancel", onclick: () => controller.abort() }, "Cancel"));
  const timer = setInterval(() => { clock.textContent = `${elapsed().toFixed(1)} s`; }, 100);
  if (button) {
    button.disabled = true;
    button.classList.add("busy");
    button.setAttribute("aria-busy", "true");
  }
  host?.append(line);
  return {
    signal: controller.signal,
    elapsed,
    done() {
      clearInterval(timer);
      line.remove();
      if (button) {
        button.disabled = false;
        button.classList.remove("busy");
        button.removeAttribute("aria-busy");
      }
    },
  };
}

/** The button a click is on, so an operation can mark the one that started it. */
export function clickedButton(event) {
  return event?.target?.closest?.("button") ?? null;
}

/** Show "Cancelled after 1.2 s" in `host` for an aborted operation. */
export function cancelled(host, label, seconds) {
  replace(host, h("p", { class: "muted pad" }, `${label}: cancelled after ${seconds.toFixed(1)} s`));
}
