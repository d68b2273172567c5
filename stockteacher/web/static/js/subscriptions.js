// Subscriptions: which tickers the user follows, and when each wants its alerts.

import { api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, fillOptions, showMessage } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";
import { vocabulary } from "/static/js/state.js";

let subscriptions = [];
let loaded = false;

export function bindSubscriptions({ onPendingLink }) {
  $("subscribe-form").addEventListener("submit", (event) => onSubscribeSubmit(event).catch(reportError));
  $("subs-pending-link").addEventListener("click", onPendingLink);
}

/** The alert-window choices (the form's and each row's), from the server's vocabulary. */
export function fillWindowOptions(select) {
  fillOptions(select, vocabulary().alert_windows, "window");
}

export async function loadSubscriptions() {
  const rows = await api("/api/subscriptions");
  subscriptions = Array.isArray(rows) ? rows : [];
  loaded = true;
  renderSubscriptions();
}

/** A verified channel turns pending subscriptions Active: fetch them again if they were shown. */
export function refreshSubscriptions() {
  if (loaded) loadSubscriptions().catch(reportError);
}

export function renderSubscriptions() {
  const list = $("subscription-list");
  $("subs-pending-hint").hidden = !subscriptions.some((s) => s.status === "PendingVerification");
  if (loaded && subscriptions.length === 0) {
    list.replaceChildren(el("li", { class: "muted", "data-testid": "subscriptions-empty" }, t("subs.empty")));
    return;
  }
  list.replaceChildren(...subscriptions.map(subscriptionRow));
}

function subscriptionRow(sub) {
  const select = el("select", {
    "aria-label": t("subs.window_label", { ticker: sub.ticker }),
    "data-testid": "subscription-window",
    onchange: (event) => changeSubscriptionWindow(sub, event.target.value).catch(reportError),
  });
  fillWindowOptions(select);
  select.value = sub.alert_window;
  return el(
    "li",
    { class: "subscription-row", "data-testid": "subscription-row", "data-subscription-id": sub.subscription_id },
    el("strong", { class: "ticker", "data-testid": "subscription-ticker" }, sub.ticker),
    el(
      "span",
      { class: `badge status-${sub.status}`, "data-testid": "subscription-status", "data-status": sub.status },
      t(`substatus.${sub.status}`),
    ),
    select,
    el(
      "button",
      {
        type: "button",
        class: "secondary danger",
        "aria-label": t("subs.delete_label", { ticker: sub.ticker }),
        "data-testid": "subscription-delete",
        onclick: () => deleteSubscription(sub).catch(reportError),
      },
      t("subs.delete"),
    ),
  );
}

async function onSubscribeSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const ticker = form.elements.ticker.value.trim().toUpperCase();
  const alertWindow = form.elements.alert_window.value;
  if (!ticker) return;
  const refusal = await apiRefusal(async () => {
    const created = await api("/api/subscriptions", { method: "POST", body: { ticker, alert_window: alertWindow } });
    subscriptions = [...subscriptions.filter((s) => s.subscription_id !== created.subscription_id), created];
    loaded = true;
    renderSubscriptions();
    form.elements.ticker.value = "";
    showMessage("subs-message", { key: "subs.added", params: { ticker: created.ticker } });
  });
  if (refusal) showMessage("subs-message", refusal, "error");
}

async function changeSubscriptionWindow(sub, alertWindow) {
  const refusal = await apiRefusal(async () => {
    const updated = await api(`/api/subscriptions/${encodeURIComponent(sub.subscription_id)}`, {
      method: "PATCH",
      body: { alert_window: alertWindow },
    });
    subscriptions = subscriptions.map((s) => (s.subscription_id === updated.subscription_id ? updated : s));
    showMessage("subs-message", { key: "subs.updated", params: { ticker: updated.ticker } });
  });
  if (refusal) showMessage("subs-message", refusal, "error");
  renderSubscriptions();
}

async function deleteSubscription(sub) {
  const refusal = await apiRefusal(async () => {
    await api(`/api/subscriptions/${encodeURIComponent(sub.subscription_id)}`, { method: "DELETE" });
    subscriptions = subscriptions.filter((s) => s.subscription_id !== sub.subscription_id);
    showMessage("subs-message", { key: "subs.deleted", params: { ticker: sub.ticker } });
  });
  if (refusal) showMessage("subs-message", refusal, "error");
  renderSubscriptions();
}
