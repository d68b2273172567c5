// The favourite star, wherever a report is shown (list row, detail): every star of a report
// is replaced when it changes, and the sections holding the report are told.

import { api } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { el } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";

const listeners = [];

/** `listener(insightId, favorite)` runs after each change (it may return a promise). */
export function onFavoriteChange(listener) {
  listeners.push(listener);
}

export function favoriteButton(report) {
  const on = Boolean(report.favorite);
  return el(
    "button",
    {
      type: "button",
      class: on ? "star on" : "star",
      "data-testid": "favorite-toggle",
      "data-favorite-for": report.insight_id,
      "aria-pressed": String(on),
      "aria-label": t(on ? "favorite.remove" : "favorite.add"),
      title: t(on ? "favorite.remove" : "favorite.add"),
      onclick: () => setFavorite(report.insight_id, !on).catch(reportError),
    },
    on ? "★" : "☆",
  );
}

async function setFavorite(insightId, favorite) {
  await api(`/api/reports/${encodeURIComponent(insightId)}/favorite`, { method: favorite ? "PUT" : "DELETE" });
  for (const button of document.querySelectorAll("[data-favorite-for]")) {
    if (button.dataset.favoriteFor === insightId) button.replaceWith(favoriteButton({ insight_id: insightId, favorite }));
  }
  await Promise.all(listeners.map((listener) => listener(insightId, favorite)));
}
