// DOM helpers shared by every section.
//
// Every piece of user or report text reaches the DOM through text nodes (`el()` and `svg()` or
// `textContent`); nothing built from data goes through innerHTML.

import { t, tOr } from "/static/js/i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

/** `el("li", {class: "x", "data-testid": "y", onclick: fn}, "text", childNode)` — text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** `el()` for SVG elements. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces `select`'s options by `values`, labelled `t(prefix.value)`; keeps the chosen value if it is still offered. */
export function fillOptions(select, values, prefix) {
  const chosen = select.value;
  select.replaceChildren(...values.map((value) => el("option", { value }, tOr(`${prefix}.${value}`, value))));
  if (chosen && values.includes(chosen)) select.value = chosen;
}

// --- message lines ---------------------------------------------------------------------------
// A message is kept as what it says (`{key, params}` for our words, `{text}` for the API's),
// not as the text shown, so that a change of language shows it again in the new language.

const shown = new Map(); // element id → {message, kind}

/** `{key, params}` → text; a param may itself be `{key, fallback}` (a channel's name, say). */
export function messageText(message) {
  if (!message) return "";
  if (message.text !== undefined) return String(message.text);
  const params = {};
  for (const [name, value] of Object.entries(message.params || {})) {
    params[name] = value && typeof value === "object" && value.key ? tOr(value.key, value.fallback ?? value.key) : value;
  }
  return t(message.key, params);
}

/** Shows `message` (`{key, params}`, `{text}` or null to hide) on the message line `id`. */
export function showMessage(id, message, kind = "ok") {
  if (message) shown.set(id, { message, kind });
  else shown.delete(id);
  paintMessage(id, message, kind);
}

function paintMessage(id, message, kind) {
  const node = $(id);
  node.hidden = !message;
  node.textContent = messageText(message);
  node.className = `message ${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
}

/** Shows every message line again in the current language. */
export function relabelMessages() {
  for (const [id, { message, kind }] of shown) paintMessage(id, message, kind);
}

/** Copies `text`, and says so on `button`; with no clipboard permission, selects `node` to copy by hand. */
export async function copyText(text, button, node) {
  try {
    await navigator.clipboard.writeText(text || "");
    button.textContent = t("channels.copied");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
}
