// Spend: the spend query (QuerySpend's totals) over time, by model, key, user or tag; each
// key's budget use in its current period; the most expensive requests. A virtual key sees
// its own rows only (the server filters; nothing is hidden here).

import { budgetBars, seriesOf, stackedBars } from "../chart.js";
import { clear, el, field, message, table } from "../dom.js";
import { bucketLabel, ms, usd, when } from "../format.js";

export function mount(root, { api, session }) {
  if (!session.spend_log) {
    root.append(message("This gateway keeps no spend log: set general_settings (spend_log_path or database_url) in its config.", "info"));
    return null;
  }
  const groupBy = el("select", { id: "sp-group" }, ["model", "key", "user", "tag"].map((g) => el("option", { value: g }, g)));
  const days = el("select", { id: "sp-days" }, [["1", "last day"], ["7", "last 7 days"], ["30", "last 30 days"]].map(([v, t]) => el("option", { value: v }, t)));
  days.value = "7";
  const body = el("div", { id: "sp-body" });
  root.append(
    el("section", { class: "spend" }, el("div", { class: "row" }, field("Group by", groupBy), field("Window", days)), body),
  );

  let current = 0;
  async function load() {
    const ticket = ++current;
    try {
      const data = await api.get(`/ui/api/spend?group_by=${encodeURIComponent(groupBy.value)}&days=${encodeURIComponent(days.value)}`);
      if (ticket === current) render(clear(body), data);
    } catch (error) {
      if (ticket === current) clear(body).append(message(error.message, "error"));
    }
  }
  groupBy.addEventListener("change", load);
  days.addEventListener("change", load);
  load();
  return () => {
    current = -1;
  };
}

function render(body, data) {
  const starts = [];
  for (let t = data.since; t < data.until; t += data.bucket_seconds) starts.push(t);
  const labels = starts.map((s) => bucketLabel(s, data.bucket_seconds));
  const total = data.groups.reduce((sum, g) => sum + Number(g.cost), 0);
  const unknown = data.groups.reduce((sum, g) => sum + g.unknown_cost_count, 0);
  body.append(
    el(
      "p",
      { class: "totals", id: "sp-totals" },
      `${usd(String(total))} spent on ${data.groups.reduce((s, g) => s + g.images, 0)} images`,
      unknown ? ` (${unknown} request(s) of unknown cost not counted)` : "",
    ),
  );
  if (!data.timeline.length) {
    body.append(message("No requests in this window.", "info"));
  } else {
    body.append(
      stackedBars({ title: `Spend by ${data.group_by} (USD)`, labels, series: seriesOf(data.timeline, starts, (p) => Number(p.cost)), format: (v) => usd(String(v)) }),
      stackedBars({ title: `Images by ${data.group_by}`, labels, series: seriesOf(data.timeline, starts, (p) => p.images), format: (v) => String(Math.round(v * 100) / 100) }),
    );
  }
  body.append(
    el("h2", null, `Totals by ${data.group_by}`),
    table(
      [data.group_by, "requests", "errors", "images", "cost", "unknown cost"],
      data.groups.map((g) => [g.group || "(none)", num(g.requests), num(g.errors), num(g.images), num(usd(g.cost)), num(g.unknown_cost_count)]),
      { id: "sp-groups" },
    ),
    el("h2", null, "Budgets this period"),
  );
  if (data.budgets.length) {
    body.append(
      budgetBars(
        data.budgets.map((b) => ({
          label: b.alias,
          used: Number(b.spent),
          limit: Number(b.max_budget),
          text: `${usd(b.spent)} of ${usd(b.max_budget)} (${b.period})`,
        })),
      ),
    );
  } else {
    body.append(message("No key has a budget.", "info"));
  }
  body.append(
    el("h2", null, "Most expensive requests"),
    table(
      ["time", "model", "key", "user", "status", "images", "cost", "latency", "attempts"],
      data.top.map((r) => [when(r.time), r.model, r.key_alias, r.user, r.status, num(r.images), num(usd(r.cost)), num(ms(r.latency_ms)), num(r.attempts)]),
      { id: "sp-top" },
    ),
  );
}

function num(value) {
  return { text: String(value), class: "num" };
}
