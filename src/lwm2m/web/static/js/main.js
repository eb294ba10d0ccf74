// The console shell: header, navigation, login, and hash routes to the pages.

import { api, getToken, onUnauthorized, setToken } from "./api.js";
import { form } from "./dialog.js";
import { h, icon, replace, svg } from "./dom.js";
import * as bootstrap from "./pages/bootstrap.js";
import * as campaigns from "./pages/campaigns.js";
import * as compliance from "./pages/compliance.js";
import * as deviceList from "./pages/devices.js";
import * as devicePage from "./pages/device.js";
import * as network from "./pages/network.js";
import * as security from "./pages/security.js";
import { connect, state, subscribe } from "./store.js";

const NAV = [
  ["devices", "Devices", "devices"],
  ["security", "Security", "shield"],
  ["bootstrap", "Bootstrap", "boot"],
  ["compliance", "Compliance", "check"],
  ["campaigns", "Campaigns", "boot"],
  ["network", "Network", "signal"],
];

const ROUTES = [
  [/^devices\/(.+)$/, devicePage],
  [/^devices$/, deviceList],
  [/^security$/, security],
  [/^bootstrap$/, bootstrap],
  [/^compliance(?:\/(.+))?$/, compliance],
  [/^campaigns(?:\/(.+))?$/, campaigns],
  [/^network$/, network],
];

const CONNECTION = {
  connecting: ["Connecting", "pending"],
  live: ["Live", "ok"],
  reconnecting: ["Server unreachable", "warn"],
  unauthorized: ["Signed out", "warn"],
};

const main = h("main", { class: "main", id: "main" });
const nav = h("nav", { class: "nav", "aria-label": "Sections" },
  NAV.map(([route, label, name]) =>
    h("a", { href: `#/${route}`, class: "nav-link", dataset: { route }, hidden: route === "network" }, icon(name), h("span", {}, label))));
const connection = h("span", { class: "conn", dataset: { state: "pending" } }, h("i", { class: "dot" }), h("span", {}, "Connecting"));
const signOut = h("button", {
  class: "icon-btn signout", title: "Forget the API token", hidden: true,
  onclick: () => { setToken(null); location.reload(); },
}, icon("logout"));

const header = h("header", { class: "topbar" },
  h("a", { class: "brand", href: "#/devices" },
    h("span", { class: "brand-mark", "aria-hidden": "true" }, brandMark()),
    h("span", { class: "brand-name" }, "lwm2m"),
    h("span", { class: "brand-sub" }, "Device Management")),
  nav,
  h("div", { class: "topbar-right" }, connection, signOut));

function brandMark() {
  return svg("svg", { viewBox: "0 0 32 32" },
    [4, 9.5, 14.5].map((r) => svg("circle", { cx: 16, cy: 16, r, class: r === 4 ? "mark-core" : "mark-ring" })));
}

let login = null;

/** Ask for the token once at a time; every 401 waits for the same prompt. */
function askForToken() {
  const refused = Boolean(getToken());
  login ??= form({
    title: "Sign in",
    intro: refused
      ? "The server refused this token. Enter the token the server was started with (--auth TOKEN)."
      : "This server requires an API token (lwm2m server --auth TOKEN). It is kept for this browser tab only.",
    fields: [{ name: "token", label: "API token", type: "password", required: true, autocomplete: "current-password" }],
    submit: "Sign in",
  }).then((values) => {
    login = null;
    if (!values?.token) return false;
    setToken(values.token.trim());
    signOut.hidden = false;
    return true;
  });
  return login;
}

let cleanup = null;

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, "")) || "devices";
  const section = hash.split("/")[0];
  for (const link of nav.querySelectorAll(".nav-link")) {
    link.classList.toggle("active", link.dataset.route === section);
    if (link.dataset.route === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  cleanup?.();
  cleanup = null;
  for (const [pattern, page] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      replace(main);
      cleanup = page.render(main, match.slice(1)) ?? null;
      window.scrollTo(0, 0);
      return;
    }
  }
  location.hash = "#/devices";
}

onUnauthorized(askForToken);
signOut.hidden = !getToken();
subscribe((kind) => {
  if (kind !== "connection") return;
  const [label, look] = CONNECTION[state.connection] ?? CONNECTION.connecting;
  connection.dataset.state = look;
  connection.lastChild.textContent = label;
});
document.body.append(header, main);
window.addEventListener("hashchange", route);
route();
connect();
// The Network page only for a server that has a network to show (--nidd at lwm2m network).
api("/api/network").then(
  () => { nav.querySelector('[data-route="network"]').hidden = false; },
  () => {},
);
