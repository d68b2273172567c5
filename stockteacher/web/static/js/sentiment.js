// Sentiment as the page shows it: the word (from the server's band), the badge, and the
// per-day chart of a ticker (inline SVG).

import { el, svg } from "/static/js/dom.js";
import { formatScore } from "/static/js/format.js";
import { t } from "/static/js/i18n.js";
import { vocabulary } from "/static/js/state.js";

/** positive above the band, negative below it, neutral inside (edges included), as the server says. */
export function sentimentKind(score) {
  const number = Number(score);
  const band = vocabulary().sentiment_band;
  if (!(Math.abs(number) > band)) return "neutral";
  return number > 0 ? "positive" : "negative";
}

export function sentimentBadge(score) {
  const kind = sentimentKind(score);
  return el(
    "span",
    { class: `badge sentiment-${kind}`, "data-testid": "sentiment-badge", "data-sentiment": kind },
    `${t(`sentiment.${kind}`)} ${formatScore(score)}`,
  );
}

/** `GET /api/tickers/{ticker}/sentiment` points as a line over -1…+1 with one dot per day. */
export function sentimentChart(ticker, rawPoints) {
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
