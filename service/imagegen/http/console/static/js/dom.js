// Building DOM nodes. Text always goes in as text (textContent / text nodes), never as
// markup: prompts, model names and aliases are caller-controlled.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.setAttribute("class", value);
    } else if (name in node && typeof value !== "string") {
      node[name] = value; // properties such as value, checked, disabled
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** An HTML element: el("td", {class: "num"}, "12"). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  return append(node, children);
}

/** An SVG element (attributes are set as attributes). */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  return append(node, children);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** A table: header labels, then rows of cells (strings or nodes). */
export function table(headers, rows, attrs) {
  return el(
    "table",
    attrs,
    el("thead", null, el("tr", null, headers.map((h) => el("th", null, h)))),
    el("tbody", null, rows.map((cells) => el("tr", null, cells.map((c) => cellOf(c))))),
  );
}

function cellOf(cell) {
  if (cell instanceof Node) return el("td", null, cell);
  if (cell && typeof cell === "object" && "text" in cell) {
    return el("td", { class: cell.class || null, title: cell.title || null }, cell.text);
  }
  return el("td", null, cell);
}

/** A labelled form control. */
export function field(label, control, hint) {
  return el("label", { class: "field" }, el("span", null, label), control, hint ? el("small", null, hint) : null);
}

export function message(text, kind = "info") {
  return el("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : null }, text);
}
