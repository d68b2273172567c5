// Subscriptions: which tickers the user follows, and when each wants its alerts.

import { ApiError, AuthRequired, api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, fillOptions, showMessage } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";
import { vocabulary } from "/static/js/state.js";
import { bindTickerSuggestions, tickerChoice } from "/static/js/tickersuggest.js";

let subscriptions = [];
let loaded = false;

export function bindSubscriptions({ onPendingLink }) {
  $("subscribe-form").addEventListener("submit", (event) => onSubscribeSubmit(event).catch(reportError));
  bindTickerSuggestions($("subscribe-ticker"), { onPick: () => showCandidates([]) });
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
  await subscribe(form.elements.ticker.value.trim(), form.elements.alert_window.value);
}

/** Subscribes to what was typed: a symbol, or a company's name that the server resolves. A name
 * that could be several tickers (409 with `candidates`) offers them to pick from. */
async function subscribe(ticker, alertWindow) {
  if (!ticker) return;
  showCandidates([]);
  try {
    const created = await api("/api/subscriptions", { method: "POST", body: { ticker, alert_window: alertWindow } });
    subscriptions = [...subscriptions.filter((s) => s.subscription_id !== created.subscription_id), created];
    loaded = true;
    renderSubscriptions();
    $("subscribe-ticker").value = "";
    showMessage("subs-message", { key: "subs.added", params: { ticker: created.ticker } });
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    const candidates = Array.isArray(error.body?.candidates) ? error.body.candidates : [];
    if (error.status === 409 && candidates.length) {
      showMessage("subs-message", { key: "subs.ambiguous", params: { typed: ticker } }, "error");
      showCandidates(candidates, alertWindow);
    } else {
      showMessage("subs-message", { text: error.detail }, "error");
    }
  }
}

function showCandidates(candidates, alertWindow) {
  const list = $("subs-candidates");
  list.hidden = candidates.length === 0;
  list.replaceChildren(
    ...candidates.map((candidate) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "secondary candidate",
            "data-testid": "subs-candidate",
            "data-ticker": candidate.ticker,
            onclick: () => subscribe(candidate.ticker, alertWindow).catch(reportError),
          },
          tickerChoice(candidate),
        ),
      ),
    ),
  );
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
