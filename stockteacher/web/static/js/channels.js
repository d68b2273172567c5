// Notification channels: a webhook (verified by a signed ping; its secret can be rotated), e-mail
// (verified by a link) and chat apps through Apprise (verified by a six-digit code sent to the
// chat), listed in the order of the server's vocabulary.

import { ApiError, AuthRequired, api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, copyText, el, messageText, showMessage } from "/static/js/dom.js";
import { formatTime, safeUrl } from "/static/js/format.js";
import { t, tOr } from "/static/js/i18n.js";
import { getConfig, vocabulary } from "/static/js/state.js";
import { refreshSubscriptions } from "/static/js/subscriptions.js";

const SUBMIT_LABELS = {
  webhook: "channels.webhook_submit",
  email: "channels.email_submit",
  apprise: "channels.apprise_submit",
};
// A refused code, by the `reason` of the 422: its message, and whether the code is used up.
const CODE_REFUSALS = {
  wrong_code: { key: "channels.code_wrong", dead: false },
  code_expired: { key: "channels.code_expired", dead: true },
  too_many_attempts: { key: "channels.code_too_many", dead: true },
};

let channels = [];
let loaded = false;
let secret = null; // {value, until, rotated}: a webhook secret just made or rotated, shown once
let busy = null; // "webhook" | "email" | "apprise" | "verify" | "rotate" while its request runs
let codeDead = false; // the pending code is expired or used up: the chat must be set again

export function bindChannels() {
  $("webhook-form").addEventListener("submit", (event) => onWebhookSubmit(event).catch(reportError));
  $("email-form").addEventListener("submit", (event) => onEmailSubmit(event).catch(reportError));
  $("apprise-form").addEventListener("submit", (event) => onAppriseSubmit(event).catch(reportError));
  $("apprise-verify").addEventListener("submit", (event) => onCodeSubmit(event).catch(reportError));
  $("apprise-service").addEventListener("change", renderAppriseGuide);
  $("webhook-secret-copy").addEventListener("click", () =>
    copyText(secret ? secret.value : "", $("webhook-secret-copy"), $("webhook-secret-value")).catch(reportError),
  );
}

/** The tab is opened: a secret shown before is gone, and the list is fetched again. */
export async function openChannels() {
  secret = null;
  await reloadChannels();
}

async function reloadChannels() {
  const rows = await api("/api/notifications/channels");
  channels = Array.isArray(rows) ? rows : [];
  loaded = true;
  renderChannels();
}

/** `{key, fallback}` for a channel's name in a message, translated when the message is shown. */
function channelName(channel) {
  return { key: `channel.${channel}`, fallback: channel };
}

function services() {
  const config = getConfig();
  return (config && Array.isArray(config.apprise_services) && config.apprise_services) || [];
}

function chosenService() {
  const id = $("apprise-service").value;
  return services().find((s) => s.id === id) || services()[0] || null;
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
  renderSecret();
  for (const [kind, key] of Object.entries(SUBMIT_LABELS)) {
    const button = $(`${kind}-form`).querySelector('button[type="submit"]');
    button.disabled = busy !== null;
    button.textContent = busy === kind ? t("channels.checking") : t(key);
  }
  renderAppriseServices();
  renderCodeBox();
}

function renderSecret() {
  $("webhook-secret-box").hidden = !secret;
  $("webhook-secret-value").textContent = secret ? secret.value : "";
  $("webhook-secret-note").textContent = t(secret && secret.rotated ? "channels.secret_rotated_note" : "channels.secret_note");
  const overlap = $("webhook-secret-overlap");
  overlap.hidden = !(secret && secret.until);
  overlap.textContent = secret && secret.until ? t("channels.secret_overlap", { time: formatTime(secret.until) }) : "";
}

/** The service picker, from `/api/config`'s `apprise_services` (names in the reader's language). */
function renderAppriseServices() {
  const select = $("apprise-service");
  const all = services();
  const chosen = select.value;
  select.replaceChildren(...all.map((s) => el("option", { value: s.id }, tOr(`apprise_service.${s.id}`, s.label))));
  if (chosen && all.some((s) => s.id === chosen)) select.value = chosen;
  $("apprise-form").hidden = all.length === 0;
  renderAppriseGuide();
}

/** What the chosen service's URL looks like, where its token comes from, and its set-up page. */
function renderAppriseGuide() {
  const service = chosenService();
  $("apprise-guide").hidden = !service;
  if (!service) return;
  const name = tOr(`apprise_service.${service.id}`, service.label);
  $("apprise-url").setAttribute("placeholder", service.form);
  $("apprise-form-shape").textContent = service.form;
  $("apprise-example").textContent = service.example;
  $("apprise-hint").textContent = tOr(`apprise_hint.${service.id}`, service.token_hint);
  const docs = $("apprise-docs");
  const href = safeUrl(service.docs);
  docs.hidden = !href;
  if (href) docs.setAttribute("href", href);
  docs.textContent = t("channels.apprise_docs", { service: name });
}

function pendingApprise() {
  return channels.find((c) => c.channel === "apprise" && c.status === "pending" && c.last_error_code !== "apprise_not_sent");
}

/** The code box: shown while a chat channel waits for the code that was sent to it. */
function renderCodeBox() {
  const row = pendingApprise();
  const box = $("apprise-verify");
  box.hidden = !row;
  if (!row) return;
  box.querySelector('[data-testid="apprise-code-sent"]').textContent = row.verification_expires_at
    ? t("channels.code_sent_until", { time: formatTime(row.verification_expires_at) })
    : t("channels.code_sent");
  const button = box.querySelector('button[type="submit"]');
  button.disabled = busy !== null || codeDead;
  button.textContent = busy === "verify" ? t("channels.checking") : t("channels.apprise_confirm");
  $("apprise-code").disabled = codeDead;
}

/** The channel's last error in the reader's language (the server's text when it has no code). */
function errorDetail(row) {
  return row.last_error_code ? { key: `channel_error.${row.last_error_code}`, fallback: row.last_error } : row.last_error;
}

function channelNotes(row) {
  const verified = row.status === "verified";
  const notes = [];
  if (row.last_error) {
    notes.push(
      el(
        "p",
        { class: "error channel-note", "data-testid": "channel-error", title: row.last_error },
        messageText({ key: "channels.error_note", params: { detail: errorDetail(row) } }),
      ),
    );
  } else if (verified && row.verified_at) {
    notes.push(el("p", { class: "muted channel-note" }, t("channels.verified_at", { time: formatTime(row.verified_at) })));
  } else if (!verified && row.channel === "email") {
    notes.push(el("p", { class: "muted channel-note", "data-testid": "channel-note" }, t("channels.check_inbox")));
  } else if (!verified && row.channel === "apprise") {
    notes.push(el("p", { class: "muted channel-note", "data-testid": "channel-note" }, t("channels.enter_code")));
  }
  const until = row.previous_secret_valid_until;
  if (row.channel === "webhook" && until && new Date(until) > new Date()) {
    notes.push(
      el("p", { class: "muted channel-note", "data-testid": "channel-overlap" }, t("channels.previous_signs", { time: formatTime(until) })),
    );
  }
  return notes;
}

function channelRow(row) {
  const name = tOr(`channel.${row.channel}`, row.channel);
  const verified = row.status === "verified";
  const rotate =
    row.channel === "webhook"
      ? el(
          "button",
          {
            type: "button",
            class: "secondary",
            "data-testid": "webhook-rotate",
            disabled: busy !== null,
            onclick: () => rotateSecret().catch(reportError),
          },
          busy === "rotate" ? t("channels.checking") : t("channels.rotate"),
        )
      : null;
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
      "span",
      { class: "channel-actions" },
      rotate,
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
    ),
    channelNotes(row),
  );
}

function keepRow(row) {
  channels = [...channels.filter((c) => c.channel !== row.channel), row];
  loaded = true;
}

/**
 * Runs one channel PUT with its button showing progress; answers the saved row, or null (the
 * reason shown, after the sentence `refusedKey` says when given).
 */
async function putChannel(kind, body, refusedKey = null) {
  busy = kind;
  if (kind === "webhook") secret = null; // it belonged to the webhook being replaced
  showMessage("channel-message", null);
  renderChannels();
  let row = null;
  try {
    const refusal = await apiRefusal(async () => {
      row = await api(`/api/notifications/channels/${kind}`, { method: "PUT", body });
      keepRow(row);
    });
    if (refusal) {
      const message = refusedKey ? { key: refusedKey, params: { detail: refusal.text } } : refusal;
      showMessage("channel-message", message, "error");
    }
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
  secret = row.secret ? { value: row.secret, until: null, rotated: false } : null;
  renderChannels();
  if (row.status === "verified") showMessage("channel-message", { key: "channels.webhook_verified" });
  else showMessage("channel-message", { key: "channels.webhook_failed", params: { detail: row.last_error ? errorDetail(row) : row.status } }, "error");
  refreshSubscriptions();
}

/** A new whsec_ secret for the webhook, shown once; the old one keeps signing for a while. */
async function rotateSecret() {
  if (busy) return;
  busy = "rotate";
  showMessage("channel-message", null);
  renderChannels();
  try {
    const refusal = await apiRefusal(async () => {
      const answer = await api("/api/notifications/channels/webhook/rotate-secret", { method: "POST" });
      secret = { value: answer.secret, until: answer.previous_valid_until, rotated: true };
      const row = channels.find((c) => c.channel === "webhook");
      if (row) keepRow({ ...row, previous_secret_valid_until: answer.previous_valid_until });
      showMessage("channel-message", { key: "channels.rotated" });
    });
    if (refusal) showMessage("channel-message", refusal, "error");
  } finally {
    busy = null;
    renderChannels();
  }
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

async function onAppriseSubmit(event) {
  event.preventDefault();
  const url = event.target.elements.url.value.trim();
  if (!url || busy) return;
  showMessage("apprise-verify-message", null);
  const row = await putChannel("apprise", { url }, "channels.apprise_refused");
  if (!row) return;
  codeDead = false;
  $("apprise-code").value = "";
  renderChannels();
  if (row.last_error) {
    showMessage("channel-message", { key: "channels.apprise_failed", params: { detail: errorDetail(row) } }, "error");
  } else {
    showMessage("channel-message", null);
    $("apprise-code").focus();
  }
  refreshSubscriptions();
}

async function onCodeSubmit(event) {
  event.preventDefault();
  const code = $("apprise-code").value.trim();
  if (!code || busy || codeDead) return;
  busy = "verify";
  showMessage("apprise-verify-message", null);
  renderChannels();
  try {
    const row = await api("/api/notifications/channels/apprise/verify", { method: "POST", body: { code } });
    keepRow(row);
    $("apprise-code").value = "";
    $("apprise-url").value = "";
    showMessage("channel-message", { key: "channels.apprise_verified" });
    refreshSubscriptions();
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    await codeRefused(error);
  } finally {
    busy = null;
    renderChannels();
  }
}

/** A refused code in the reader's language: wrong (tries left), expired, too many tries. */
async function codeRefused(error) {
  const body = error.body && typeof error.body === "object" ? error.body : {};
  const refusal = error.status === 422 ? CODE_REFUSALS[body.reason] : null;
  if (refusal) {
    const left = Number(body.tries_left) || 0;
    const spent = body.reason === "wrong_code" && left === 0;
    codeDead = refusal.dead || spent;
    const key = spent ? "channels.code_wrong_last" : refusal.key;
    showMessage("apprise-verify-message", { key, params: { tries: left } }, "error");
    return;
  }
  if (error.status === 409 || error.status === 404) {
    // Verified (or removed) meanwhile, in another tab say: show the list as it is now.
    await reloadChannels();
    const key = error.status === 409 ? "channels.code_already_verified" : "channels.code_no_channel";
    showMessage("channel-message", { key }, error.status === 409 ? "ok" : "error");
    return;
  }
  showMessage("apprise-verify-message", { text: error.detail }, "error");
}

async function removeChannel(channel) {
  const refusal = await apiRefusal(async () => {
    await api(`/api/notifications/channels/${encodeURIComponent(channel)}`, { method: "DELETE" });
    channels = channels.filter((c) => c.channel !== channel);
    if (channel === "webhook") secret = null;
    if (channel === "apprise") showMessage("apprise-verify-message", null);
    showMessage("channel-message", { key: "channels.removed", params: { channel: channelName(channel) } });
  });
  if (refusal) showMessage("channel-message", refusal, "error");
  renderChannels();
}
