// Prices and the track record as the page shows them: the ticker's price chart with its reports
// as markers (inline SVG), a report's outcome in words, and the track-record panel (a ticker's
// on the report detail, everything's on the "track record" tab).

import { api } from "/static/js/api.js";
import { $, el, svg } from "/static/js/dom.js";
import { formatCount, formatRate, formatReturn, formatScore, formatTime } from "/static/js/format.js";
import { intlLocale, t, tOr } from "/static/js/i18n.js";
import { sentimentKind } from "/static/js/sentiment.js";

export const HORIZONS = ["1", "5", "20"];
const BUCKETS = ["strong_negative", "negative", "neutral", "positive", "strong_positive"];
const MIN_CALLS = 20;

/** "^GSPC" → "S&P 500", "^KS11" → "코스피"/"KOSPI"; an index the page does not know, by the API's name or its symbol. */
export function benchmarkName(symbol, fallback = null) {
  if (!symbol) return fallback || "–";
  return tOr(`benchmark.${String(symbol).replace(/^\^/, "")}`, fallback || String(symbol));
}

/** The benchmark a ticker is measured against, as the server decides it (prices/calendars.py). */
export function benchmarkOf(ticker) {
  return /\.(KS|KQ)$/i.test(String(ticker || "")) ? "^KS11" : "^GSPC";
}

/** `key`, or its singular `key_one` where the language has one (English: "+1 trading day"). */
function tCount(key, count, params = {}) {
  const all = { ...params, days: count, count };
  const one = Number(count) === 1 ? t(`${key}_one`, all) : null;
  return one !== null && one !== `${key}_one` ? one : t(key, all);
}

function utcDay(iso) {
  return String(iso || "").slice(0, 10);
}

function dayTime(day) {
  return Date.parse(`${day}T00:00:00Z`);
}

function formatPrice(value, currency) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  if (!currency) return new Intl.NumberFormat(intlLocale(), { maximumFractionDigits: 2 }).format(number);
  return new Intl.NumberFormat(intlLocale(), {
    style: "currency",
    currency,
    currencyDisplay: "narrowSymbol",
    maximumFractionDigits: currency === "KRW" ? 0 : 2,
    // ₩200,000 would not fit left of the axis on a phone: ₩20만 / ₩200K.
    ...(Math.abs(number) >= 100000 ? { notation: "compact", maximumFractionDigits: 1 } : {}),
  }).format(number);
}

// --- the price chart ------------------------------------------------------------------------------

/** The reports that fall inside the chart's days (from the first bar on), oldest first. */
export function reportsInRange(prices, reports) {
  const bars = (prices && prices.bars) || [];
  if (bars.length === 0) return [];
  const first = bars[0].date;
  return (reports || [])
    .filter((r) => r && r.published_at && utcDay(r.published_at) >= first)
    .sort((a, b) => Date.parse(a.published_at) - Date.parse(b.published_at));
}

/** The markers' shape says the sentiment as well as the colour: ▲ positive, ▼ negative, ● neutral. */
function markerShape(kind, cx, cy, r) {
  if (kind === "positive") {
    return svg("polygon", { class: "marker-shape", points: `${cx},${cy - r * 1.25} ${cx + r * 1.1},${cy + r * 0.75} ${cx - r * 1.1},${cy + r * 0.75}` });
  }
  if (kind === "negative") {
    return svg("polygon", { class: "marker-shape", points: `${cx},${cy + r * 1.25} ${cx + r * 1.1},${cy - r * 0.75} ${cx - r * 1.1},${cy - r * 0.75}` });
  }
  return svg("circle", { class: "marker-shape", cx, cy, r });
}

/**
 * `GET /api/tickers/{t}/prices` as a line of closes, with each report in `reports` as a marker
 * on its publication day (on the last close on or before it); `onOpen(insightId)` on a click.
 * No bars: a sentence, not an empty frame.
 */
export function priceChart(ticker, prices, reports, currentId, onOpen) {
  const bars = ((prices && prices.bars) || []).filter((b) => b && b.date && Number.isFinite(Number(b.close)));
  if (bars.length === 0) {
    return el("p", { class: "muted empty-note", "data-testid": "price-empty" }, t("price.empty"));
  }
  const currency = prices.currency;
  const marked = reportsInRange(prices, reports);
  const width = 560;
  const height = 230;
  const pad = { left: 76, right: 14, top: 16, bottom: 34 };
  const plotWidth = width - pad.left - pad.right;
  const plotHeight = height - pad.top - pad.bottom;
  const first = dayTime(bars[0].date);
  const lastDay = [bars[bars.length - 1].date, ...marked.map((r) => utcDay(r.published_at))].sort().pop();
  const span = dayTime(lastDay) - first;
  const x = (time) => (span > 0 ? pad.left + ((time - first) / span) * plotWidth : pad.left + plotWidth / 2);
  const closes = bars.map((b) => Number(b.close));
  let low = Math.min(...closes);
  let high = Math.max(...closes);
  if (high - low < 1e-9) {
    low -= 1;
    high += 1;
  }
  const margin = (high - low) * 0.08;
  low -= margin;
  high += margin;
  const y = (v) => pad.top + ((high - Number(v)) / (high - low)) * plotHeight;

  const label = t("price.chart_label", { ticker, from: bars[0].date, to: bars[bars.length - 1].date, count: marked.length });
  const chart = svg("svg", {
    class: "chart price-chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": label,
    "data-testid": "price-chart",
    "data-bars": bars.length,
    "data-markers": marked.length,
  });
  chart.append(svg("title", {}, label));
  for (let i = 0; i <= 3; i += 1) {
    const value = low + ((high - low) * i) / 3;
    chart.append(svg("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }));
    chart.append(svg("text", { class: "axis-label", x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, formatPrice(value, currency)));
  }
  chart.append(svg("line", { class: "axis", x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom }));
  chart.append(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }));
  const labelled = bars.length > 2 ? [bars[0], bars[Math.floor(bars.length / 2)], bars[bars.length - 1]] : bars;
  for (const bar of new Set(labelled)) {
    const px = x(dayTime(bar.date));
    const anchor = px <= pad.left + 1 ? "start" : px >= width - pad.right - 40 ? "end" : "middle";
    chart.append(svg("text", { class: "axis-label", x: px, y: height - 10, "text-anchor": anchor }, bar.date));
  }
  const line = bars.map((b) => `${x(dayTime(b.date)).toFixed(1)},${y(b.close).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { class: "series", points: line, "data-testid": "price-line" }));
  if (bars.length === 1) chart.append(svg("circle", { class: "price-dot", cx: x(first), cy: y(bars[0].close), r: 3 }));

  const closeOn = (day) => {
    let found = bars[0];
    for (const bar of bars) {
      if (bar.date > day) break;
      found = bar;
    }
    return found;
  };
  for (const report of marked) {
    const day = utcDay(report.published_at);
    const bar = closeOn(day);
    const kind = sentimentKind(report.sentiment_score);
    const current = report.insight_id === currentId;
    const cx = x(dayTime(day));
    const cy = y(bar.close);
    const params = { date: day, sentiment: t(`sentiment.${kind}`), score: formatScore(report.sentiment_score), headline: report.headline };
    const text = current ? t("price.marker_current", params) : `${t("price.marker", params)} (${t("price.open_hint")})`;
    const open = () => {
      if (!current) onOpen(report.insight_id);
    };
    const marker = svg(
      "g",
      {
        class: `marker sentiment-${kind}${current ? " current" : ""}`,
        role: "button",
        tabindex: current ? "-1" : "0",
        "aria-label": text,
        "aria-current": current ? "true" : null,
        "data-testid": "price-marker",
        "data-insight-id": report.insight_id,
        "data-sentiment": kind,
        onclick: open,
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            open();
          }
        },
      },
      svg("title", {}, text),
    );
    // A finger-sized target around the small shape (transparent; neighbours are days apart).
    marker.append(svg("circle", { class: "marker-hit", cx, cy, r: 8 }));
    if (current) marker.append(svg("circle", { class: "marker-ring", cx, cy, r: 10 }));
    marker.append(markerShape(kind, cx, cy, 5.5));
    chart.append(marker);
  }
  return el(
    "div",
    { class: "price-chart-wrap" },
    chart,
    el(
      "ul",
      { class: "legend marker-legend", "data-testid": "price-legend" },
      el("li", {}, el("span", { class: "legend-shape sentiment-positive", "aria-hidden": "true" }, "▲"), t("price.legend_positive")),
      el("li", {}, el("span", { class: "legend-shape sentiment-negative", "aria-hidden": "true" }, "▼"), t("price.legend_negative")),
      el("li", {}, el("span", { class: "legend-shape sentiment-neutral", "aria-hidden": "true" }, "●"), t("price.legend_neutral")),
      el("li", {}, el("span", { class: "legend-shape current", "aria-hidden": "true" }, "◎"), t("price.legend_current")),
    ),
    marked.length > 1 ? el("p", { class: "muted small" }, t("price.help")) : null,
  );
}

/** The line under the chart: which index the ticker is compared with. */
export function benchmarkLine(prices, ticker) {
  const symbol = (prices && prices.benchmark) || benchmarkOf(ticker);
  return el(
    "p",
    { class: "benchmark-line", "data-testid": "price-benchmark", "data-benchmark": symbol },
    el("strong", {}, t("price.benchmark", { name: benchmarkName(symbol, prices && prices.benchmark_name) })),
    " ",
    el("span", { class: "muted" }, t("price.benchmark_help")),
  );
}

// --- a report's outcome ----------------------------------------------------------------------------

function verdict(hit) {
  if (hit === true) return el("span", { class: "badge verdict verdict-hit", "data-testid": "outcome-verdict", "data-hit": "true" }, "✓ ", t("outcome.hit"));
  if (hit === false) return el("span", { class: "badge verdict verdict-miss", "data-testid": "outcome-verdict", "data-hit": "false" }, "✗ ", t("outcome.miss"));
  return el("span", { class: "badge verdict verdict-none", "data-testid": "outcome-verdict", "data-hit": "none" }, "– ", t("outcome.no_call"));
}

/** `ReportDetail.outcome` in words, one line per horizon; the unknown ones say why. */
export function outcomeList(report) {
  const outcomes = report.outcome || {};
  const fallback = benchmarkOf(report.ticker);
  return el(
    "div",
    { class: "outcome" },
    el("p", { class: "muted small" }, t("outcome.day0")),
    el(
      "ul",
      { class: "outcome-list", "data-testid": "outcome-list" },
      HORIZONS.map((days) => {
        const o = outcomes[days];
        if (!o) {
          return el("li", { class: "outcome-row unknown", "data-testid": "outcome-row", "data-horizon": days, "data-known": "false" }, tCount("outcome.unknown", days));
        }
        return el(
          "li",
          { class: "outcome-row", "data-testid": "outcome-row", "data-horizon": days, "data-known": "true" },
          el(
            "span",
            { class: "outcome-text", "data-testid": "outcome-text" },
            tCount("outcome.known", days, {
              stock: formatReturn(o.return),
              benchmark: benchmarkName(o.benchmark || fallback),
              bench: formatReturn(o.benchmark_return),
              excess: formatReturn(o.excess_return),
            }),
          ),
          " ",
          verdict(o.hit),
          el("span", { class: "muted small outcome-dates" }, t("outcome.dates", { base: o.base_date, end: o.end_date })),
        );
      }),
    ),
    el("p", { class: "muted small" }, t("outcome.excess_help")),
  );
}

// --- the track-record panel ------------------------------------------------------------------------

function rateText(record) {
  const [lo, hi] = record.hit_rate_ci95 || [null, null];
  return { rate: formatRate(record.hit_rate), lo: formatRate(lo), hi: formatRate(hi) };
}

function horizonCard(days, record, minCalls) {
  const rows = [
    ["track.reports", t("track.count", { count: formatCount(record.reports) })],
    ["track.calls", t("track.count", { count: formatCount(record.calls) })],
    ["track.hits", t("track.count", { count: formatCount(record.hits) })],
  ];
  let rate;
  if (record.enough_data && record.hit_rate !== null && record.hit_rate !== undefined) {
    const r = rateText(record);
    rate = el(
      "dd",
      { "data-testid": "horizon-rate" },
      el("strong", {}, r.rate),
      record.hit_rate_ci95 ? el("span", { class: "muted small block", "data-testid": "horizon-interval" }, t("track.interval", r)) : null,
    );
  } else {
    rate = el("dd", { class: "not-enough", "data-testid": "horizon-not-enough" }, t("track.not_enough", { min: minCalls }));
  }
  return el(
    "div",
    { class: "horizon-card", "data-testid": "horizon-card", "data-horizon": days, "data-enough": String(Boolean(record.enough_data)) },
    el("h4", {}, tCount("track.horizon", days)),
    el(
      "dl",
      { class: "horizon-stats" },
      rows.map(([key, value]) => el("div", {}, el("dt", {}, t(key)), el("dd", {}, value))),
      el("div", { class: "wide" }, el("dt", {}, t("track.hit_rate")), rate),
      el("div", { class: "wide" }, el("dt", {}, t("track.mean_excess")), el("dd", {}, formatReturn(record.mean_excess_return))),
    ),
  );
}

function bucketTable(record) {
  const byHorizon = record.by_horizon || {};
  const cell = (days, bucket) => {
    const found = ((byHorizon[days] || {}).by_sentiment || []).find((b) => b.bucket === bucket);
    if (!found || !found.reports) return el("td", { class: "num muted" }, "–");
    return el(
      "td",
      { class: "num" },
      formatReturn(found.mean_excess_return),
      el("span", { class: "muted small block" }, tCount("track.bucket_count", found.reports)),
    );
  };
  return el(
    "table",
    { class: "bucket-table", "data-testid": "bucket-table" },
    el("caption", {}, t("track.buckets")),
    el(
      "thead",
      {},
      el("tr", {}, el("th", { scope: "col" }, t("track.bucket")), HORIZONS.map((days) => el("th", { scope: "col", class: "num" }, t("track.horizon_short", { days })))),
    ),
    el(
      "tbody",
      {},
      BUCKETS.map((bucket) =>
        el(
          "tr",
          { "data-testid": "bucket-row", "data-bucket": bucket },
          el("th", { scope: "row" }, t(`bucket.${bucket}`)),
          HORIZONS.map((days) => cell(days, bucket)),
        ),
      ),
    ),
  );
}

/** The plain-language reading of the figures and the notice that this is not advice. */
export function trackExplanation(neutralBand = 0.2, minCalls = MIN_CALLS) {
  const band = Number(neutralBand).toFixed(1);
  return el(
    "div",
    { class: "track-explain", "data-testid": "track-explain" },
    el("h4", {}, t("track.explain_title")),
    el(
      "ul",
      {},
      el("li", {}, t("track.explain_call", { band })),
      el("li", {}, t("track.explain_hit")),
      el("li", {}, t("track.explain_rate")),
      el("li", {}, t("track.explain_interval", { min: minCalls })),
    ),
    el("p", { class: "disclaimer", role: "note", "data-testid": "track-disclaimer" }, t("track.disclaimer")),
  );
}

/** One scope's record (`GET /api/tickers/{t}/track-record` or the overall one). */
export function trackPanel(record, { title, testid = "track-panel", explain = true } = {}) {
  const minCalls = record.min_calls ?? MIN_CALLS;
  const byHorizon = record.by_horizon || {};
  const head = record.enough_data
    ? `${t("track.summary", { calls: formatCount(record.calls), hits: formatCount(record.hits) })} · ${t("track.summary_rate", rateText(record))}`
    : `${t("track.summary", { calls: formatCount(record.calls), hits: formatCount(record.hits) })} · ${t("track.not_enough", { min: minCalls })}`;
  const empty = !record.reports;
  return el(
    "div",
    { class: "track-panel", "data-testid": testid, "data-enough": String(Boolean(record.enough_data)), "data-ticker": record.ticker || "" },
    title ? el("h3", {}, title) : null,
    empty
      ? el("p", { class: "muted", "data-testid": "track-empty" }, t("track.empty"))
      : el("p", { class: record.enough_data ? "track-summary" : "track-summary not-enough", "data-testid": "track-summary" }, head),
    empty
      ? null
      : el(
          "div",
          { class: "horizon-grid" },
          HORIZONS.map((days) =>
            horizonCard(days, byHorizon[days] || { reports: 0, calls: 0, hits: 0, hit_rate: null, enough_data: false }, minCalls),
          ),
        ),
    empty ? null : el("div", { class: "table-wrap" }, bucketTable(record)),
    empty ? null : el("p", { class: "muted small" }, t("track.buckets_help")),
    record.computed_at ? el("p", { class: "muted small" }, t("track.computed", { time: formatTime(record.computed_at) })) : null,
    explain ? trackExplanation(record.neutral_band ?? 0.2, minCalls) : null,
  );
}

// --- the "track record" tab ------------------------------------------------------------------------

let overall = null;
let overallError = null;

export async function loadOverallTrack() {
  overallError = null;
  try {
    overall = await api("/api/track-record");
  } catch (error) {
    overallError = error;
    overall = null;
  }
  renderOverallTrack();
  if (overallError) throw overallError;
}

function tickerRow(record) {
  const minCalls = record.min_calls ?? MIN_CALLS;
  const r = rateText(record);
  return el(
    "li",
    { class: "track-ticker-row", "data-testid": "track-ticker-row", "data-ticker": record.ticker, "data-enough": String(Boolean(record.enough_data)) },
    el("span", { class: "ticker" }, record.ticker),
    el("span", {}, `${t("track.summary", { calls: formatCount(record.calls), hits: formatCount(record.hits) })} ·`),
    el(
      "span",
      { class: record.enough_data ? "track-rate" : "track-rate not-enough" },
      record.enough_data ? t("track.summary_rate", r) : t("track.not_enough", { min: minCalls }),
    ),
    el("span", { class: "muted small" }, t("price.benchmark", { name: benchmarkName(record.benchmark) })),
  );
}

export function renderOverallTrack() {
  const slot = $("track-overall-slot");
  if (!slot) return;
  if (overallError) {
    slot.replaceChildren(el("p", { class: "error" }, t("error.generic", { detail: overallError.detail || String(overallError) })));
    return;
  }
  if (!overall) return;
  slot.replaceChildren(trackPanel(overall.overall, { testid: "track-overall", explain: false }));
  const tickers = overall.tickers || [];
  $("track-tickers-slot").replaceChildren(
    tickers.length
      ? el("ul", { class: "track-tickers", "data-testid": "track-tickers" }, tickers.map(tickerRow))
      : el("p", { class: "muted" }, t("track.no_tickers")),
  );
  $("track-explain-slot").replaceChildren(trackExplanation(overall.overall.neutral_band ?? 0.2, overall.overall.min_calls ?? MIN_CALLS));
}
