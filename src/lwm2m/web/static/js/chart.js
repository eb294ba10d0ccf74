// Time charts as inline SVG: a sparkline for table cells and a small chart with its range.

import { clock, svg } from "./dom.js";

function scale(points, width, height, pad) {
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
  const x = (t) => pad + (t1 === t0 ? (width - 2 * pad) : ((t - t0) / (t1 - t0)) * (width - 2 * pad));
  const y = (v) => pad + (1 - (v - low) / (high - low)) * (height - 2 * pad);
  return { x, y, low: Math.min(...values), high: Math.max(...values), t0, t1 };
}

function line(points, x, y) {
  return points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
}

export function sparkline(points, width = 96, height = 26) {
  const { x, y } = scale(points, width, height, 3);
  const [t, v] = points[points.length - 1];
  return svg("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "trend" },
    svg("path", { d: line(points, x, y), class: "spark-line" }),
    svg("circle", { cx: x(t), cy: y(v), r: 2.2, class: "spark-dot" }));
}

/** A chart of [[unixSeconds, value], ...] with its minimum, maximum and time span. */
export function chart(points, { width = 320, height = 96, units = "" } = {}) {
  const { x, y, low, high, t0, t1 } = scale(points, width, height, 8);
  const path = line(points, x, y);
  const area = `${path}L${x(t1).toFixed(1)},${height - 8}L${x(t0).toFixed(1)},${height - 8}Z`;
  const [t, v] = points[points.length - 1];
  const unit = units ? ` ${units}` : "";
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `from ${low} to ${high}${unit}` },
    svg("line", { x1: 8, x2: width - 8, y1: y(high), y2: y(high), class: "chart-grid" }),
    svg("line", { x1: 8, x2: width - 8, y1: y(low), y2: y(low), class: "chart-grid" }),
    svg("path", { d: area, class: "chart-area" }),
    svg("path", { d: path, class: "chart-line" }),
    points.length < 40 ? points.map(([pt, pv]) => svg("circle", { cx: x(pt), cy: y(pv), r: 1.6, class: "chart-point" })) : null,
    svg("circle", { cx: x(t), cy: y(v), r: 3.2, class: "chart-last" }),
    svg("title", {}, `${points.length} values, ${clock(t0)} – ${clock(t1)}, min ${low}${unit}, max ${high}${unit}`));
}
