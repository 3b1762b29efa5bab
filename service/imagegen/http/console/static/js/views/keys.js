// Keys (master key only): list, create (the secret is shown once), revoke. Through the
// gateway's LiteLLM-compatible /key/* routes, as an operator's script would call them.

import { clear, el, field, message, table } from "../dom.js";
import { usd, when } from "../format.js";

const PAGE = 100;
// LiteLLM's budget_duration values, as the gateway's budget periods.
const PERIODS = { "1d": "daily", "1mo": "monthly" };

export function mount(root, { api }) {
  const alias = el("input", { id: "key-alias", required: true, maxLength: 128, placeholder: "team-design" });
  const models = el("input", { id: "key-models", placeholder: "all models" });
  const budget = el("input", { id: "key-budget", type: "number", min: 0, step: "0.01", placeholder: "none" });
  const period = el("select", { id: "key-period" }, el("option", { value: "" }, "total"), el("option", { value: "1d" }, "daily"), el("option", { value: "1mo" }, "monthly"));
  const rpm = el("input", { id: "key-rpm", type: "number", min: 1, placeholder: "none" });
  const created = el("div", { id: "key-created" });
  const list = el("div", { id: "key-list" });
  const form = el(
    "form",
    { class: "controls", id: "key-form", autocomplete: "off" },
    el("h2", null, "New key"),
    el("div", { class: "row" }, field("Alias", alias), field("Models (comma-separated)", models)),
    el("div", { class: "row" }, field("Budget (USD)", budget), field("Period", period), field("Requests per minute", rpm)),
    el("button", { type: "submit", id: "key-create" }, "Create key"),
  );
  root.append(el("section", { class: "keys" }, form, created, el("h2", null, "Keys"), list));

  async function refresh() {
    try {
      const keys = [];
      for (let page = 1; ; page++) {
        const answer = await api.get(`/key/list?return_full_object=true&size=${PAGE}&page=${page}`);
        keys.push(...answer.keys);
        if (page >= answer.total_pages) break;
      }
      render(keys);
    } catch (error) {
      clear(list).append(message(error.message, "error"));
    }
  }

  function render(keys) {
    clear(list).append(
      keys.length
        ? table(
            ["alias", "models", "budget", "spent", "rpm", "created", ""],
            keys.map((k) => [
              k.key_alias,
              k.models.length ? k.models.join(", ") : "all",
              k.max_budget === null ? "none" : `${usd(String(k.max_budget))} ${PERIODS[k.budget_duration] || "total"}`,
              usd(String(k.spend)),
              k.rpm_limit === null ? "" : String(k.rpm_limit),
              k.created_at ? when(k.created_at) : "",
              revokeButton(k.key_alias),
            ]),
            { id: "key-table" },
          )
        : message("No keys yet.", "info"),
    );
  }

  function revokeButton(name) {
    // Two steps instead of a confirm() dialog: the first click arms, the second revokes.
    const button = el("button", { type: "button", class: "danger", "data-alias": name }, "Revoke");
    button.addEventListener("click", async () => {
      if (!button.classList.contains("armed")) {
        button.classList.add("armed");
        button.textContent = "Confirm revoke";
        return;
      }
      button.disabled = true;
      try {
        await api.post("/key/delete", { key_aliases: [name] });
        await refresh();
      } catch (error) {
        list.prepend(message(error.message, "error"));
        button.disabled = false;
      }
    });
    return button;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { key_alias: alias.value.trim() };
    const names = models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (names.length) body.models = names;
    if (budget.value !== "") body.max_budget = Number(budget.value);
    if (period.value) body.budget_duration = period.value;
    if (rpm.value !== "") body.rpm_limit = Number(rpm.value);
    clear(created);
    try {
      const key = await api.post("/key/generate", body);
      const secret = el("code", { id: "key-secret" }, key.key);
      const copy = el("button", { type: "button", class: "quiet" }, "Copy");
      copy.addEventListener("click", () => navigator.clipboard.writeText(key.key).then(() => (copy.textContent = "Copied")));
      const done = el("button", { type: "button", class: "quiet" }, "Done");
      done.addEventListener("click", () => clear(created));
      created.append(
        el("div", { class: "secret", role: "alert" }, el("p", null, `Key “${key.key_alias}” created. Copy its secret now: it is not shown again.`), secret, copy, done),
      );
      form.reset();
      await refresh();
    } catch (error) {
      created.append(message(error.message, "error"));
    }
  });
  refresh();
  return null;
}
