// StockTeacher web page: a vanilla ES module over the HTTP API (docs/API.md).
//
// Every piece of user or report text reaches the DOM through text nodes (`el()` below or
// `textContent`); nothing built from data goes through innerHTML. Source links are limited to
// http(s) URLs so that a stored `javascript:` URL cannot run.

import { getLocale, intlLocale, normaliseLocale, setLocale, t, translateDocument } from "/static/i18n.js";

const KEY_STORAGE = "stockteacher.apiKey";
const LANG_STORAGE = "stockteacher.locale";
const CHAT_STORAGE = "stockteacher.chatSessions";
const PAGE_SIZE = 20;
const OPTION_SETS = {
  window: ["intraday", "daily_open", "daily_close", "weekly"],
  pwindow: ["morning_open", "daily_close", "immediate"],
  frequency: ["daily", "weekly"],
};
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  config: null,
  apiKey: null,
  started: false,
  tab: "reports",
  offset: 0,
  reports: [],
  reportsLoaded: false,
  reportsRequest: 0,
  selectedId: null,
  detail: null,
  related: null,
  relatedError: null,
  chart: null,
  chartError: null,
  chat: null,
  subscriptions: [],
  subscriptionsLoaded: false,
  policy: null,
  timezones: [],
  channels: [],
  channelsLoaded: false,
  channelSecret: null, // a generated webhook secret, shown once
  channelBusy: null, // "webhook" | "email" while its PUT runs
  usage: null,
  usageRequest: 0,
  authMessage: null,
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

/** `el("li", {class: "x", "data-testid": "y", onclick: fn}, "text", childNode)` — text is never parsed as HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(intlLocale(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

function timeElement(iso) {
  return el("time", { datetime: iso || null }, formatTime(iso));
}

function formatScore(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  return (number > 0 ? "+" : "") + number.toFixed(2);
}

/** US dollars, with as many decimals as small LLM costs need: $0, $0.0012, $0.50, $12.34. */
function formatUsd(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  const abs = Math.abs(number);
  let digits;
  if (abs === 0) digits = { maximumFractionDigits: 0 };
  else if (abs < 0.0001) digits = { maximumSignificantDigits: 2 };
  else if (abs < 1) digits = { minimumFractionDigits: 2, maximumFractionDigits: 4 };
  else digits = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  return new Intl.NumberFormat(intlLocale(), {
    style: "currency",
    currency: "USD",
    currencyDisplay: "narrowSymbol",
    ...digits,
  }).format(number);
}

function formatCount(value) {
  const number = Number(value);
  return Number.isFinite(number) ? new Intl.NumberFormat(intlLocale()).format(number) : "–";
}

/** `t(key)` when the key exists, else `fallback` (for values such as stage names that may be new). */
function tOr(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

function sentimentKind(score) {
  const number = Number(score);
  if (number > 0.2) return "positive";
  if (number < -0.2) return "negative";
  return "neutral";
}

function sentimentBadge(score) {
  const kind = sentimentKind(score);
  return el(
    "span",
    { class: `badge sentiment-${kind}`, "data-testid": "sentiment-badge", "data-sentiment": kind },
    `${t(`sentiment.${kind}`)} ${formatScore(score)}`,
  );
}

function safeUrl(url) {
  try {
    const parsed = new URL(String(url), window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function splitList(value) {
  return String(value || "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// HTTP

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

class AuthRequired extends ApiError {}

/** FastAPI answers `{"detail": "..."}`, or a list of `{loc, msg}` for request validation errors. */
function describeDetail(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (!item || typeof item !== "object") return String(item);
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : String(item.msg ?? JSON.stringify(item));
      })
      .join("; ");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return `HTTP ${status}`;
}

async function errorFrom(response) {
  let detail = null;
  try {
    const body = await response.json();
    detail = body && typeof body === "object" ? body.detail : body;
  } catch {
    detail = null;
  }
  return new ApiError(response.status, describeDetail(detail, response.status));
}

/**
 * Calls the API. `query` values that are arrays become repeated parameters; empty values are
 * left out. Answers the parsed JSON (null for 204), or the Response itself with `raw: true`.
 * A 401 forgets the stored key, shows the key form and throws `AuthRequired`.
 */
async function api(path, { method = "GET", query = null, body = undefined, headers = {}, raw = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined || item === "" || item === false) continue;
      url.searchParams.append(name, String(item));
    }
  }
  const allHeaders = { Accept: "application/json", ...headers };
  if (state.apiKey) allHeaders.Authorization = `Bearer ${state.apiKey}`;
  const init = { method, headers: allHeaders };
  if (body !== undefined) {
    allHeaders["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, t("error.network"));
  }
  if (response.status === 401) {
    const error = await errorFrom(response);
    handleUnauthorized();
    throw new AuthRequired(401, error.detail);
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

function reportError(error) {
  if (error instanceof AuthRequired) return; // the key form is already showing
  showBanner(t("error.generic", { detail: error instanceof ApiError ? error.detail : String(error) }));
  if (!(error instanceof ApiError)) console.warn(error);
}

function showBanner(text) {
  const banner = $("banner");
  banner.replaceChildren(
    el("span", {}, text),
    el("button", { type: "button", class: "link-button", onclick: hideBanner, "aria-label": t("detail.close") }, "×"),
  );
  banner.hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
  $("banner").replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// Authentication

function handleUnauthorized() {
  localStorage.removeItem(KEY_STORAGE);
  localStorage.removeItem(CHAT_STORAGE);
  state.apiKey = null;
  showAuth("auth.rejected");
}

function showAuth(messageKey = null) {
  state.started = false;
  state.authMessage = messageKey;
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  $("nav").hidden = true;
  $("forget-key").hidden = true;
  $("auth-panel").hidden = false;
  renderAuthMessage();
  $("api-key-input").focus();
}

function renderAuthMessage() {
  const message = $("auth-message");
  message.hidden = !state.authMessage;
  message.textContent = state.authMessage ? t(state.authMessage) : "";
}

function onAuthSubmit(event) {
  event.preventDefault();
  const key = $("api-key-input").value.trim();
  if (!key) return;
  localStorage.setItem(KEY_STORAGE, key);
  localStorage.removeItem(CHAT_STORAGE);
  state.apiKey = key;
  $("api-key-input").value = "";
  $("auth-panel").hidden = true;
  state.authMessage = null;
  startApp();
}

function forgetKey() {
  localStorage.removeItem(KEY_STORAGE);
  localStorage.removeItem(CHAT_STORAGE);
  state.apiKey = null;
  showAuth();
}

// ---------------------------------------------------------------------------------------------
// Tabs

function showTab(name) {
  state.tab = name;
  for (const button of document.querySelectorAll(".tab")) {
    button.setAttribute("aria-pressed", String(button.dataset.tab === name));
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "subscriptions") loadSubscriptions().catch(reportError);
  if (name === "notifications") {
    loadPolicy().catch(reportError);
    state.channelSecret = null; // shown once: gone when the tab is left and opened again
    loadChannels().catch(reportError);
  }
  if (name === "usage") loadUsage().catch(reportError);
}

// ---------------------------------------------------------------------------------------------
// Reports list

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
    offset: state.offset,
  };
}

async function loadReports() {
  const request = ++state.reportsRequest;
  $("reports-status").textContent = t("loading");
  const rows = await api("/api/reports", { query: filterQuery() });
  if (request !== state.reportsRequest) return; // a newer request is under way
  state.reports = Array.isArray(rows) ? rows : [];
  state.reportsLoaded = true;
  renderReports();
}

function renderReports() {
  const list = $("report-list");
  list.replaceChildren(...state.reports.map(reportRow));
  const status = $("reports-status");
  status.textContent = state.reportsLoaded && state.reports.length === 0 ? t("reports.empty") : "";
  $("page-label").textContent = t("reports.page", { page: Math.floor(state.offset / PAGE_SIZE) + 1 });
  $("page-prev").disabled = state.offset === 0;
  $("page-next").disabled = state.reports.length < PAGE_SIZE;
}

function reportRow(report) {
  const selected = report.insight_id === state.selectedId;
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

function favoriteButton(report) {
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
      onclick: () => toggleFavorite(report.insight_id).catch(reportError),
    },
    on ? "★" : "☆",
  );
}

function isFavorite(insightId) {
  if (state.detail && state.detail.insight_id === insightId) return Boolean(state.detail.favorite);
  const row = state.reports.find((r) => r.insight_id === insightId);
  return Boolean(row && row.favorite);
}

async function toggleFavorite(insightId) {
  const next = !isFavorite(insightId);
  await api(`/api/reports/${encodeURIComponent(insightId)}/favorite`, { method: next ? "PUT" : "DELETE" });
  for (const item of [...state.reports, ...(state.related || []), state.detail]) {
    if (item && item.insight_id === insightId) item.favorite = next;
  }
  for (const button of document.querySelectorAll("[data-favorite-for]")) {
    if (button.dataset.favoriteFor === insightId) button.replaceWith(favoriteButton({ insight_id: insightId, favorite: next }));
  }
  if (!next && $("filters").elements.favorites_only.checked) await loadReports();
}

function onFiltersSubmit(event) {
  event.preventDefault();
  state.offset = 0;
  loadReports().catch(reportError);
}

function onFiltersReset() {
  // The form clears its fields after this handler; reload once it has.
  setTimeout(() => {
    state.offset = 0;
    loadReports().catch(reportError);
  });
}

function changePage(delta) {
  state.offset = Math.max(0, state.offset + delta * PAGE_SIZE);
  loadReports().catch(reportError);
}

// ---------------------------------------------------------------------------------------------
// Report detail

function chatSessions() {
  try {
    return JSON.parse(localStorage.getItem(CHAT_STORAGE) || "{}") || {};
  } catch {
    return {};
  }
}

function rememberChatSession(insightId, sessionId) {
  const sessions = chatSessions();
  if (sessionId) sessions[insightId] = sessionId;
  else delete sessions[insightId];
  localStorage.setItem(CHAT_STORAGE, JSON.stringify(sessions));
}

async function openReport(insightId) {
  state.selectedId = insightId;
  state.detail = null;
  state.related = null;
  state.relatedError = null;
  state.chart = null;
  state.chartError = null;
  state.chat = { insightId, sessionId: chatSessions()[insightId] || null, messages: [], busy: false, error: null };
  if (window.location.hash !== `#report=${encodeURIComponent(insightId)}`) {
    history.replaceState(null, "", `#report=${encodeURIComponent(insightId)}`);
  }
  renderReports();
  $("detail").replaceChildren(el("p", { class: "muted" }, t("loading")));
  const base = `/api/reports/${encodeURIComponent(insightId)}`;
  let detail;
  try {
    detail = await api(base);
  } catch (error) {
    if (state.selectedId !== insightId) return;
    if (error instanceof ApiError && error.status === 404) {
      $("detail").replaceChildren(el("p", { class: "error", "data-testid": "detail-error" }, t("detail.not_found")));
      return;
    }
    throw error;
  }
  if (state.selectedId !== insightId) return;
  state.detail = detail;
  renderDetail();
  const chat = state.chat;
  await Promise.all([
    api(`${base}/related`).then(
      (rows) => (state.related = Array.isArray(rows) ? rows : []),
      (error) => (state.relatedError = error),
    ),
    api(`/api/tickers/${encodeURIComponent(detail.ticker)}/sentiment`).then(
      (answer) => (state.chart = answer),
      (error) => (state.chartError = error),
    ),
    chat.sessionId ? loadChatHistory(chat) : null,
  ]);
  if (state.selectedId !== insightId) return;
  for (const error of [state.relatedError, state.chartError]) {
    if (error instanceof AuthRequired) return;
  }
  renderRelated();
  renderChart();
  renderChatMessages();
}

function closeDetail() {
  state.selectedId = null;
  state.detail = null;
  state.chat = null;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  $("detail").replaceChildren(el("p", { class: "muted" }, t("detail.placeholder")));
  renderReports();
}

function section(titleKey, testid, ...content) {
  return el("section", { class: "detail-section", "data-testid": testid }, el("h3", {}, t(titleKey)), ...content);
}

function chips(values, testid) {
  return el(
    "ul",
    { class: "chips", "data-testid": testid },
    (values || []).map((value) => el("li", { class: "chip" }, String(value))),
  );
}

function renderDetail() {
  const d = state.detail;
  if (!d) return;
  const draft = state.chat ? ($("chat-input")?.value ?? "") : "";
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
    ),
    el(
      "dl",
      { class: "meta", "data-testid": "detail-meta" },
      meta.map(([key, value, testid]) => el("div", {}, el("dt", {}, t(key)), el("dd", { "data-testid": testid }, value))),
    ),
    section("detail.summary", "detail-summary", el("p", { class: "summary" }, d.summary_text)),
    section("detail.keywords", "detail-keywords", chips(d.keywords, "keyword-list")),
    (d.tags || []).length ? section("detail.tags", "detail-tags", chips(d.tags, "tag-list")) : null,
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
        el("strong", {}, a.label),
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
      const extra = [ref.source, ref.published_at ? formatTime(ref.published_at) : null].filter(Boolean).join(" · ");
      return el("li", {}, link, extra ? el("span", { class: "muted source-meta" }, extra) : null);
    }),
  );
}

function renderRelated() {
  const slot = $("related-slot");
  if (!slot) return;
  if (state.relatedError) {
    slot.replaceChildren(el("p", { class: "error" }, describeError(state.relatedError)));
    return;
  }
  if (state.related === null) return;
  if (state.related.length === 0) {
    slot.replaceChildren(el("p", { class: "muted" }, t("detail.no_related")));
    return;
  }
  slot.replaceChildren(
    el(
      "ul",
      { class: "related", "data-testid": "related-list" },
      state.related.map((r) =>
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

function describeError(error) {
  return t("error.generic", { detail: error instanceof ApiError ? error.detail : String(error) });
}

// ---------------------------------------------------------------------------------------------
// Sentiment chart (inline SVG)

function renderChart() {
  const slot = $("chart-slot");
  if (!slot) return;
  if (state.chartError) {
    slot.replaceChildren(el("p", { class: "error" }, describeError(state.chartError)));
    return;
  }
  if (!state.chart) return;
  slot.replaceChildren(sentimentChart(state.chart.ticker || state.detail.ticker, state.chart.points || []));
}

function sentimentChart(ticker, rawPoints) {
  const width = 560;
  const height = 200;
  const pad = { left: 40, right: 16, top: 12, bottom: 28 };
  const points = rawPoints
    .filter((p) => p && p.date)
    .map((p) => ({ ...p, time: Date.parse(`${p.date}T00:00:00Z`), value: Math.max(-1, Math.min(1, Number(p.sentiment) || 0)) }))
    .filter((p) => Number.isFinite(p.time))
    .sort((a, b) => a.time - b.time);
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const y = (v) => pad.top + ((1 - v) / 2) * plotHeight;
  const first = points.length ? points[0].time : 0;
  const span = points.length ? points[points.length - 1].time - first : 0;
  const x = (time) => (span > 0 ? pad.left + ((time - first) / span) * plotWidth : pad.left + plotWidth / 2);

  const label = t("detail.chart", { ticker });
  const chart = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    "data-testid": "sentiment-chart",
    "data-points": points.length,
  });
  chart.append(svg("title", {}, label));
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    chart.append(
      svg("line", {
        class: v === 0 ? "zero-line" : "grid-line",
        x1: pad.left,
        x2: width - pad.right,
        y1: y(v),
        y2: y(v),
        "data-testid": v === 0 ? "chart-zero-line" : null,
      }),
    );
    if (Number.isInteger(v)) {
      chart.append(svg("text", { class: "axis-label", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, v > 0 ? `+${v}` : String(v)));
    }
  }
  chart.append(svg("line", { class: "axis", x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }));
  chart.append(
    svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }),
  );
  if (points.length === 0) {
    chart.append(svg("text", { class: "empty-label", x: width / 2, y: height / 2, "text-anchor": "middle" }, t("detail.chart_empty")));
    return chart;
  }
  const dateLabels = points.length > 2 ? [points[0], points[Math.floor(points.length / 2)], points[points.length - 1]] : points;
  for (const p of new Set(dateLabels)) {
    // Labels at the ends are anchored inwards so that they are not clipped.
    const px = x(p.time);
    const anchor = px <= pad.left + 1 ? "start" : px >= width - pad.right - 1 ? "end" : "middle";
    chart.append(svg("text", { class: "axis-label", x: px, y: height - 8, "text-anchor": anchor }, p.date));
  }
  if (points.length > 1) {
    chart.append(svg("polyline", { class: "series", points: points.map((p) => `${x(p.time)},${y(p.value)}`).join(" ") }));
  }
  for (const p of points) {
    const text = t("detail.chart_point", { date: p.date, sentiment: formatScore(p.sentiment), reports: p.reports ?? 0 });
    chart.append(
      svg(
        "circle",
        { class: `dot sentiment-${sentimentKind(p.value)}`, cx: x(p.time), cy: y(p.value), r: 4.5, "data-testid": "chart-point" },
        svg("title", {}, text),
      ),
    );
  }
  return chart;
}

// ---------------------------------------------------------------------------------------------
// Chat

function chatPanel(draft) {
  const form = el(
    "form",
    { class: "chat-form", "data-testid": "chat-form", onsubmit: onChatSubmit },
    el("label", { for: "chat-input" }, t("chat.input")),
    el("textarea", {
      id: "chat-input",
      name: "content",
      rows: 2,
      required: true,
      maxlength: 2000,
      placeholder: t("chat.placeholder"),
      "data-testid": "chat-input",
      onkeydown: (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      },
    }),
    el("button", { type: "submit", id: "chat-send", "data-testid": "chat-send" }, t("chat.send")),
  );
  form.elements.content.value = draft;
  return el(
    "section",
    { class: "detail-section chat", "data-testid": "chat-panel" },
    el("h3", {}, t("chat.title")),
    el("p", { class: "muted" }, t("chat.help")),
    el("ol", { id: "chat-messages", class: "chat-messages", "data-testid": "chat-messages", "aria-live": "polite" }),
    el("p", { id: "chat-error", class: "error", role: "alert", hidden: true, "data-testid": "chat-error" }),
    form,
  );
}

async function loadChatHistory(chat) {
  try {
    const messages = await api(`/api/chat/sessions/${encodeURIComponent(chat.sessionId)}/messages`);
    chat.messages = Array.isArray(messages) ? messages : [];
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      rememberChatSession(chat.insightId, null); // a session of another key, or deleted
      chat.sessionId = null;
      chat.messages = [];
      return;
    }
    chat.error = error;
  }
}

function renderChatMessages() {
  const chat = state.chat;
  const list = $("chat-messages");
  if (!chat || !list) return;
  list.replaceChildren(...chat.messages.map(chatMessageItem));
  list.scrollTop = list.scrollHeight;
  const errorBox = $("chat-error");
  errorBox.hidden = !chat.error;
  errorBox.textContent = chat.error ? describeError(chat.error) : "";
  const send = $("chat-send");
  send.disabled = chat.busy;
  send.textContent = chat.busy ? t("chat.sending") : t("chat.send");
}

function chatMessageItem(message) {
  const sender = ["user", "agent", "system"].includes(message.sender) ? message.sender : "system";
  const whoKey = { user: "chat.you", agent: "chat.teacher", system: "chat.system" }[sender];
  const bubble = el(
    "div",
    {
      class: "bubble",
      "data-testid": `chat-${sender}-message`,
      "data-message-id": message.message_id || null,
      "data-streaming": sender === "agent" ? String(Boolean(message.streaming)) : null,
    },
    message.content || "",
  );
  message.node = bubble;
  const item = el("li", { class: `chat-message from-${sender}` }, el("span", { class: "who" }, t(whoKey)), bubble);
  if (message.error) {
    item.append(
      el(
        "p",
        { class: "error", "data-testid": "chat-stream-error" },
        t("chat.error", { detail: message.error.detail || message.error.code || "" }),
        message.error.trace_id ? el("small", { class: "muted trace" }, ` (${t("chat.trace", { trace_id: message.error.trace_id })})`) : null,
      ),
    );
  }
  return item;
}

function onChatSubmit(event) {
  event.preventDefault();
  const input = $("chat-input");
  const content = input.value.trim();
  if (!content || !state.chat || state.chat.busy) return;
  input.value = "";
  sendChat(state.chat, content).catch(reportError);
}

async function sendChat(chat, content) {
  const visible = () => state.chat === chat;
  chat.busy = true;
  chat.error = null;
  if (visible()) renderChatMessages();
  const agent = { sender: "agent", content: "", streaming: true };
  try {
    if (!chat.sessionId) {
      const session = await api("/api/chat/sessions", { method: "POST", body: { insight_id: chat.insightId } });
      chat.sessionId = session.session_id;
      rememberChatSession(chat.insightId, chat.sessionId);
      await loadChatHistory(chat);
    }
    chat.messages.push({ sender: "user", content }, agent);
    if (visible()) renderChatMessages();
    const response = await api(`/api/chat/sessions/${encodeURIComponent(chat.sessionId)}/messages`, {
      method: "POST",
      body: { content },
      headers: { Accept: "text/event-stream" },
      raw: true,
    });
    if ((response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      await readEventStream(response, (name, data) => onChatEvent(chat, agent, name, data));
    } else {
      // A server that ignores Accept answers 201 [ChatMessage]: the user's message and the reply.
      const stored = await response.json();
      const reply = Array.isArray(stored) ? stored.filter((m) => m.sender === "agent").pop() : null;
      if (reply) Object.assign(agent, reply);
    }
  } catch (error) {
    if (error instanceof AuthRequired) return;
    chat.messages = chat.messages.filter((m) => m !== agent || m.content);
    chat.error = error;
  } finally {
    agent.streaming = false;
    chat.busy = false;
    if (visible()) renderChatMessages();
  }
}

function onChatEvent(chat, agent, name, data) {
  if (name === "chunk") {
    agent.content += typeof data === "string" ? data : (data.content ?? "");
    if (agent.node && state.chat === chat) {
      agent.node.textContent = agent.content;
      const list = $("chat-messages");
      if (list) list.scrollTop = list.scrollHeight;
    }
  } else if (name === "done") {
    if (data && data.message_id) agent.message_id = data.message_id;
    if (data && typeof data.content === "string" && data.content) agent.content = data.content;
    agent.streaming = false;
  } else if (name === "error") {
    agent.error = typeof data === "object" && data ? data : { detail: String(data) };
    agent.streaming = false;
  }
}

/** Reads a `text/event-stream` body as it arrives and calls `onEvent(name, data)` per event. */
async function readEventStream(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = drainEvents(buffer + decoder.decode(value, { stream: true }), onEvent);
  }
  drainEvents(buffer + decoder.decode() + "\n\n", onEvent);
}

function drainEvents(buffer, onEvent) {
  // Lines may end in CRLF, LF or CR; a CR at the very end may be half of a CRLF still to come.
  let held = "";
  if (buffer.endsWith("\r")) {
    held = "\r";
    buffer = buffer.slice(0, -1);
  }
  buffer = buffer.replace(/\r\n?/g, "\n");
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    emitServerEvent(buffer.slice(0, end), onEvent);
    buffer = buffer.slice(end + 2);
  }
  return buffer + held;
}

function emitServerEvent(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return;
  const text = data.join("\n");
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  onEvent(name, parsed);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

async function loadSubscriptions() {
  const rows = await api("/api/subscriptions");
  state.subscriptions = Array.isArray(rows) ? rows : [];
  state.subscriptionsLoaded = true;
  renderSubscriptions();
}

function renderSubscriptions() {
  const list = $("subscription-list");
  $("subs-pending-hint").hidden = !state.subscriptions.some((s) => s.status === "PendingVerification");
  if (state.subscriptionsLoaded && state.subscriptions.length === 0) {
    list.replaceChildren(el("li", { class: "muted", "data-testid": "subscriptions-empty" }, t("subs.empty")));
    return;
  }
  list.replaceChildren(...state.subscriptions.map(subscriptionRow));
}

function windowSelect(value, attrs) {
  const select = el("select", attrs);
  fillOptions(select, "window");
  select.value = value;
  return select;
}

function subscriptionRow(sub) {
  const select = windowSelect(sub.alert_window, {
    "aria-label": t("subs.window_label", { ticker: sub.ticker }),
    "data-testid": "subscription-window",
    onchange: (event) => changeSubscriptionWindow(sub, event.target.value).catch(reportError),
  });
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

function showMessage(id, text, kind = "ok") {
  const node = $(id);
  node.hidden = !text;
  node.textContent = text || "";
  node.className = `message ${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
}

async function onSubscribeSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const ticker = form.elements.ticker.value.trim().toUpperCase();
  const alertWindow = form.elements.alert_window.value;
  if (!ticker) return;
  try {
    const created = await api("/api/subscriptions", { method: "POST", body: { ticker, alert_window: alertWindow } });
    state.subscriptions = [...state.subscriptions.filter((s) => s.subscription_id !== created.subscription_id), created];
    state.subscriptionsLoaded = true;
    renderSubscriptions();
    form.elements.ticker.value = "";
    showMessage("subs-message", t("subs.added", { ticker: created.ticker }));
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("subs-message", error.detail, "error");
  }
}

async function changeSubscriptionWindow(sub, alertWindow) {
  try {
    const updated = await api(`/api/subscriptions/${encodeURIComponent(sub.subscription_id)}`, {
      method: "PATCH",
      body: { alert_window: alertWindow },
    });
    state.subscriptions = state.subscriptions.map((s) => (s.subscription_id === updated.subscription_id ? updated : s));
    showMessage("subs-message", t("subs.updated", { ticker: updated.ticker }));
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("subs-message", error.detail, "error");
  }
  renderSubscriptions();
}

async function deleteSubscription(sub) {
  try {
    await api(`/api/subscriptions/${encodeURIComponent(sub.subscription_id)}`, { method: "DELETE" });
    state.subscriptions = state.subscriptions.filter((s) => s.subscription_id !== sub.subscription_id);
    showMessage("subs-message", t("subs.deleted", { ticker: sub.ticker }));
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("subs-message", error.detail, "error");
  }
  renderSubscriptions();
}

// ---------------------------------------------------------------------------------------------
// Notification policy

async function loadPolicy() {
  const [policy, zones] = await Promise.all([api("/api/notifications/policy"), api("/api/notifications/timezones")]);
  state.policy = policy;
  state.timezones = Array.isArray(zones) ? zones : [];
  fillPolicyForm();
}

function fillPolicyForm() {
  const form = $("policy-form");
  const policy = state.policy;
  if (!policy) return;
  const zones = state.timezones.includes(policy.timezone) ? state.timezones : [policy.timezone, ...state.timezones];
  const tz = form.elements.timezone;
  tz.replaceChildren(...zones.map((zone) => el("option", { value: zone }, zone)));
  tz.value = policy.timezone;
  form.elements.window.value = policy.window;
  form.elements.frequency.value = policy.frequency;
  const channels = new Set(policy.channels || []);
  for (const box of form.querySelectorAll('input[name="channels"]')) box.checked = channels.has(box.value);
  form.elements.quiet_hours_start.value = policy.quiet_hours_start ? String(policy.quiet_hours_start).slice(0, 5) : "";
  form.elements.quiet_hours_end.value = policy.quiet_hours_end ? String(policy.quiet_hours_end).slice(0, 5) : "";
  if (policy.locale) form.elements.locale.value = policy.locale;
}

async function onPolicySubmit(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    timezone: form.elements.timezone.value,
    window: form.elements.window.value,
    frequency: form.elements.frequency.value,
    channels: [...form.querySelectorAll('input[name="channels"]:checked')].map((box) => box.value),
    quiet_hours_start: form.elements.quiet_hours_start.value || null,
    quiet_hours_end: form.elements.quiet_hours_end.value || null,
    locale: form.elements.locale.value,
  };
  try {
    state.policy = await api("/api/notifications/policy", { method: "PUT", body });
    fillPolicyForm();
    showMessage("policy-message", t("policy.saved"));
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("policy-message", error.detail, "error");
  }
}

// ---------------------------------------------------------------------------------------------
// Notification channels

const CHANNEL_ORDER = ["webhook", "email", "web-push"];

async function loadChannels() {
  const rows = await api("/api/notifications/channels");
  state.channels = Array.isArray(rows) ? rows : [];
  state.channelsLoaded = true;
  renderChannels();
}

function renderChannels() {
  const list = $("channel-list");
  const rows = [...state.channels].sort((a, b) => CHANNEL_ORDER.indexOf(a.channel) - CHANNEL_ORDER.indexOf(b.channel));
  if (state.channelsLoaded && rows.length === 0) {
    list.replaceChildren(el("li", { class: "muted", "data-testid": "channels-empty" }, t("channels.empty")));
  } else {
    list.replaceChildren(...rows.map(channelRow));
  }
  const box = $("webhook-secret-box");
  box.hidden = !state.channelSecret;
  $("webhook-secret-value").textContent = state.channelSecret || "";
  for (const [kind, key] of [
    ["webhook", "channels.webhook_submit"],
    ["email", "channels.email_submit"],
  ]) {
    const button = $(`${kind}-form`).querySelector('button[type="submit"]');
    button.disabled = state.channelBusy !== null;
    button.textContent = state.channelBusy === kind ? t("channels.checking") : t(key);
  }
}

function channelRow(row) {
  const name = tOr(`channel.${row.channel}`, row.channel);
  const verified = row.status === "verified";
  let note = null;
  if (row.last_error) {
    note = el("p", { class: "error channel-note", "data-testid": "channel-error" }, row.last_error);
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

/** Stores the answered channel in place of the old one of its kind. */
function rememberChannel(row) {
  state.channels = [...state.channels.filter((c) => c.channel !== row.channel), row];
  state.channelsLoaded = true;
}

/** Runs one channel PUT with its button showing progress; API errors go to the message line. */
async function putChannel(kind, body) {
  state.channelBusy = kind;
  if (kind === "webhook") state.channelSecret = null; // it belonged to the webhook being replaced
  showMessage("channel-message", null);
  renderChannels();
  try {
    const row = await api(`/api/notifications/channels/${kind}`, { method: "PUT", body });
    rememberChannel(row);
    return row;
  } catch (error) {
    if (error instanceof AuthRequired) return null;
    if (!(error instanceof ApiError)) throw error;
    showMessage("channel-message", error.detail, "error");
    return null;
  } finally {
    state.channelBusy = null;
    renderChannels();
  }
}

async function onWebhookSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const url = form.elements.url.value.trim();
  const secret = form.elements.secret.value.trim();
  if (!url || state.channelBusy) return;
  const row = await putChannel("webhook", secret ? { url, secret } : { url });
  if (!row) return;
  form.elements.secret.value = "";
  state.channelSecret = row.secret || null;
  renderChannels();
  if (row.status === "verified") showMessage("channel-message", t("channels.webhook_verified"));
  else showMessage("channel-message", t("channels.webhook_failed", { detail: row.last_error || row.status }), "error");
  loadSubscriptionsQuietly();
}

async function onEmailSubmit(event) {
  event.preventDefault();
  const form = event.target;
  const address = form.elements.address.value.trim();
  if (!address || state.channelBusy) return;
  const row = await putChannel("email", { address });
  if (!row) return;
  if (row.last_error) showMessage("channel-message", t("channels.email_failed", { detail: row.last_error }), "error");
  else showMessage("channel-message", t("channels.email_sent"));
}

async function removeChannel(channel) {
  const name = tOr(`channel.${channel}`, channel);
  try {
    await api(`/api/notifications/channels/${encodeURIComponent(channel)}`, { method: "DELETE" });
    state.channels = state.channels.filter((c) => c.channel !== channel);
    if (channel === "webhook") state.channelSecret = null;
    showMessage("channel-message", t("channels.removed", { channel: name }));
  } catch (error) {
    if (error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("channel-message", error.detail, "error");
  }
  renderChannels();
}

async function copySecret() {
  const button = $("webhook-secret-copy");
  try {
    await navigator.clipboard.writeText(state.channelSecret || "");
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

/** A verified channel turns pending subscriptions Active; refresh them if they were loaded. */
function loadSubscriptionsQuietly() {
  if (state.subscriptionsLoaded) loadSubscriptions().catch(reportError);
}

// ---------------------------------------------------------------------------------------------
// Usage (GET /api/usage): summary, a stacked bar chart of USD per day, and the rows

const STAGE_COLORS = { chat: "#2457c5", analyze: "#d98300", collect: "#1b7f4b", publish: "#7a3fc4", notify: "#b3261e" };
const EXTRA_COLORS = ["#0f7c8c", "#8a5a00", "#5f6b7a", "#c2418c"];
const DAY_MS = 86_400_000;

async function loadUsage() {
  const request = ++state.usageRequest;
  const form = $("usage-form");
  const query = { date_from: form.elements.date_from.value, date_to: form.elements.date_to.value };
  showMessage("usage-message", null);
  try {
    const usage = await api("/api/usage", { query });
    if (request !== state.usageRequest) return;
    state.usage = usage;
  } catch (error) {
    if (request !== state.usageRequest || error instanceof AuthRequired) return;
    if (!(error instanceof ApiError)) throw error;
    showMessage("usage-message", error.detail, "error");
    return;
  }
  renderUsage();
}

function stageLabel(stage) {
  return tOr(`stage.${stage}`, stage);
}

function stageColors(stages) {
  const colors = {};
  let extra = 0;
  for (const stage of stages) colors[stage] = STAGE_COLORS[stage] || EXTRA_COLORS[extra++ % EXTRA_COLORS.length];
  return colors;
}

function usageStages(rows) {
  const known = Object.keys(STAGE_COLORS);
  const order = (stage) => (known.includes(stage) ? known.indexOf(stage) : known.length);
  return [...new Set(rows.map((r) => r.stage))].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
}

function renderUsage() {
  const usage = state.usage;
  if (!usage) return;
  const rows = Array.isArray(usage.rows) ? usage.rows : [];
  const scope = usage.scope === "all" ? "all" : "own";
  const scopeNode = $("usage-scope");
  scopeNode.textContent = `${t(`usage.scope.${scope}`)} · ${t("usage.period", { from: usage.date_from, to: usage.date_to })}`;
  scopeNode.dataset.scope = scope;
  $("usage-summary").replaceChildren(...usageSummary(usage));
  const chartSlot = $("usage-chart-slot");
  const tableSlot = $("usage-table-slot");
  if (rows.length === 0) {
    chartSlot.replaceChildren(el("p", { class: "muted", "data-testid": "usage-empty" }, t("usage.empty")));
    tableSlot.replaceChildren(el("p", { class: "muted" }, t("usage.empty")));
    return;
  }
  chartSlot.replaceChildren(...usageChart(usage, rows));
  tableSlot.replaceChildren(usageTable(usage, rows));
}

function usageSummary(usage) {
  const spent = Number(usage.chat_spent_today_usd) || 0;
  const budget = Number(usage.chat_daily_budget_usd) || 0;
  const percent = budget > 0 ? Math.min(100, Math.round((spent / budget) * 100)) : 0;
  const fill = el("div", { class: "budget-fill" });
  fill.style.width = `${percent}%`; // through CSSOM, which a strict style-src CSP still allows
  const bar = el(
    "div",
    {
      class: percent >= 100 ? "budget-bar over" : "budget-bar",
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": percent,
      "aria-label": t("usage.budget_bar", { percent }),
      "data-testid": "usage-budget-bar",
    },
    fill,
  );
  const items = [
    el(
      "div",
      { class: "stat" },
      el("span", { class: "stat-label" }, t("usage.total")),
      el("strong", { class: "stat-value", "data-testid": "usage-total" }, formatUsd(usage.total_cost_usd)),
    ),
    el(
      "div",
      { class: "stat wide" },
      el("span", { class: "stat-label" }, t("usage.chat_today")),
      el(
        "span",
        { class: "stat-value small", "data-testid": "usage-chat-today" },
        t("usage.budget_of", { spent: formatUsd(spent), budget: formatUsd(budget) }),
      ),
      bar,
    ),
  ];
  if (usage.analysis_daily_budget_usd !== null && usage.analysis_daily_budget_usd !== undefined) {
    items.push(
      el(
        "div",
        { class: "stat" },
        el("span", { class: "stat-label" }, t("usage.analysis_budget")),
        el("span", { class: "stat-value small", "data-testid": "usage-analysis-budget" }, formatUsd(usage.analysis_daily_budget_usd)),
      ),
    );
  }
  return items;
}

/** Every day of the period (UTC), or only the days with rows when the period is very long. */
function usageDays(usage, rows) {
  const first = Date.parse(`${usage.date_from}T00:00:00Z`);
  const last = Date.parse(`${usage.date_to}T00:00:00Z`);
  if (Number.isFinite(first) && Number.isFinite(last) && last >= first && (last - first) / DAY_MS <= 400) {
    const days = [];
    for (let time = first; time <= last; time += DAY_MS) days.push(new Date(time).toISOString().slice(0, 10));
    return days;
  }
  return [...new Set(rows.map((r) => r.day))].sort();
}

/** A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten). */
function niceCeil(value) {
  if (!(value > 0)) return 0.01;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value - 1e-12) return step * power;
  return 10 * power;
}

function usageChart(usage, rows) {
  const width = 900;
  const height = 260;
  const pad = { left: 64, right: 12, top: 12, bottom: 28 };
  const days = usageDays(usage, rows);
  const stages = usageStages(rows);
  const colors = stageColors(stages);
  const byDay = new Map(days.map((day) => [day, new Map()]));
  for (const row of rows) {
    if (!byDay.has(row.day)) continue;
    const stagesOfDay = byDay.get(row.day);
    const sum = stagesOfDay.get(row.stage) || { cost: 0, calls: 0, tokens: 0 };
    sum.cost += Number(row.cost_usd) || 0;
    sum.calls += Number(row.calls) || 0;
    sum.tokens += (Number(row.prompt_tokens) || 0) + (Number(row.completion_tokens) || 0);
    stagesOfDay.set(row.stage, sum);
  }
  const dayTotal = (day) => [...byDay.get(day).values()].reduce((acc, s) => acc + s.cost, 0);
  const top = niceCeil(Math.max(0, ...days.map(dayTotal)));
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const y = (v) => pad.top + (1 - v / top) * plotHeight;
  const slot = plotWidth / Math.max(1, days.length);
  const barWidth = Math.max(1, Math.min(40, slot * 0.7));

  const label = t("usage.chart_label", { from: usage.date_from, to: usage.date_to });
  const chart = svg("svg", {
    class: "chart usage-chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    "data-testid": "usage-chart",
    "data-days": days.length,
  });
  chart.append(svg("title", {}, label));
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    chart.append(svg("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }));
    chart.append(svg("text", { class: "axis-label", x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, formatUsd(value)));
  }
  chart.append(svg("line", { class: "axis", x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }));
  chart.append(
    svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }),
  );
  days.forEach((day, index) => {
    const x = pad.left + index * slot + (slot - barWidth) / 2;
    const group = svg("g", { "data-testid": "usage-day", "data-day": day }, svg("title", {}, t("usage.day_title", { day, cost: formatUsd(dayTotal(day)) })));
    let base = 0;
    for (const stage of stages) {
      const sum = byDay.get(day).get(stage);
      if (!sum || sum.cost <= 0) continue;
      const title = t("usage.bar_title", {
        day,
        stage: stageLabel(stage),
        cost: formatUsd(sum.cost),
        calls: formatCount(sum.calls),
        tokens: formatCount(sum.tokens),
      });
      group.append(
        svg(
          "rect",
          {
            class: "bar",
            x,
            width: barWidth,
            y: y(base + sum.cost),
            height: Math.max(1, y(base) - y(base + sum.cost)),
            fill: colors[stage],
            "data-testid": "usage-bar",
            "data-stage": stage,
          },
          svg("title", {}, title),
        ),
      );
      base += sum.cost;
    }
    chart.append(group);
  });
  const labelled = days.length > 2 ? [0, Math.floor(days.length / 2), days.length - 1] : days.map((_, i) => i);
  for (const index of new Set(labelled)) {
    const x = pad.left + index * slot + slot / 2;
    const anchor = index === 0 && days.length > 2 ? "start" : index === days.length - 1 && days.length > 2 ? "end" : "middle";
    const at = anchor === "start" ? pad.left : anchor === "end" ? width - pad.right : x;
    chart.append(svg("text", { class: "axis-label", x: at, y: height - 8, "text-anchor": anchor }, days[index]));
  }
  const legend = el(
    "ul",
    { class: "legend", "data-testid": "usage-legend" },
    stages.map((stage) =>
      el(
        "li",
        {},
        svg("svg", { class: "swatch", viewBox: "0 0 10 10", "aria-hidden": "true" }, svg("rect", { width: 10, height: 10, rx: 2, fill: colors[stage] })),
        stageLabel(stage),
      ),
    ),
  );
  return [chart, legend];
}

function usageTable(usage, rows) {
  const sorted = [...rows].sort(
    (a, b) => b.day.localeCompare(a.day) || a.stage.localeCompare(b.stage) || (a.ticker || "").localeCompare(b.ticker || ""),
  );
  const columns = ["day", "stage", "ticker", "calls", "prompt_tokens", "completion_tokens", "cost"];
  const numeric = new Set(["calls", "prompt_tokens", "completion_tokens", "cost"]);
  const head = el(
    "tr",
    {},
    columns.map((c) => el("th", { scope: "col", class: numeric.has(c) ? "num" : null }, t(`usage.col.${c}`))),
  );
  const sum = (field) => rows.reduce((acc, r) => acc + (Number(r[field]) || 0), 0);
  return el(
    "table",
    { class: "usage-table", "data-testid": "usage-table" },
    el("thead", {}, head),
    el(
      "tbody",
      {},
      sorted.map((r) =>
        el(
          "tr",
          { "data-testid": "usage-row", "data-day": r.day, "data-stage": r.stage, "data-ticker": r.ticker || "" },
          el("td", {}, r.day),
          el("td", {}, stageLabel(r.stage)),
          el("td", { class: "ticker" }, r.ticker || "–"),
          el("td", { class: "num" }, formatCount(r.calls)),
          el("td", { class: "num" }, formatCount(r.prompt_tokens)),
          el("td", { class: "num" }, formatCount(r.completion_tokens)),
          el("td", { class: "num", "data-testid": "usage-row-cost" }, formatUsd(r.cost_usd)),
        ),
      ),
    ),
    el(
      "tfoot",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "row", colspan: 3 }, t("usage.sum")),
        el("td", { class: "num" }, formatCount(sum("calls"))),
        el("td", { class: "num" }, formatCount(sum("prompt_tokens"))),
        el("td", { class: "num" }, formatCount(sum("completion_tokens"))),
        el("td", { class: "num" }, formatUsd(usage.total_cost_usd)),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Locale

function fillOptions(select, set) {
  const value = select.value;
  select.replaceChildren(...OPTION_SETS[set].map((v) => el("option", { value: v }, t(`${set}.${v}`))));
  if (value && OPTION_SETS[set].includes(value)) select.value = value;
}

function applyLocale() {
  translateDocument();
  $("lang-switch").value = getLocale();
  for (const select of document.querySelectorAll("select[data-options]")) fillOptions(select, select.dataset.options);
  fillPolicyForm();
  renderAuthMessage();
  if (state.config) $("version").textContent = t("footer.version", { version: state.config.version });
  if (!state.started) return;
  renderReports();
  renderSubscriptions();
  renderChannels();
  renderUsage();
  if (state.detail) {
    renderDetail();
    renderRelated();
    renderChart();
    renderChatMessages();
  }
}

function onLanguageChange(event) {
  setLocale(event.target.value);
  localStorage.setItem(LANG_STORAGE, getLocale());
  applyLocale();
}

// ---------------------------------------------------------------------------------------------
// Start-up

function reportFromHash() {
  const match = /^#report=(.+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function startApp() {
  state.started = true;
  $("auth-panel").hidden = true;
  $("nav").hidden = false;
  $("forget-key").hidden = !(state.config && state.config.auth_mode === "api_key");
  showTab(state.tab);
  applyLocale();
  loadReports().catch(reportError);
  const fromHash = reportFromHash();
  if (fromHash) openReport(fromHash).catch(reportError);
}

function bindEvents() {
  $("lang-switch").addEventListener("change", onLanguageChange);
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("forget-key").addEventListener("click", forgetKey);
  for (const button of document.querySelectorAll(".tab")) button.addEventListener("click", () => showTab(button.dataset.tab));
  $("filters").addEventListener("submit", onFiltersSubmit);
  $("filters").addEventListener("reset", onFiltersReset);
  $("page-prev").addEventListener("click", () => changePage(-1));
  $("page-next").addEventListener("click", () => changePage(1));
  $("subscribe-form").addEventListener("submit", (event) => onSubscribeSubmit(event).catch(reportError));
  $("policy-form").addEventListener("submit", (event) => onPolicySubmit(event).catch(reportError));
  $("subs-pending-link").addEventListener("click", () => showTab("notifications"));
  $("webhook-form").addEventListener("submit", (event) => onWebhookSubmit(event).catch(reportError));
  $("email-form").addEventListener("submit", (event) => onEmailSubmit(event).catch(reportError));
  $("webhook-secret-copy").addEventListener("click", () => copySecret().catch(reportError));
  $("usage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadUsage().catch(reportError);
  });
}

async function boot() {
  bindEvents();
  const storedLocale = localStorage.getItem(LANG_STORAGE);
  setLocale(storedLocale || "ko");
  applyLocale();
  try {
    state.config = await api("/api/config");
  } catch (error) {
    showBanner(describeError(error));
    return;
  }
  if (!storedLocale) setLocale(normaliseLocale(state.config.default_locale));
  state.apiKey = localStorage.getItem(KEY_STORAGE);
  applyLocale();
  document.body.dataset.authMode = state.config.auth_mode;
  if (state.config.auth_mode === "api_key" && !state.apiKey) {
    showAuth();
    return;
  }
  startApp();
}

boot();
