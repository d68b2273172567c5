// Notification channels: a webhook (verified by a signed ping) and e-mail (verified by a link),
// listed in the order of the server's vocabulary.

import { api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, messageText, showMessage } from "/static/js/dom.js";
import { formatTime } from "/static/js/format.js";
import { t, tOr } from "/static/js/i18n.js";
import { vocabulary } from "/static/js/state.js";
import { refreshSubscriptions } from "/static/js/subscriptions.js";

const SUBMIT_LABELS = { webhook: "channels.webhook_submit", email: "channels.email_submit" };

let channels = [];
let loaded = false;
let secret = null; // a generated webhook secret, shown once
let busy = null; // "webhook" | "email" while its PUT runs

export function bindChannels() {
  $("webhook-form").addEventListener("submit", (event) => onWebhookSubmit(event).catch(reportError));
  $("email-form").addEventListener("submit", (event) => onEmailSubmit(event).catch(reportError));
  $("webhook-secret-copy").addEventListener("click", () => copySecret().catch(reportError));
}

/** The tab is opened: a secret shown before is gone, and the list is fetched again. */
export async function openChannels() {
  secret = null;
  const rows = await api("/api/notifications/channels");
  channels = Array.isArray(rows) ? rows : [];
  loaded = true;
  renderChannels();
}

/** `{key, fallback}` for a channel's name in a message, translated when the message is shown. */
function channelName(channel) {
  return { key: `channel.${channel}`, fallback: channel };
}

export function renderChannels() {
  const order = vocabulary().channels;
  const rank = (row) => (order.includes(row.channel) ? order.indexOf(row.channel) : order.length);
  const rows = [...channels].sort((a, b) => rank(a) - rank(b));
  const list = $("channel-list");
  if (loaded && rows.length === 0) {
    list.replaceChildren(el("li", { class: "muted", "data-testid": "channels-empty" }, t("channels.empty")));
  } else {
    list.replaceChildren(...rows.map(channelRow));
  }
  $("webhook-secret-box").hidden = !secret;
  $("webhook-secret-value").textContent = secret || "";
  for (const [kind, key] of Object.entries(SUBMIT_LABELS)) {
    const button = $(`${kind}-form`).querySelector('button[type="submit"]');
    button.disabled = busy !== null;
    button.textContent = busy === kind ? t("channels.checking") : t(key);
  }
}

/** The channel's last error in the reader's language (the server's text when it has no code). */
function errorDetail(row) {
  return row.last_error_code ? { key: `channel_error.${row.last_error_code}`, fallback: row.last_error } : row.last_error;
}

function channelRow(row) {
  const name = tOr(`channel.${row.channel}`, row.channel);
  const verified = row.status === "verified";
  let note = null;
  if (row.last_error) {
    note = el("p", { class: "error channel-note", "data-testid": "channel-error" }, messageText({ key: "channels.error_note", params: { detail: errorDetail(row) } }));
  } else if (verified && row.verified_at) {
    note = el("p", { class: "muted channel-note" }, t("channels.verified_at", { time: formatTime(row.verified_at) }));
  } else if (!verified && row.channel === "email") {
    note = el("p", { class: "muted channel-note", "data-testid": "channel-note" }, t("channels.check_inbox"));
  }
  return el(
    "li",
    { class: "channel-row", "data-testid": "channel-row", "data-channel": row.channel },
    el("strong", { class: "channel-name" }, name),
    el("span", { class: "channel-address", "data-testid": "channel-address" }, row.address),
    el(
      "span",
      { class: `badge channel-${verified ? "verified" : "pending"}`, "data-testid": "channel-status", "data-status": row.status },
      tOr(`channels.status.${row.status}`, row.status),
    ),
    el(
      "button",
      {
        type: "button",
        class: "secondary danger",
        "aria-label": t("channels.remove_label", { channel: name }),
        "data-testid": "channel-remove",
        onclick: () => removeChannel(row.channel).catch(reportError),
      },
      t("channels.remove"),
    ),
    note,
  );
}

/** Runs one channel PUT with its button showing progress; answers the saved row, or null (reason shown). */
async function putChannel(kind, body) {
  busy = kind;
  if (kind === "webhook") secret = null; // it belonged to the webhook being replaced
  showMessage("channel-message", null);
  renderChannels();
  let row = null;
  try {
    const refusal = await apiRefusal(async () => {
      row = await api(`/api/notifications/channels/${kind}`, { method: "PUT", body });
      channels = [...channels.filter((c) => c.channel !== row.channel), row];
      loaded = true;
    });
    if (refusal) showMessage("channel-message", refusal, "error");
  } finally {
    busy = null;
    renderChannels();
  }
  return row;
}

async function onWebhookSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const url = form.elements.url.value.trim();
  const given = form.elements.secret.value.trim();
  if (!url || busy) return;
  const row = await putChannel("webhook", given ? { url, secret: given } : { url });
  if (!row) return;
  form.elements.secret.value = "";
  secret = row.secret || null;
  renderChannels();
  if (row.status === "verified") showMessage("channel-message", { key: "channels.webhook_verified" });
  else showMessage("channel-message", { key: "channels.webhook_failed", params: { detail: row.last_error ? errorDetail(row) : row.status } }, "error");
  refreshSubscriptions();
}

async function onEmailSubmit(event) {
  event.preventDefault();
  const address = event.target.elements.address.value.trim();
  if (!address || busy) return;
  const row = await putChannel("email", { address });
  if (!row) return;
  if (row.last_error) showMessage("channel-message", { key: "channels.email_failed", params: { detail: errorDetail(row) } }, "error");
  else showMessage("channel-message", { key: "channels.email_sent" });
}

async function removeChannel(channel) {
  const refusal = await apiRefusal(async () => {
    await api(`/api/notifications/channels/${encodeURIComponent(channel)}`, { method: "DELETE" });
    channels = channels.filter((c) => c.channel !== channel);
    if (channel === "webhook") secret = null;
    showMessage("channel-message", { key: "channels.removed", params: { channel: channelName(channel) } });
  });
  if (refusal) showMessage("channel-message", refusal, "error");
  renderChannels();
}

async function copySecret() {
  const button = $("webhook-secret-copy");
  try {
    await navigator.clipboard.writeText(secret || "");
    button.textContent = t("channels.copied");
  } catch {
    // No clipboard permission: select the text so that the user can copy it by hand.
    const range = document.createRange();
    range.selectNodeContents($("webhook-secret-value"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
}
