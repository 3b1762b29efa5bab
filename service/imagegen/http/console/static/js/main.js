// The console's shell: sign-in, the navigation between views, the session's role.

import { Api, ApiError } from "./api.js";
import { clear, message } from "./dom.js";
import * as playground from "./views/playground.js";
import * as spend from "./views/spend.js";
import * as keys from "./views/keys.js";
import * as live from "./views/live.js";

const VIEWS = { playground, spend, keys, live };
const api = new Api();
const $ = (id) => document.getElementById(id);
const keyInput = () => /** @type {HTMLInputElement} */ ($("login-key"));
const navLinks = () => /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll("#nav a"));
let session = null;
let unmount = null;

function showLogin(error) {
  session = null;
  $("nav").hidden = true;
  $("view").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = error || "";
  keyInput().focus();
}

async function start() {
  try {
    session = await api.get("/ui/api/session");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin(api.key ? error.message : "");
      api.remember("");
      return;
    }
    throw error;
  }
  if (session.role === null) {
    showLogin();
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = false;
  $("view").hidden = false;
  $("signout").hidden = !api.key;
  const role = { master: "master key", key: `key ${session.alias}`, open: "no key needed" }[session.role];
  $("who").textContent = role;
  for (const link of navLinks()) {
    // Keys are managed with the master key only.
    link.hidden = link.dataset.view === "keys" && !session.manage_keys;
  }
  route();
}

function route() {
  if (!session) return;
  let name = location.hash.slice(1);
  if (!(name in VIEWS) || (name === "keys" && !session.manage_keys)) name = "playground";
  for (const link of navLinks()) {
    link.classList.toggle("active", link.dataset.view === name);
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (unmount) unmount();
  unmount = null;
  const view = clear($("view"));
  view.dataset.view = name;
  try {
    unmount = VIEWS[name].mount(view, { api, session }) || null;
  } catch (error) {
    view.append(message(error.message, "error"));
  }
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  api.remember(keyInput().value.trim());
  keyInput().value = "";
  start().catch((error) => showLogin(error.message));
});
$("signout").addEventListener("click", () => {
  api.remember("");
  if (unmount) unmount();
  unmount = null;
  clear($("view"));
  showLogin();
});
window.addEventListener("hashchange", route);
start().catch((error) => showLogin(error.message));
