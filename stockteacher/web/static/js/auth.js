// The API key (in `api_key` auth mode): the form that asks for it, and forgetting it when the
// server refuses it or the user asks to.

import { setUnauthorizedHandler } from "/static/js/api.js";
import { forgetChatSessions } from "/static/js/chat.js";
import { $ } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";
import { setApiKey } from "/static/js/state.js";

const KEY_STORAGE = "stockteacher.apiKey";

let messageKey = null;
let onSignedIn = () => {};
let onSignedOut = () => {};

/** `onKey()` runs once a key is entered; `onLeave()` when the page goes back to the key form. */
export function bindAuth({ onKey, onLeave }) {
  onSignedIn = onKey;
  onSignedOut = onLeave;
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("forget-key").addEventListener("click", () => forgetKey(null));
  setUnauthorizedHandler(() => forgetKey("auth.rejected"));
}

/** The key this browser remembered, made the one the API client sends. */
export function restoreKey() {
  const key = localStorage.getItem(KEY_STORAGE);
  setApiKey(key);
  return key;
}

function forgetKey(reasonKey) {
  localStorage.removeItem(KEY_STORAGE);
  forgetChatSessions();
  setApiKey(null);
  showAuth(reasonKey);
}

export function showAuth(reasonKey = null) {
  onSignedOut();
  messageKey = reasonKey;
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  $("nav").hidden = true;
  $("forget-key").hidden = true;
  $("auth-panel").hidden = false;
  renderAuthMessage();
  $("api-key-input").focus();
}

export function renderAuthMessage() {
  const message = $("auth-message");
  message.hidden = !messageKey;
  message.textContent = messageKey ? t(messageKey) : "";
}

function onAuthSubmit(event) {
  event.preventDefault();
  const key = $("api-key-input").value.trim();
  if (!key) return;
  localStorage.setItem(KEY_STORAGE, key);
  forgetChatSessions();
  setApiKey(key);
  $("api-key-input").value = "";
  $("auth-panel").hidden = true;
  messageKey = null;
  onSignedIn();
}
