// One report opened: its summary, what the price did after it (outcome), the ticker's price
// chart with its reports as markers and its track record, keywords, sources, the sentiment
// chart, related reports and the chat. The open report is in the URL (`#report=<insight_id>`).

import { ApiError, AuthRequired, api, errorMessage } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { chatDraft, chatPanel, closeChat, loadChat, openChat, renderChatMessages } from "/static/js/chat.js";
import { $, el, messageText } from "/static/js/dom.js";
import { favoriteButton, onFavoriteChange } from "/static/js/favorites.js";
import { tickerFeedLinks } from "/static/js/feeds.js";
import { formatScore, formatTime, formatUsd, safeUrl, timeElement } from "/static/js/format.js";
import { t, tOr } from "/static/js/i18n.js";
import { markSelected } from "/static/js/reports.js";
import { sentimentBadge, sentimentChart } from "/static/js/sentiment.js";
import { benchmarkLine, outcomeList, priceChart, trackPanel } from "/static/js/track.js";

let selectedId = null;
let detail = null;
let related = null;
let relatedError = null;
let chart = null;
let chartError = null;
let prices = null; // `GET /api/tickers/{t}/prices`, the ticker's reports over those days, its track record
let tickerReports = null;
let priceError = null;
let track = null;
let trackError = null;

export function bindDetail() {
  onFavoriteChange((insightId, favorite) => {
    for (const item of [...(related || []), detail]) {
      if (item && item.insight_id === insightId) item.favorite = favorite;
    }
  });
}

/** The report id in the URL, if the page was opened on one. */
export function reportFromHash() {
  const match = /^#report=(.+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

export async function openReport(insightId) {
  selectedId = insightId;
  detail = null;
  related = null;
  relatedError = null;
  chart = null;
  chartError = null;
  prices = null;
  tickerReports = null;
  priceError = null;
  track = null;
  trackError = null;
  const chat = openChat(insightId);
  if (window.location.hash !== `#report=${encodeURIComponent(insightId)}`) {
    history.replaceState(null, "", `#report=${encodeURIComponent(insightId)}`);
  }
  markSelected(insightId);
  $("detail").replaceChildren(el("p", { class: "muted" }, t("loading")));
  const base = `/api/reports/${encodeURIComponent(insightId)}`;
  let answer;
  try {
    answer = await api(base);
  } catch (error) {
    if (selectedId !== insightId) return;
    if (error instanceof ApiError && error.status === 404) {
      $("detail").replaceChildren(el("p", { class: "error", "data-testid": "detail-error" }, t("detail.not_found")));
      return;
    }
    throw error;
  }
  if (selectedId !== insightId) return;
  detail = answer;
  renderDetail();
  await Promise.all([
    api(`${base}/related`).then(
      (rows) => (related = Array.isArray(rows) ? rows : []),
      (error) => (relatedError = error),
    ),
    api(`/api/tickers/${encodeURIComponent(detail.ticker)}/sentiment`).then(
      (points) => (chart = points),
      (error) => (chartError = error),
    ),
    loadPrices(detail.ticker),
    api(`/api/tickers/${encodeURIComponent(detail.ticker)}/track-record`).then(
      (record) => (track = record),
      (error) => (trackError = error),
    ),
    loadChat(chat),
  ]);
  if (selectedId !== insightId) return;
  if ([relatedError, chartError, priceError, trackError].some((e) => e instanceof AuthRequired)) return;
  renderRelated();
  renderChart();
  renderPrices();
  renderTrack();
  renderChatMessages();
}

/** The ticker's bars, then its reports from the first bar on (the chart's markers). */
async function loadPrices(ticker) {
  const path = `/api/tickers/${encodeURIComponent(ticker)}`;
  try {
    prices = await api(`${path}/prices`);
    const bars = prices.bars || [];
    tickerReports = bars.length
      ? await api("/api/reports", { query: { tickers: [ticker], date_from: bars[0].date, limit: 100 } })
      : [];
  } catch (error) {
    priceError = error;
  }
}

function closeDetail() {
  selectedId = null;
  detail = null;
  closeChat();
  history.replaceState(null, "", window.location.pathname + window.location.search);
  $("detail").replaceChildren(el("p", { class: "muted" }, t("detail.placeholder")));
  markSelected(null);
}

/** Draws the open report again (after a change of language). */
export function relabelDetail() {
  if (!detail) return;
  renderDetail();
  renderRelated();
  renderChart();
  renderPrices();
  renderTrack();
  renderChatMessages();
}

function section(titleKey, testid, ...content) {
  return el("section", { class: "detail-section", "data-testid": testid }, el("h3", {}, t(titleKey)), ...content);
}

function chips(values, testid, label = String) {
  return el(
    "ul",
    { class: "chips", "data-testid": testid },
    (values || []).map((value) => el("li", { class: "chip", "data-value": value }, label(value))),
  );
}

/** A tag or anomaly label in words ("mna" → "인수합병"); one the page does not know, with spaces for its "_". */
function tagName(value) {
  const raw = String(value);
  return tOr(`event.${raw}`, tOr(`tag.${raw}`, tOr(`sentiment.${raw}`, raw.replace(/[_-]+/g, " "))));
}

function renderDetail() {
  const d = detail;
  if (!d) return;
  const draft = chatDraft();
  const offline = d.model === "offline";
  const meta = [
    ["detail.published", timeElement(d.published_at)],
    ["detail.status", t(`status.${d.status}`)],
    ["detail.sentiment", sentimentBadge(d.sentiment_score)],
    ["detail.anomaly", formatScore(d.anomaly_score)],
    ["detail.model", offline ? t("detail.offline_model") : (d.model ?? "–"), "detail-model"],
    ["detail.cost", formatUsd(d.cost_usd), "detail-cost"],
  ];
  const body = el(
    "div",
    { class: "report-detail", "data-testid": "report-detail", "data-insight-id": d.insight_id },
    el(
      "header",
      { class: "detail-header" },
      el("span", { class: "ticker", "data-testid": "detail-ticker" }, d.ticker),
      el("h2", { "data-testid": "detail-headline" }, d.headline),
      el(
        "span",
        { class: "detail-actions" },
        favoriteButton(d),
        el("button", { type: "button", class: "secondary", "data-testid": "detail-close", onclick: closeDetail }, t("detail.close")),
      ),
      tickerFeedLinks(d.ticker),
    ),
    el(
      "dl",
      { class: "meta", "data-testid": "detail-meta" },
      meta.map(([key, value, testid]) => el("div", {}, el("dt", {}, t(key)), el("dd", { "data-testid": testid }, value))),
    ),
    section("detail.summary", "detail-summary", el("p", { class: "summary" }, d.summary_text)),
    section("outcome.title", "detail-outcome", outcomeList(d)),
    el(
      "section",
      { class: "detail-section", "data-testid": "detail-prices" },
      el("h3", {}, t("price.title", { ticker: d.ticker })),
      el("div", { id: "price-slot", class: "chart-slot" }, el("p", { class: "muted" }, t("loading"))),
    ),
    el(
      "section",
      { class: "detail-section", "data-testid": "detail-track" },
      el("div", { id: "track-slot" }, el("p", { class: "muted" }, t("loading"))),
    ),
    section("detail.keywords", "detail-keywords", chips(d.keywords, "keyword-list")),
    (d.tags || []).length ? section("detail.tags", "detail-tags", chips(d.tags, "tag-list", tagName)) : null,
    (d.anomalies || []).length ? section("detail.anomalies", "detail-anomalies", anomalyList(d.anomalies)) : null,
    (d.glossary || []).length ? section("detail.glossary", "detail-glossary", glossaryList(d.glossary)) : null,
    section("detail.sources", "detail-sources", sourceList(d.source_refs)),
    el(
      "section",
      { class: "detail-section", "data-testid": "detail-chart" },
      el("h3", {}, t("detail.chart", { ticker: d.ticker })),
      el("div", { id: "chart-slot", class: "chart-slot" }, el("p", { class: "muted" }, t("loading"))),
    ),
    el(
      "section",
      { class: "detail-section", "data-testid": "detail-related" },
      el("h3", {}, t("detail.related")),
      el("div", { id: "related-slot" }, el("p", { class: "muted" }, t("loading"))),
    ),
    chatPanel(draft),
  );
  $("detail").replaceChildren(body);
}

function anomalyList(anomalies) {
  return el(
    "ul",
    { class: "anomalies", "data-testid": "anomaly-list" },
    anomalies.map((a) =>
      el(
        "li",
        {},
        el("strong", { "data-label": a.label }, tagName(a.label)),
        " ",
        el("span", { class: "muted" }, t("detail.anomaly_score", { score: Number(a.score).toFixed(2) })),
        el("p", {}, a.description),
      ),
    ),
  );
}

function glossaryList(glossary) {
  return el(
    "dl",
    { class: "glossary", "data-testid": "glossary-list" },
    glossary.map((g) => el("div", {}, el("dt", {}, g.term), el("dd", {}, g.explanation))),
  );
}

function sourceList(refs) {
  if (!refs || refs.length === 0) return el("p", { class: "muted" }, t("detail.no_sources"));
  return el(
    "ul",
    { class: "sources", "data-testid": "source-list" },
    refs.map((ref) => {
      const href = safeUrl(ref.url);
      const title = ref.title || ref.url || "";
      const link = href
        ? el("a", { href, target: "_blank", rel: "noopener noreferrer", "data-testid": "source-link" }, title)
        : el("span", {}, title);
      // A source that gave no date: the time shown is when we collected it, and says so.
      const when = ref.published_at
        ? formatTime(ref.published_at) + (ref.published_at_estimated ? ` (${t("detail.collected_time")})` : "")
        : null;
      const extra = [ref.source, when].filter(Boolean).join(" · ");
      return el("li", {}, link, extra ? el("span", { class: "muted source-meta" }, extra) : null);
    }),
  );
}

function renderRelated() {
  const slot = $("related-slot");
  if (!slot) return;
  if (relatedError) {
    slot.replaceChildren(el("p", { class: "error" }, messageText(errorMessage(relatedError))));
    return;
  }
  if (related === null) return;
  if (related.length === 0) {
    slot.replaceChildren(el("p", { class: "muted" }, t("detail.no_related")));
    return;
  }
  slot.replaceChildren(
    el(
      "ul",
      { class: "related", "data-testid": "related-list" },
      related.map((r) =>
        el(
          "li",
          { "data-testid": "related-row" },
          el(
            "button",
            { type: "button", class: "link-button", onclick: () => openReport(r.insight_id).catch(reportError) },
            el("span", { class: "ticker" }, r.ticker),
            " ",
            r.headline,
          ),
          " ",
          el("span", { class: "muted" }, formatTime(r.published_at)),
        ),
      ),
    ),
  );
}

function renderChart() {
  const slot = $("chart-slot");
  if (!slot) return;
  if (chartError) {
    slot.replaceChildren(el("p", { class: "error" }, messageText(errorMessage(chartError))));
    return;
  }
  if (!chart) return;
  slot.replaceChildren(sentimentChart(chart.ticker || detail.ticker, chart.points || []));
}

function renderPrices() {
  const slot = $("price-slot");
  if (!slot) return;
  if (priceError) {
    slot.replaceChildren(el("p", { class: "error" }, messageText(errorMessage(priceError))));
    return;
  }
  if (!prices) return;
  const open = (id) => openReport(id).catch(reportError);
  slot.replaceChildren(priceChart(detail.ticker, prices, tickerReports || [], detail.insight_id, open), benchmarkLine(prices, detail.ticker));
}

function renderTrack() {
  const slot = $("track-slot");
  if (!slot) return;
  if (trackError) {
    slot.replaceChildren(el("p", { class: "error" }, messageText(errorMessage(trackError))));
    return;
  }
  if (!track) return;
  slot.replaceChildren(trackPanel(track, { title: t("track.title_ticker", { ticker: detail.ticker }) }));
}
