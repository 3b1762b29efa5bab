// Painting an edit mask over the first input image. The mask sent is a PNG of the image's
// size: opaque where the image is kept, transparent where the brush went (the gateway's
// one mask convention: transparent = edit).

import { el, field } from "../dom.js";

export class MaskEditor {
  constructor() {
    this.painted = false;
    this.image = el("canvas", { class: "mask-image", width: 1, height: 1 });
    this.paint = el("canvas", { class: "mask-paint", id: "pg-mask-canvas", width: 1, height: 1 });
    this.brush = el("input", { type: "range", min: 4, max: 200, value: "40", id: "pg-brush" });
    const reset = el("button", { type: "button", class: "quiet", id: "pg-mask-clear" }, "Clear mask");
    reset.addEventListener("click", () => this.clear());
    this.stage = el("div", { class: "mask-stage", hidden: true }, this.image, this.paint);
    this.node = el("div", { class: "mask" }, this.stage, el("div", { class: "row" }, field("Brush", this.brush), reset));
    this.bindPointer();
  }

  async load(file) {
    const bitmap = await createImageBitmap(file);
    for (const canvas of [this.image, this.paint]) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    this.image.getContext("2d").drawImage(bitmap, 0, 0);
    this.clear();
    this.stage.hidden = false;
  }

  clear() {
    this.paint.getContext("2d").clearRect(0, 0, this.paint.width, this.paint.height);
    this.painted = false;
  }

  bindPointer() {
    let drawing = false;
    const at = (event) => {
      const box = this.paint.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * this.paint.width) / box.width,
        ((event.clientY - box.top) * this.paint.height) / box.height,
      ];
    };
    const dab = (event) => {
      const [x, y] = at(event);
      const context = this.paint.getContext("2d");
      const scale = this.paint.width / Math.max(1, this.paint.getBoundingClientRect().width);
      context.fillStyle = "#000";
      context.beginPath();
      context.arc(x, y, (Number(this.brush.value) * scale) / 2, 0, Math.PI * 2);
      context.fill();
      this.painted = true;
    };
    this.paint.addEventListener("pointerdown", (event) => {
      drawing = true;
      this.paint.setPointerCapture(event.pointerId);
      dab(event);
    });
    this.paint.addEventListener("pointermove", (event) => drawing && dab(event));
    this.paint.addEventListener("pointerup", () => (drawing = false));
    this.paint.addEventListener("pointercancel", () => (drawing = false));
  }

  /** The mask PNG: black and opaque, with the painted area cut out to transparent. */
  toBlob() {
    const out = el("canvas", { width: this.paint.width, height: this.paint.height });
    const context = out.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, out.width, out.height);
    context.globalCompositeOperation = "destination-out";
    context.drawImage(this.paint, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
