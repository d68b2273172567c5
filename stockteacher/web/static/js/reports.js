// The report list: filters (sent to `GET /api/reports`), paging and the rows.

import { api } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el } from "/static/js/dom.js";
import { onFavoriteChange, favoriteButton } from "/static/js/favorites.js";
import { splitList, timeElement } from "/static/js/format.js";
import { t } from "/static/js/i18n.js";
import { sentimentBadge } from "/static/js/sentiment.js";
import { vocabulary } from "/static/js/state.js";

const PAGE_SIZE = 20;

let offset = 0;
let rows = [];
let loaded = false;
let latestRequest = 0;
let selectedId = null;
let openReport = async () => {};

/** Wires the filter form and the pager; `onOpen(insightId)` opens a report. */
export function bindReports({ onOpen }) {
  openReport = onOpen;
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    loadReports().catch(reportError);
  });
  $("filters").addEventListener("reset", () => {
    // The form clears its fields after this handler; reload once it has.
    setTimeout(() => {
      offset = 0;
      loadReports().catch(reportError);
    });
  });
  $("page-prev").addEventListener("click", () => changePage(-1));
  $("page-next").addEventListener("click", () => changePage(1));
  onFavoriteChange(async (insightId, favorite) => {
    for (const row of rows) if (row.insight_id === insightId) row.favorite = favorite;
    if (!favorite && $("filters").elements.favorites_only.checked) await loadReports();
  });
}

/** The sentiment filter's choices: any, then the server's sentiments. */
export function fillFilterOptions() {
  const select = $("filters").elements.sentiment;
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("filters.sentiment_any")),
    ...vocabulary().sentiments.map((value) => el("option", { value }, t(`sentiment.${value}`))),
  );
  select.value = chosen;
}

function filterQuery() {
  const form = $("filters");
  const value = (name) => String(form.elements[name].value || "").trim();
  return {
    date_from: value("date_from"),
    date_to: value("date_to"),
    tickers: splitList(value("tickers")).map((s) => s.toUpperCase()),
    keywords: splitList(value("keywords")),
    search: value("search"),
    sentiment: value("sentiment"),
    status: value("status"),
    urgent_only: form.elements.urgent_only.checked ? "true" : "",
    favorites_only: form.elements.favorites_only.checked ? "true" : "",
    limit: PAGE_SIZE,
    offset,
  };
}

export async function loadReports() {
  const request = ++latestRequest;
  $("reports-status").textContent = t("loading");
  const answer = await api("/api/reports", { query: filterQuery() });
  if (request !== latestRequest) return; // a newer request is under way
  rows = Array.isArray(answer) ? answer : [];
  loaded = true;
  renderReports();
}

/** Marks the row of the open report (null: none). */
export function markSelected(insightId) {
  selectedId = insightId;
  renderReports();
}

export function renderReports() {
  $("report-list").replaceChildren(...rows.map(reportRow));
  $("reports-status").textContent = loaded && rows.length === 0 ? t("reports.empty") : "";
  $("page-label").textContent = t("reports.page", { page: Math.floor(offset / PAGE_SIZE) + 1 });
  $("page-prev").disabled = offset === 0;
  $("page-next").disabled = rows.length < PAGE_SIZE;
}

function reportRow(report) {
  const selected = report.insight_id === selectedId;
  return el(
    "li",
    {
      class: selected ? "report-row selected" : "report-row",
      "data-testid": "report-row",
      "data-insight-id": report.insight_id,
      "aria-current": selected ? "true" : null,
    },
    el(
      "button",
      {
        type: "button",
        class: "row-open",
        "data-testid": "report-open",
        "aria-label": t("reports.open", { ticker: report.ticker, headline: report.headline }),
        onclick: () => openReport(report.insight_id).catch(reportError),
      },
      el("span", { class: "ticker", "data-testid": "report-ticker" }, report.ticker),
      el("span", { class: "headline", "data-testid": "report-headline" }, report.headline),
      el("span", { class: "row-meta" }, timeElement(report.published_at)),
    ),
    el("span", { class: "row-side" }, sentimentBadge(report.sentiment_score), favoriteButton(report)),
  );
}

function changePage(delta) {
  offset = Math.max(0, offset + delta * PAGE_SIZE);
  loadReports().catch(reportError);
}
