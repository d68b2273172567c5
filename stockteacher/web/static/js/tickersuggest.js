// The subscription box's suggestions: as the reader types a symbol or a company's name (삼성,
// apple, 005930), `/api/tickers?q=` is asked and its ranked answer offered below the box
// (an ARIA combobox: arrows move, Enter picks, Escape closes).

import { api } from "/static/js/api.js";
import { $, el } from "/static/js/dom.js";
import { getLocale } from "/static/js/i18n.js";

const LIMIT = 8;
const DELAY_MS = 150;

let timer = null;
let asked = 0; // the newest question; older answers arriving late are dropped
let active = -1;

/** The name to show for a ticker in the page's language, the other language's when it has none. */
export function tickerName(ticker) {
  const first = getLocale() === "ko" ? ticker.name_ko : ticker.name_en;
  return first || ticker.name_ko || ticker.name_en || "";
}

/** One ticker as a choice: "삼성전자 005930.KS · KOSPI". */
export function tickerChoice(ticker, attrs = {}) {
  const name = tickerName(ticker);
  return el(
    "span",
    { class: "ticker-choice", ...attrs },
    name ? el("span", { class: "ticker-choice-name" }, name) : null,
    el("span", { class: "ticker-choice-symbol" }, ticker.ticker),
    ticker.exchange ? el("span", { class: "muted" }, `· ${ticker.exchange}`) : null,
  );
}

export function bindTickerSuggestions(input, { onPick }) {
  const list = $("ticker-suggestions");
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => suggest(input, list, onPick), DELAY_MS);
  });
  input.addEventListener("keydown", (event) => onKey(event, input, list, onPick));
  input.addEventListener("blur", () => setTimeout(() => close(input, list), 150));
}

async function suggest(input, list, onPick) {
  const q = input.value.trim();
  const question = ++asked;
  if (!q) return close(input, list);
  let found;
  try {
    found = await api("/api/tickers", { query: { q, limit: LIMIT } });
  } catch {
    found = []; // suggestions are a help: the form still works without them
  }
  if (question !== asked) return;
  const options = (Array.isArray(found) ? found : []).map((ticker, index) =>
    el(
      "li",
      {
        id: `ticker-suggestion-${index}`,
        role: "option",
        class: "ticker-suggestion",
        "aria-selected": "false",
        "data-ticker": ticker.ticker,
        "data-testid": "ticker-suggestion",
        onmousedown: (event) => {
          event.preventDefault(); // keep the focus in the box
          pick(input, list, ticker, onPick);
        },
      },
      tickerChoice(ticker),
    ),
  );
  list.replaceChildren(...options);
  list.tickers = found;
  active = -1;
  list.hidden = options.length === 0;
  input.setAttribute("aria-expanded", String(!list.hidden));
}

function pick(input, list, ticker, onPick) {
  input.value = ticker.ticker;
  close(input, list);
  onPick(ticker);
}

function close(input, list) {
  asked++;
  list.hidden = true;
  list.replaceChildren();
  active = -1;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function onKey(event, input, list, onPick) {
  if (list.hidden) return;
  const options = [...list.children];
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const step = event.key === "ArrowDown" ? 1 : -1;
    active = (active + step + options.length) % options.length;
    options.forEach((option, index) => option.setAttribute("aria-selected", String(index === active)));
    input.setAttribute("aria-activedescendant", options[active].id);
  } else if (event.key === "Enter" && active >= 0) {
    event.preventDefault();
    pick(input, list, list.tickers[active], onPick);
  } else if (event.key === "Escape") {
    close(input, list);
  }
}
