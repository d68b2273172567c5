// The banner at the top of the page, for errors that belong to no form.

import { ApiError, AuthRequired, errorMessage } from "/static/js/api.js";
import { $, el, messageText } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";

let shown = null; // {key, params} or {text}, kept so that a change of language shows it again

export function showBanner(message) {
  shown = message;
  renderBanner();
}

export function hideBanner() {
  shown = null;
  renderBanner();
}

export function renderBanner() {
  const banner = $("banner");
  banner.hidden = !shown;
  if (!shown) {
    banner.replaceChildren();
    return;
  }
  banner.replaceChildren(
    el("span", {}, messageText(shown)),
    el("button", { type: "button", class: "link-button", onclick: hideBanner, "aria-label": t("detail.close") }, "×"),
  );
}

/** The `.catch()` of every user action: the reason goes to the banner (a 401 already shows the key form). */
export function reportError(error) {
  if (error instanceof AuthRequired) return;
  showBanner(errorMessage(error));
  if (!(error instanceof ApiError)) console.warn(error);
}
