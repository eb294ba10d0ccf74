// Time charts as inline SVG: a sparkline for table cells and a chart with axes and units.

import { clock, svg } from "./dom.js";

const MEASURED = new Set(["integer", "unsigned integer", "float"]);

/**
 * Whether a resource's values make sense as a chart: measurements (a float, or a number with
 * units), not identifiers such as Cell ID or MCC (integers without units) nor times.
 */
export function chartable(resource) {
  if (!resource || !MEASURED.has(resource.type)) return false;
  return resource.type === "float" || Boolean(resource.units);
}

function scale(points, box) {
  const times = points.map(([t]) => t);
  const values = points.map(([, v]) => v);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high === low) {
    high += 1;
    low -= 1;
  }
  const x = (t) => box.left + (t1 === t0 ? box.width : ((t - t0) / (t1 - t0)) * box.width);
  const y = (v) => box.top + (1 - (v - low) / (high - low)) * box.height;
  return { x, y, low: Math.min(...values), high: Math.max(...values), t0, t1 };
}

function line(points, x, y) {
  return points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
}

export function sparkline(points, width = 96, height = 26) {
  const { x, y } = scale(points, { left: 3, top: 3, width: width - 6, height: height - 6 });
  const [t, v] = points[points.length - 1];
  return svg("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "trend" },
    svg("path", { d: line(points, x, y), class: "spark-line" }),
    svg("circle", { cx: x(t), cy: y(v), r: 2.2, class: "spark-dot" }));
}

function tick(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

/**
 * A chart of [[unixSeconds, value], ...]: the value axis (minimum and maximum, in `units`) on
 * the left, the time axis (first and last value's time) below.
 */
export function chart(points, { width = 340, height = 128, units = "" } = {}) {
  const box = { left: 52, top: 10, width: width - 62, height: height - 34 };
  const { x, y, low, high, t0, t1 } = scale(points, box);
  const bottom = box.top + box.height;
  const path = line(points, x, y);
  const area = `${path}L${x(t1).toFixed(1)},${bottom}L${x(t0).toFixed(1)},${bottom}Z`;
  const [t, v] = points[points.length - 1];
  const unit = units ? ` ${units}` : "";
  const label = (value) => `${tick(value)}${unit}`;
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `from ${low} to ${high}${unit}, ${clock(t0)} to ${clock(t1)}` },
    svg("line", { x1: box.left, x2: box.left + box.width, y1: y(high), y2: y(high), class: "chart-grid" }),
    svg("line", { x1: box.left, x2: box.left + box.width, y1: y(low), y2: y(low), class: "chart-grid" }),
    svg("line", { x1: box.left, x2: box.left, y1: box.top, y2: bottom, class: "chart-axis" }),
    svg("line", { x1: box.left, x2: box.left + box.width, y1: bottom, y2: bottom, class: "chart-axis" }),
    svg("text", { x: box.left - 6, y: y(high) + 4, class: "chart-label chart-label-y" }, label(high)),
    high !== low ? svg("text", { x: box.left - 6, y: y(low) + 4, class: "chart-label chart-label-y" }, label(low)) : null,
    svg("text", { x: box.left, y: height - 6, class: "chart-label chart-label-t0" }, clock(t0)),
    t1 !== t0 ? svg("text", { x: box.left + box.width, y: height - 6, class: "chart-label chart-label-t1" }, clock(t1)) : null,
    svg("path", { d: area, class: "chart-area" }),
    svg("path", { d: path, class: "chart-line" }),
    points.length < 40 ? points.map(([pt, pv]) => svg("circle", { cx: x(pt), cy: y(pv), r: 1.6, class: "chart-point" })) : null,
    svg("circle", { cx: x(t), cy: y(v), r: 3.2, class: "chart-last" }),
    svg("title", {}, `${points.length} values, ${clock(t0)} – ${clock(t1)}, min ${low}${unit}, max ${high}${unit}`));
}
