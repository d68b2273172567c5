// Usage (`GET /api/usage`): what the LLM calls cost, as a summary, a stacked bar chart of USD
// per day and stage, and the rows.

import { api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, showMessage, svg } from "/static/js/dom.js";
import { formatCount, formatUsd } from "/static/js/format.js";
import { t, tOr } from "/static/js/i18n.js";

const STAGE_COLORS = { chat: "#2457c5", analyze: "#d98300", collect: "#1b7f4b", publish: "#7a3fc4", notify: "#b3261e" };
const EXTRA_COLORS = ["#0f7c8c", "#8a5a00", "#5f6b7a", "#c2418c"];
const DAY_MS = 86_400_000;

let usage = null; // the last answer of GET /api/usage
let latestRequest = 0;

export function bindUsage() {
  $("usage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadUsage().catch(reportError);
  });
}

export async function loadUsage() {
  const request = ++latestRequest;
  const form = $("usage-form");
  const query = { date_from: form.elements.date_from.value, date_to: form.elements.date_to.value };
  showMessage("usage-message", null);
  let answer = null;
  const refusal = await apiRefusal(async () => {
    answer = await api("/api/usage", { query });
  });
  if (request !== latestRequest) return; // a newer request is under way
  if (refusal) showMessage("usage-message", refusal, "error");
  if (!answer) return;
  usage = answer;
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

export function renderUsage() {
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

