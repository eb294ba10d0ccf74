// Small DOM helpers: elements from plain calls (no framework, no innerHTML of data).

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function apply(el, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && !(el instanceof SVGElement)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  return el;
}

/** An HTML element: h("button", {class: "btn", onclick}, "Read"). */
export function h(tag, props, ...children) {
  const el = apply(document.createElement(tag), props);
  append(el, children);
  return el;
}

/** An SVG element (charts, icons). */
export function svg(tag, attrs, ...children) {
  const el = apply(document.createElementNS(SVG_NS, tag), attrs);
  append(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const ICONS = {
  devices: "M4 5h16v10H4zM8 19h8M12 15v4",
  shield: "M12 3l7 3v6c0 4.5-3 7.5-7 9-4-1.5-7-4.5-7-9V6z",
  boot: "M12 3v12M7 10l5 5 5-5M5 21h14",
  check: "M5 12l4 4 10-10",
  search: "M11 4a7 7 0 100 14 7 7 0 000-14zM20 20l-4-4",
  read: "M3 12s3.5-6 9-6 9 6 9 6-3.5 6-9 6-9-6-9-6zM12 10a2 2 0 100 4 2 2 0 000-4z",
  plus: "M12 5v14M5 12h14",
  trash: "M5 7h14M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  edit: "M4 20h4L19 9l-4-4L4 16zM13 7l4 4",
  play: "M8 5l11 7-11 7z",
  eye: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 9a3 3 0 100 6 3 3 0 000-6z",
  more: "M5 12h.01M12 12h.01M19 12h.01",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  close: "M6 6l12 12M18 6L6 18",
  chevron: "M9 6l6 6-6 6",
  signal: "M4 20v-3M9 20v-7M14 20v-11M19 20V4",
};

export function icon(name, cls = "icon") {
  return svg(
    "svg",
    { class: cls, viewBox: "0 0 24 24", "aria-hidden": "true", fill: "none", stroke: "currentColor",
      "stroke-width": "1.8", "stroke-linecap": "round", "stroke-linejoin": "round" },
    svg("path", { d: ICONS[name] }),
  );
}

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

/** "12 s ago", "3 min ago" for a Unix time in seconds. */
export function ago(seconds) {
  const dt = Math.max(0, Date.now() / 1000 - seconds);
  if (dt < 5) return "just now";
  if (dt < MINUTE) return `${Math.floor(dt)} s ago`;
  if (dt < HOUR) return `${Math.floor(dt / MINUTE)} min ago`;
  if (dt < DAY) return `${Math.floor(dt / HOUR)} h ago`;
  return `${Math.floor(dt / DAY)} d ago`;
}

export function duration(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * HOUR) return `${Math.round(seconds / MINUTE)} min`;
  if (seconds < 2 * DAY) return `${Math.round(seconds / HOUR)} h`;
  return `${Math.round(seconds / DAY)} d`;
}

export function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

export function dateTime(seconds) {
  return new Date(seconds * 1000).toLocaleString([], { hour12: false });
}

let toastHost = null;

/** A short message at the bottom right; kind: "ok", "error" or "info". */
export function toast(message, kind = "info") {
  if (!toastHost) {
    toastHost = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastHost);
  }
  const el = h("div", { class: `toast toast-${kind}` }, message);
  toastHost.append(el);
  setTimeout(() => el.classList.add("leaving"), 3600);
  setTimeout(() => el.remove(), 4000);
}

/** Close every open <details class="menu"> when the user clicks elsewhere. */
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target) || event.target.closest(".menu-item")) menu.open = false;
  }
});
