// The little the sections really share: the server's configuration (with its vocabulary) and
// the API key. The locale lives in i18n.js; everything else belongs to its own section.

let config = null;
let apiKey = null;

export function setConfig(value) {
  config = value;
}

/** `GET /api/config`, or null before it has answered. */
export function getConfig() {
  return config;
}

/**
 * The enums and thresholds the server defines (`core/vocabulary.py`): windows, frequencies,
 * channels in display order, statuses, sentiments, locales and the sentiment band. Throws when
 * called before the configuration has loaded, so that no section falls back on a copy.
 */
export function vocabulary() {
  if (!config || !config.vocabulary) throw new Error("vocabulary used before /api/config answered");
  return config.vocabulary;
}

export function getApiKey() {
  return apiKey;
}

export function setApiKey(value) {
  apiKey = value || null;
}
