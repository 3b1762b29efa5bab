// Hand-drawn SVG charts: stacked bars over time, and horizontal budget bars. Labels are
// SVG text nodes (textContent), so group names render as text whatever they contain.

import { el, svg } from "./dom.js";

const PALETTE = ["#3b6fd8", "#e0823d", "#3aa675", "#c94f7c", "#8a63d2", "#c9a227", "#4aa8c0", "#7a7a7a"];
const OTHER = "other";

export function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

/** Series by group over time buckets; beyond the top groups by total, the rest is "other". */
export function seriesOf(timeline, starts, valueOf, maxSeries = 7) {
  const totals = new Map();
  for (const point of timeline) totals.set(point.group, (totals.get(point.group) || 0) + valueOf(point));
  const ranked = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const kept = new Set(ranked.slice(0, maxSeries));
  const names = ranked.slice(0, maxSeries);
  if (ranked.length > maxSeries) names.push(OTHER);
  const index = new Map(starts.map((s, i) => [s, i]));
  const series = names.map((name) => ({ name, values: starts.map(() => 0) }));
  const byName = new Map(series.map((s) => [s.name, s]));
  for (const point of timeline) {
    const target = byName.get(kept.has(point.group) ? point.group : OTHER);
    const at = index.get(point.start);
    if (target && at !== undefined) target.values[at] += valueOf(point);
  }
  return series;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/** A stacked bar chart: one bar per bucket, one colour per series. */
export function stackedBars({ title, labels, series, format }) {
  const width = 720;
  const height = 220;
  const left = 64;
  const bottom = 24;
  const top = 8;
  const plotW = width - left - 8;
  const plotH = height - top - bottom;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotW / Math.max(1, labels.length);
  const barW = Math.max(1, slot * 0.72);

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": title,
  });
  chart.append(svg("title", null, title));
  for (let tick = 0; tick <= 4; tick++) {
    const value = (max * tick) / 4;
    const y = top + plotH - (plotH * tick) / 4;
    chart.append(
      svg("line", { x1: left, x2: width - 8, y1: y, y2: y, class: "grid" }),
      svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, format(value)),
    );
  }
  const labelEvery = Math.ceil(labels.length / 12);
  labels.forEach((label, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    let y = top + plotH;
    series.forEach((s, k) => {
      const value = s.values[i];
      if (value <= 0) return;
      const h = (plotH * value) / max;
      y -= h;
      chart.append(
        svg(
          "rect",
          { x, y, width: barW, height: Math.max(h, 0.5), fill: colorOf(k), class: "bar" },
          svg("title", null, `${s.name} · ${label}: ${format(value)}`),
        ),
      );
    });
    if (i % labelEvery === 0) {
      chart.append(svg("text", { x: x + barW / 2, y: height - 6, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  return el("figure", { class: "chart-box" }, el("figcaption", null, title), chart, legend(series));
}

export function legend(series) {
  return el(
    "ul",
    { class: "legend" },
    series.map((s, k) =>
      el("li", null, svg("svg", { viewBox: "0 0 10 10", class: "swatch" }, svg("rect", { width: 10, height: 10, fill: colorOf(k) })), s.name || "(none)"),
    ),
  );
}

/** Horizontal bars of use against a limit: [{label, used, limit, text}]. */
export function budgetBars(items) {
  const width = 720;
  const row = 30;
  const labelW = 180;
  const barW = width - labelW - 180;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${Math.max(row, items.length * row)}`,
    class: "chart budgets",
    role: "img",
    "aria-label": "Budget use per key",
  });
  items.forEach((item, i) => {
    const y = i * row + 6;
    const fraction = item.limit > 0 ? Math.min(1, item.used / item.limit) : item.used > 0 ? 1 : 0;
    const level = fraction >= 1 ? "over" : fraction >= 0.8 ? "near" : "ok";
    chart.append(
      svg("text", { x: 0, y: y + 13, class: "axis" }, item.label),
      svg("rect", { x: labelW, y, width: barW, height: 18, class: "track" }),
      svg("rect", { x: labelW, y, width: Math.max(0.5, barW * fraction), height: 18, class: `fill ${level}` },
        svg("title", null, `${item.label}: ${item.text}`)),
      svg("text", { x: labelW + barW + 8, y: y + 13, class: "axis" }, item.text),
    );
  });
  return chart;
}
