// Live: the latest requests (never images; prompts only when the gateway logs them) and
// each deployment's health: cooldowns, load, error rate. Refreshed every few seconds.

import { clear, el, message, table } from "../dom.js";
import { ms, percent, usd, when } from "../format.js";

const REFRESH_MS = 5000;

export function mount(root, { api }) {
  const health = el("div", { id: "live-health" });
  const recent = el("div", { id: "live-recent" });
  const stamp = el("p", { class: "about", id: "live-stamp" });
  root.append(el("section", { class: "live" }, stamp, el("h2", null, "Deployments"), health, el("h2", null, "Recent requests"), recent));

  let stopped = false;
  async function load() {
    try {
      const data = await api.get("/ui/api/live");
      if (stopped) return;
      render(data);
      stamp.textContent = `Updated ${new Date().toLocaleTimeString()} · error rates over the last ${data.window_seconds / 60} minutes`;
    } catch (error) {
      if (!stopped) clear(health).append(message(error.message, "error"));
    }
  }

  function render(data) {
    const now = Date.now() / 1000;
    clear(health).append(
      table(
        ["model", "deployment", "provider", "state", "in flight", "requests this minute", "errors", "error rate"],
        data.deployments.map((d) => [
          d.model,
          d.model_id,
          d.provider,
          d.cooling_down_until
            ? { text: `cooling down ${Math.max(0, Math.ceil(d.cooling_down_until - now))} s`, class: "bad" }
            : { text: "healthy", class: "good" },
          num(d.in_flight),
          num(d.requests_this_minute),
          num(`${d.recent_errors} / ${d.recent_requests}`),
          num(percent(d.error_rate)),
        ]),
        { id: "live-deployments" },
      ),
    );
    if (!data.spend_log) {
      clear(recent).append(message("Recent requests come from the spend log, which this gateway does not keep.", "info"));
      return;
    }
    const prompts = data.recent.some((r) => "prompt" in r);
    const headers = ["time", "model", "key", "status", "images", "cost", "latency", "attempts"];
    clear(recent).append(
      data.recent.length
        ? table(
            prompts ? [...headers, "prompt"] : headers,
            data.recent.map((r) => {
              const cells = [when(r.time), r.model, r.key_alias, { text: r.status, class: r.status === "OK" ? "good" : "bad" }, num(r.images), num(usd(r.cost)), num(ms(r.latency_ms)), num(r.attempts)];
              return prompts ? [...cells, r.prompt || ""] : cells;
            }),
            { id: "live-requests" },
          )
        : message("No requests yet.", "info"),
    );
  }

  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

function num(value) {
  return { text: String(value), class: "num" };
}
