// The notification policy: time zone, window, frequency, channels, quiet hours and the language
// of the alerts. Every choice offered comes from the server's vocabulary.

import { api, apiRefusal } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, fillOptions, showMessage } from "/static/js/dom.js";
import { vocabulary } from "/static/js/state.js";

let policy = null;
let timezones = [];

export function bindPolicy() {
  $("policy-form").addEventListener("submit", (event) => onPolicySubmit(event).catch(reportError));
}

/**
 * One checkbox per channel, in the vocabulary's order, and one option per alert language;
 * their labels carry `data-i18n`, so a change of language relabels them in place.
 */
export function buildPolicyChoices() {
  const form = $("policy-form");
  const boxes = vocabulary().channels.map((channel) =>
    el(
      "label",
      {},
      el("input", { type: "checkbox", name: "channels", value: channel, "data-testid": `policy-channel-${channel}` }),
      " ",
      el("span", { "data-i18n": `channel.${channel}` }),
    ),
  );
  $("policy-channel-boxes").replaceChildren(...boxes);
  form.elements.locale.replaceChildren(
    ...vocabulary().locales.map((locale) => el("option", { value: locale, "data-i18n": `locale.${locale}` })),
  );
}

/** The window and frequency choices in the current language. */
export function relabelPolicy() {
  const form = $("policy-form");
  fillOptions(form.elements.window, vocabulary().policy_windows, "pwindow");
  fillOptions(form.elements.frequency, vocabulary().frequencies, "frequency");
  fillPolicyForm();
}

export async function loadPolicy() {
  const [saved, zones] = await Promise.all([api("/api/notifications/policy"), api("/api/notifications/timezones")]);
  policy = saved;
  timezones = Array.isArray(zones) ? zones : [];
  fillPolicyForm();
}

function fillPolicyForm() {
  const form = $("policy-form");
  // Saving before the policy (and its time zones) has loaded would send an empty time zone.
  form.querySelector('button[type="submit"]').disabled = !policy;
  if (!policy) return;
  const zones = timezones.includes(policy.timezone) ? timezones : [policy.timezone, ...timezones];
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
  if (!policy) return;
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
  const refusal = await apiRefusal(async () => {
    policy = await api("/api/notifications/policy", { method: "PUT", body });
    fillPolicyForm();
    showMessage("policy-message", { key: "policy.saved" });
  });
  if (refusal) showMessage("policy-message", refusal, "error");
}
