// Pieces the management pages share.

import { ApiError, api, ep } from "../api.js";
import { confirm } from "../dialog.js";
import { h, icon, replace, toast } from "../dom.js";
import { httpProblem } from "../format.js";
import { track } from "../pending.js";

export function pageHead(title, lede, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), h("p", { class: "lede" }, lede)),
    h("div", { class: "page-actions" }, actions));
}

/** The state of a page whose API this server does not offer (it answered 404). */
export function unavailable(what, detail) {
  return h("div", { class: "unavailable", id: "unavailable" },
    h("span", { class: "unavailable-icon" }, icon("shield", "icon-lg")),
    h("strong", {}, `${what} not available on this server`),
    h("span", {}, detail));
}

/** Entries of a list answer: an array of objects, or an object keyed by endpoint. */
export function byEndpoint(data) {
  if (Array.isArray(data)) return data;
  return Object.entries(data ?? {}).map(([endpoint, value]) => ({ endpoint, ...value }));
}

export const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/**
 * Run an API call; toast `done` on success and the problem on an HTTP error. `button`, when
 * given, is disabled with a spinner while the call runs.
 */
export async function attempt(call, done, button = null) {
  const op = track(done, { button });
  try {
    const result = await call();
    toast(done, "ok");
    return result ?? true;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    toast(httpProblem(error), "error");
    return null;
  } finally {
    op.done();
  }
}

/**
 * A list page's data: GET `path` and `draw` its entries into `body`, or show that this server
 * lacks the API (404) or the problem. Resolves true when the API is there.
 */
export async function loadList(body, path, draw, missing) {
  try {
    draw(byEndpoint(await api(path)));
    return true;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    replace(body, error.status === 404 || error.status === 405
      ? unavailable(...missing)
      : h("p", { class: "error-text pad" }, httpProblem(error)));
    return false;
  }
}

/** Ask, then DELETE `path/{endpoint}`; resolves true once deleted. */
export async function removeEntry(path, endpoint, what, consequence) {
  if (!(await confirm(`Delete the ${what} of ${endpoint}?`, consequence))) return false;
  return (await attempt(() => api(`${path}/${ep(endpoint)}`, { method: "DELETE" }), `The ${what} of ${endpoint} deleted`)) !== null;
}

/** Edit and Delete buttons of one table row. */
export function rowActions(onEdit, onDelete) {
  return h("td", { class: "actions" },
    h("button", { class: "btn btn-xs", onclick: onEdit }, icon("edit"), "Edit"),
    h("button", { class: "btn btn-xs btn-ghost btn-danger-text", onclick: onDelete }, icon("trash"), "Delete"));
}
