// StockTeacher web page: ES modules over the HTTP API (docs/API.md), no build step.
//
// This entry module loads the server's configuration (with the vocabulary every section reads
// its choices from) before anything is drawn, then wires the sections in js/ together: the tabs,
// the language switch and start-up.

import { bindAuth, renderAuthMessage, restoreKey, showAuth } from "/static/js/auth.js";
import { api, errorMessage } from "/static/js/api.js";
import { reportError, renderBanner, showBanner } from "/static/js/banner.js";
import { bindChannels, openChannels, renderChannels } from "/static/js/channels.js";
import { bindDetail, openReport, relabelDetail, reportFromHash } from "/static/js/detail.js";
import { $, relabelMessages } from "/static/js/dom.js";
import { bindFeeds, openFeeds, renderFeeds } from "/static/js/feeds.js";
import { getLocale, normaliseLocale, setLocale, t, translateDocument } from "/static/js/i18n.js";
import { bindPolicy, buildPolicyChoices, loadPolicy, relabelPolicy } from "/static/js/notifications.js";
import { bindReports, fillFilterOptions, loadReports, renderReports } from "/static/js/reports.js";
import { getConfig, setConfig } from "/static/js/state.js";
import {
  bindSubscriptions,
  fillWindowOptions,
  loadSubscriptions,
  renderSubscriptions,
} from "/static/js/subscriptions.js";
import { loadOverallTrack, renderOverallTrack } from "/static/js/track.js";
import { bindUsage, loadUsage, renderUsage } from "/static/js/usage.js";

const LANG_STORAGE = "stockteacher.locale";

let started = false; // the sections are showing (not the key form)
let tab = "reports";

function showTab(name) {
  tab = name;
  for (const button of document.querySelectorAll(".tab")) {
    button.setAttribute("aria-pressed", String(button.dataset.tab === name));
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "subscriptions") loadSubscriptions().catch(reportError);
  if (name === "notifications") {
    loadPolicy().catch(reportError);
    openChannels().catch(reportError);
    openFeeds().catch(reportError);
  }
  if (name === "usage") loadUsage().catch(reportError);
  if (name === "track") loadOverallTrack().catch(reportError);
}

/** Every visible word again in the current language (static markup, choices, messages, sections). */
function applyLocale() {
  translateDocument();
  $("lang-switch").value = getLocale();
  renderAuthMessage();
  renderBanner();
  const config = getConfig();
  if (!config) return; // the choices and sections need the vocabulary
  $("version").textContent = t("footer.version", { version: config.version });
  fillFilterOptions();
  fillWindowOptions($("subscribe-window"));
  relabelPolicy();
  relabelMessages();
  if (!started) return;
  renderReports();
  renderSubscriptions();
  renderChannels();
  renderFeeds();
  renderUsage();
  renderOverallTrack();
  relabelDetail();
}

function onLanguageChange(event) {
  setLocale(event.target.value);
  localStorage.setItem(LANG_STORAGE, getLocale());
  applyLocale();
}

function startApp() {
  started = true;
  $("auth-panel").hidden = true;
  $("nav").hidden = false;
  $("forget-key").hidden = getConfig().auth_mode !== "api_key";
  showTab(tab);
  applyLocale();
  loadReports().catch(reportError);
  const fromHash = reportFromHash();
  if (fromHash) openReport(fromHash).catch(reportError);
}

function bindEvents() {
  $("lang-switch").addEventListener("change", onLanguageChange);
  for (const button of document.querySelectorAll(".tab")) button.addEventListener("click", () => showTab(button.dataset.tab));
  bindAuth({ onKey: startApp, onLeave: () => (started = false) });
  bindReports({ onOpen: openReport });
  bindDetail();
  bindSubscriptions({ onPendingLink: () => showTab("notifications") });
  bindPolicy();
  bindChannels();
  bindFeeds();
  bindUsage();
  // A link to `#report=<id>` (or the back button) opens that report on the reports tab.
  window.addEventListener("hashchange", () => {
    const fromHash = reportFromHash();
    if (!started || !fromHash) return;
    showTab("reports");
    openReport(fromHash).catch(reportError);
  });
}

async function boot() {
  bindEvents();
  const storedLocale = localStorage.getItem(LANG_STORAGE);
  setLocale(storedLocale || "ko");
  applyLocale();
  let config;
  try {
    config = await api("/api/config");
  } catch (error) {
    showBanner(errorMessage(error));
    return;
  }
  setConfig(config);
  if (!storedLocale) setLocale(normaliseLocale(config.default_locale));
  const key = restoreKey();
  buildPolicyChoices();
  applyLocale();
  document.body.dataset.authMode = config.auth_mode;
  if (config.auth_mode === "api_key" && !key) {
    showAuth();
    return;
  }
  startApp();
}

boot();
