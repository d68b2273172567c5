// Formatting of times, scores, money and counts in the current locale, and small parsers.

import { el } from "/static/js/dom.js";
import { intlLocale } from "/static/js/i18n.js";

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(intlLocale(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function timeElement(iso) {
  return el("time", { datetime: iso || null }, formatTime(iso));
}

export function formatScore(value) {
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  return (number > 0 ? "+" : "") + number.toFixed(2);
}

/** US dollars, with as many decimals as small LLM costs need: $0, $0.0012, $0.50, $12.34. */
export function formatUsd(value) {
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

export function formatCount(value) {
  const number = Number(value);
  return Number.isFinite(number) ? new Intl.NumberFormat(intlLocale()).format(number) : "–";
}

/** The URL if it is http(s), else null: a stored `javascript:` URL must not become a link. */
export function safeUrl(url) {
  try {
    const parsed = new URL(String(url), window.location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** "a, b,,c" → ["a", "b", "c"] */
export function splitList(value) {
  return String(value || "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

/** A return as a signed percentage with one decimal: 0.031 → "+3.1%", -0.004 → "-0.4%", tiny → "0.0%". */
export function formatReturn(value) {
  if (value === null || value === undefined) return "–";
  const number = Number(value);
  if (!Number.isFinite(number)) return "–";
  const tenths = Math.round(number * 1000);
  if (tenths === 0) return "0.0%";
  return `${tenths > 0 ? "+" : "-"}${(Math.abs(tenths) / 10).toFixed(1)}%`;
}

/** A share (0…1) as a whole percentage without a sign: 0.55 → "55%". */
export function formatRate(value) {
  if (value === null || value === undefined) return "–";
  const number = Number(value);
  return Number.isFinite(number) ? `${Math.round(number * 100)}%` : "–";
}
