// The playground: pick a served model, generate (streamed, with partial previews) or edit
// images, and see what each call cost, where it went and how long it took.

import { imageUrl } from "../api.js";
import { clear, el, field, message } from "../dom.js";
import { ms, usd } from "../format.js";
import { MaskEditor } from "./mask.js";

const FACT = "x-imagegen-";

export function mount(root, { api }) {
  const state = { models: [], model: null, mode: "generate", urls: [] };
  const models = el("select", { id: "pg-model", name: "model" });
  const about = el("p", { class: "about", id: "pg-about" });
  const prompt = el("textarea", { id: "pg-prompt", rows: 3, required: true, placeholder: "A lighthouse at dawn, watercolour" });
  const sizeBox = el("span");
  const quality = el("select", { id: "pg-quality" });
  const count = el("input", { id: "pg-n", type: "number", min: 1, max: 10, value: "1" });
  const seed = el("input", { id: "pg-seed", type: "number", min: 0, placeholder: "random" });
  const operation = el("select", { id: "pg-operation" });
  const images = el("input", { id: "pg-images", type: "file", accept: "image/png,image/jpeg,image/webp", multiple: true });
  const maskFile = el("input", { id: "pg-mask-file", type: "file", accept: "image/png" });
  const mask = new MaskEditor();
  const run = el("button", { id: "pg-run", type: "submit" }, "Generate");
  const status = el("p", { id: "pg-status", class: "status", role: "status" });
  const results = el("div", { id: "pg-results", class: "results" });
  let size = el("input");

  const tabGenerate = el("button", { type: "button", class: "tab active", id: "pg-tab-generate" }, "Generate");
  const tabEdit = el("button", { type: "button", class: "tab", id: "pg-tab-edit" }, "Edit");
  const editPanel = el(
    "fieldset",
    { class: "edit", hidden: true },
    el("legend", null, "Edit"),
    field("Operation", operation),
    field("Images", images, "one or more input images"),
    field("Mask (PNG, transparent = edit)", maskFile, "or paint on the first image below"),
    mask.node,
  );

  const form = el(
    "form",
    { class: "controls", id: "pg-form", autocomplete: "off" },
    el("div", { class: "tabs", role: "tablist" }, tabGenerate, tabEdit),
    field("Model", models),
    about,
    field("Prompt", prompt),
    el("div", { class: "row" }, field("Size", sizeBox), field("Quality", quality), field("n", count), field("Seed", seed)),
    editPanel,
    el("div", { class: "row" }, run),
    status,
  );
  root.append(el("section", { class: "playground" }, form, results));

  function setMode(mode) {
    state.mode = mode;
    tabGenerate.classList.toggle("active", mode === "generate");
    tabEdit.classList.toggle("active", mode === "edit");
    editPanel.hidden = mode !== "edit";
    run.textContent = mode === "edit" ? "Edit" : "Generate";
    prompt.required = mode === "generate";
  }
  tabGenerate.addEventListener("click", () => setMode("generate"));
  tabEdit.addEventListener("click", () => setMode("edit"));

  function choose(name) {
    const model = state.models.find((m) => m.name === name) || state.models[0];
    state.model = model;
    if (!model) return;
    about.textContent = [
      `provider ${model.provider}`,
      `price: ${model.price_basis}`,
      `operations: ${model.operations.join(", ")}`,
      model.deployments > 1 ? `${model.deployments} deployments` : null,
    ].filter(Boolean).join(" · ");
    // Size: the model's list, its aspect ratios, or free text within its rule.
    const choices = model.sizes.length ? model.sizes : model.aspect_ratios;
    if (choices.length) {
      size = el("select", { id: "pg-size" }, el("option", { value: "" }, "default"), choices.map((s) => el("option", { value: s }, s)));
      if (model.default_size && choices.includes(model.default_size)) size.value = model.default_size;
    } else {
      size = el("input", { id: "pg-size", value: model.default_size || "", placeholder: model.size_rule || "WIDTHxHEIGHT", title: model.size_rule });
    }
    clear(sizeBox).append(size);
    clear(quality).append(el("option", { value: "" }, "default"), ...model.qualities.map((q) => el("option", { value: q }, q)));
    quality.disabled = !model.qualities.length;
    count.max = String(model.max_n);
    seed.disabled = !model.seed;
    seed.title = model.seed ? "the same seed and prompt give the same image" : "this model takes no seed";
    const edits = model.operations.filter((op) => op !== "generate");
    clear(operation).append(...edits.map((op) => el("option", { value: op }, op)));
    tabEdit.disabled = !edits.length;
    if (!edits.length) setMode("generate");
  }
  models.addEventListener("change", () => choose(models.value));

  images.addEventListener("change", () => {
    if (images.files.length) mask.load(images.files[0]);
  });

  function parameters() {
    const model = state.model;
    const body = { model: model.name, prompt: prompt.value, n: Number(count.value) || 1 };
    if (size.value) body.size = size.value;
    if (quality.value) body.quality = quality.value;
    if (!seed.disabled && seed.value !== "") body.seed = Number(seed.value);
    return body;
  }

  async function submit(event) {
    event.preventDefault();
    if (!state.model) return;
    for (const url of state.urls) URL.revokeObjectURL(url);
    state.urls = [];
    clear(results);
    run.disabled = true;
    status.textContent = "Working…";
    const started = performance.now();
    const call = new CallView(results, state, started);
    try {
      const body = parameters();
      const partials = state.model.streams_partials ? 2 : 0;
      if (state.mode === "edit") {
        await api.stream("/v1/images/edits", await editForm(body, partials), (...event) => call.event(...event));
      } else {
        /** @type {Record<string, unknown>} */
        const streamed = { ...body, stream: true, response_format: "b64_json" };
        if (partials) streamed.partial_images = partials;
        await api.stream("/v1/images/generations", streamed, (...event) => call.event(...event));
      }
      status.textContent = call.summary();
    } catch (error) {
      status.textContent = "";
      results.append(message(error.message, "error"));
    } finally {
      run.disabled = false;
    }
  }

  async function editForm(body, partials) {
    if (!images.files.length) throw new Error("choose at least one input image");
    const form = new FormData();
    for (const [name, value] of Object.entries(body)) form.append(name, String(value));
    if (!form.get("prompt")) form.delete("prompt");
    form.append("operation", operation.value);
    form.append("stream", "true");
    form.append("response_format", "b64_json");
    if (partials) form.append("partial_images", String(partials));
    const name = images.files.length > 1 ? "image[]" : "image";
    for (const file of images.files) form.append(name, file, file.name);
    if (maskFile.files.length) form.append("mask", maskFile.files[0], maskFile.files[0].name);
    else if (mask.painted) form.append("mask", await mask.toBlob(), "mask.png");
    return form;
  }
  form.addEventListener("submit", submit);

  api.get("/ui/api/models").then(
    (answer) => {
      state.models = answer.models;
      if (!state.models.length) {
        form.replaceWith(message("This key may not call any served model.", "error"));
        return;
      }
      models.append(...state.models.map((m) => el("option", { value: m.name }, m.name)));
      const first = state.models.find((m) => m.name === answer.default_model) || state.models[0];
      models.value = first.name;
      choose(first.name);
    },
    (error) => root.append(message(error.message, "error")),
  );
  return () => {
    for (const url of state.urls) URL.revokeObjectURL(url);
  };
}

/** The images of one call as its events arrive: previews first, then each finished image;
 *  the call's facts (cost, provider, attempts) come with its last event. */
class CallView {
  constructor(root, state, started) {
    this.root = root;
    this.state = state;
    this.started = started;
    this.cards = [];
    this.pending = null;
    this.facts = null;
  }

  card() {
    const img = el("img", { alt: "generated image" });
    const facts = el("dl", { class: "facts" });
    const download = el("a", { class: "download", hidden: true }, "Download");
    const label = el("span", { class: "badge" }, "preview");
    const node = el("figure", { class: "image-card" }, img, el("figcaption", null, label, facts, download));
    this.root.append(node);
    return { node, img, facts, download, label };
  }

  show(card, data) {
    const url = imageUrl(data.b64_json, data.output_format);
    this.state.urls.push(url);
    card.img.src = url;
    return url;
  }

  event(name, data, headers) {
    if (data.error) throw new Error(data.error.message);
    if (name === "whole") {
      // The facts of a whole answer are its x-imagegen-* headers.
      const facts = {};
      for (const [header, value] of headers) if (header.startsWith(FACT)) facts[header] = value;
      for (const image of data.data || []) this.finished({ b64_json: image.b64_json, output_format: data.output_format }, facts);
      return;
    }
    if (name.endsWith("partial_image")) {
      this.pending = this.pending || this.card();
      this.show(this.pending, data);
      this.pending.label.textContent = `preview ${Number(data.partial_image_index) + 1}`;
    } else if (name.endsWith("completed")) {
      this.finished(data, data.imagegen || null);
    }
  }

  finished(data, facts) {
    const card = this.pending || this.card();
    this.pending = null;
    const url = this.show(card, data);
    card.latency = performance.now() - this.started;
    card.label.textContent = `image ${this.cards.length + 1}`;
    card.download.href = url;
    card.download.download = `imagegen-${this.cards.length + 1}.${data.output_format || "png"}`;
    card.download.hidden = false;
    this.cards.push(card);
    if (facts) this.facts = facts;
    // Every image shows the call's facts once the last event has brought them.
    for (const each of this.cards) this.describe(each);
  }

  describe(card) {
    const facts = this.facts || {};
    const rows = [
      // The cost is the call's: with several images, it is said to be for all of them.
      ["cost", this.facts ? this.costText() : "…"],
      ["provider", facts[`${FACT}provider`] || "…"],
      ["latency", ms(card.latency)],
      ["attempts", facts[`${FACT}attempts`] || "…"],
      ["request", facts[`${FACT}request-id`] || "…"],
    ];
    clear(card.facts).append(...rows.flatMap(([k, v]) => [el("dt", null, k), el("dd", { "data-fact": k }, v)]));
    if (facts[`${FACT}request-id`]) {
      card.download.download = `imagegen-${facts[`${FACT}request-id`]}-${this.cards.indexOf(card) + 1}.png`;
    }
  }

  costText() {
    const cost = usd(this.facts[`${FACT}response-cost`]);
    return this.cards.length > 1 ? `${cost} for ${this.cards.length} images` : cost;
  }

  summary() {
    const facts = this.facts || {};
    const cost = usd(facts[`${FACT}response-cost`]);
    return `${this.cards.length} image(s) in ${ms(performance.now() - this.started)} · cost ${cost}`;
  }
}
