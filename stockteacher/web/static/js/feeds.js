// Feeds: a ticker's public feed links (on the report detail) and the reader's private feed
// address (`/api/feeds/token`: made and shown once, its status, revoked) on the notifications tab.

import { ApiError, api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, copyText, el, showMessage } from "/static/js/dom.js";
import { formatTime } from "/static/js/format.js";
import { t } from "/static/js/i18n.js";

// The three formats, as the feeds name them and as a reader knows them.
const FORMATS = [
  { id: "rss", label: "RSS", type: "application/rss+xml" },
  { id: "atom", label: "Atom", type: "application/atom+xml" },
  { id: "json", label: "JSON Feed", type: "application/feed+json" },
];

let status = null; // GET /api/feeds/token: {active, created_at, last_used_at}
let made = null; // POST's urls, shown once
let available = true; // false when this server has no feeds (the route answers 404)
let busy = false;

/** "RSS · Atom · JSON Feed" links to a ticker's public feeds, with what they are for. */
export function tickerFeedLinks(ticker) {
  const base = `/feeds/${encodeURIComponent(ticker)}`;
  const links = [];
  for (const format of FORMATS) {
    if (links.length) links.push(" · ");
    links.push(
      el(
        "a",
        { href: `${base}.${format.id}`, type: format.type, target: "_blank", rel: "noopener", "data-testid": `feed-link-${format.id}` },
        format.label,
      ),
    );
  }
  const title = t("feeds.ticker_title");
  return el(
    "p",
    { class: "feed-links", "data-testid": "feed-links", title },
    el("span", { class: "muted" }, t("feeds.ticker_label")),
    " ",
    ...links,
  );
}

export function bindFeeds() {
  $("feed-make").addEventListener("click", () => makeToken().catch(reportError));
  $("feed-revoke").addEventListener("click", () => revokeToken().catch(reportError));
}

/** The tab is opened: addresses shown before are gone, and the status is fetched again. */
export async function openFeeds() {
  made = null;
  try {
    status = await api("/api/feeds/token");
    available = true;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    available = false; // a server without feeds
  }
  renderFeeds();
}

export function renderFeeds() {
  $("feeds").hidden = !available;
  const active = Boolean(status && status.active);
  const line = $("feed-status");
  line.dataset.active = String(active);
  if (!status) line.textContent = t("loading");
  else if (!active) line.textContent = t("feeds.none");
  else {
    const used = status.last_used_at ? formatTime(status.last_used_at) : t("feeds.never_used");
    line.textContent = t("feeds.status", { created: formatTime(status.created_at), used });
  }
  const make = $("feed-make");
  make.disabled = busy || !status;
  make.textContent = busy ? t("channels.checking") : t(active ? "feeds.remake" : "feeds.make");
  $("feed-revoke").hidden = !active;
  $("feed-revoke").disabled = busy;
  $("feed-urls-box").hidden = !made;
  $("feed-urls").replaceChildren(...(made ? FORMATS.map((format) => urlRow(format, made[format.id])) : []));
}

function urlRow(format, url) {
  const code = el("code", { "data-testid": `feed-url-${format.id}` }, url || "");
  const copy = el(
    "button",
    {
      type: "button",
      class: "secondary",
      "data-testid": `feed-copy-${format.id}`,
      "aria-label": t("feeds.copy_label", { format: format.label }),
      onclick: () => copyText(url, copy, code).catch(reportError),
    },
    t("channels.copy"),
  );
  return el("li", { class: "feed-url", "data-format": format.id }, el("strong", {}, format.label), code, copy);
}

async function makeToken() {
  if (busy) return;
  const again = Boolean(status && status.active);
  busy = true;
  showMessage("feed-message", null);
  renderFeeds();
  try {
    const refusal = await apiRefusal(async () => {
      const answer = await api("/api/feeds/token", { method: "POST" });
      made = answer.urls || null;
      status = { active: true, created_at: answer.created_at, last_used_at: null };
      showMessage("feed-message", { key: again ? "feeds.remade" : "feeds.made" });
    });
    if (refusal) showMessage("feed-message", refusal, "error");
  } finally {
    busy = false;
    renderFeeds();
  }
}

async function revokeToken() {
  if (busy) return;
  busy = true;
  renderFeeds();
  try {
    const refusal = await apiRefusal(async () => {
      try {
        await api("/api/feeds/token", { method: "DELETE" });
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 404) throw error; // gone already
      }
      made = null;
      status = { active: false, created_at: null, last_used_at: null };
      showMessage("feed-message", { key: "feeds.revoked" });
    });
    if (refusal) showMessage("feed-message", refusal, "error");
  } finally {
    busy = false;
    renderFeeds();
  }
}
