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

function formatCost(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  return new Intl.NumberFormat(intlLocale(), {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: 6,
  }).format(number);
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
  if (name === "notifications") loadPolicy().catch(reportError);
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
  const meta = [
    ["detail.published", timeElement(d.published_at)],
    ["detail.status", t(`status.${d.status}`)],
    ["detail.sentiment", sentimentBadge(d.sentiment_score)],
    ["detail.anomaly", formatScore(d.anomaly_score)],
    ["detail.model", d.model ?? "–"],
    ["detail.cost", formatCost(d.cost_usd)],
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
      meta.map(([key, value]) => el("div", {}, el("dt", {}, t(key)), el("dd", {}, value))),
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
