// The HTTP client for the StockTeacher API (docs/API.md), and its server-sent-event reader.

import { t } from "/static/js/i18n.js";
import { getApiKey } from "/static/js/state.js";

export class ApiError extends Error {
  /** `body` is the whole error answer (an ambiguous ticker's `candidates`, say), or null. */
  constructor(status, detail, body = null) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** A 401: the key was refused (or is missing); the key form is already showing. */
export class AuthRequired extends ApiError {}

let onUnauthorized = () => {};

/** What to do on a 401 (forget the key, ask for another one). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

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
  let body = null;
  try {
    body = await response.json();
    detail = body && typeof body === "object" ? body.detail : body;
  } catch {
    detail = null;
  }
  return new ApiError(response.status, describeDetail(detail, response.status), body);
}

/**
 * Calls the API. `query` values that are arrays become repeated parameters; empty values are
 * left out. Answers the parsed JSON (null for 204), or the Response itself with `raw: true`.
 * A 401 calls the unauthorized handler and throws `AuthRequired`.
 */
export async function api(path, { method = "GET", query = null, body = undefined, headers = {}, raw = false } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined || item === "" || item === false) continue;
      url.searchParams.append(name, String(item));
    }
  }
  const allHeaders = { Accept: "application/json", ...headers };
  const key = getApiKey();
  if (key) allHeaders.Authorization = `Bearer ${key}`;
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
    onUnauthorized();
    throw new AuthRequired(401, error.detail);
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** `{key, params}` for a message line: "An error occurred: <the API's reason>". */
export function errorMessage(error) {
  return { key: "error.generic", params: { detail: error instanceof ApiError ? error.detail : String(error) } };
}

/** Runs `call`; an API refusal becomes `{text: its reason}` for a message line, a 401 becomes null. */
export async function apiRefusal(call) {
  try {
    await call();
    return null;
  } catch (error) {
    if (error instanceof AuthRequired) return null;
    if (!(error instanceof ApiError)) throw error;
    return { text: error.detail };
  }
}

// --- server-sent events ----------------------------------------------------------------------

/** Reads a `text/event-stream` body as it arrives and calls `onEvent(name, data)` per event. */
export async function readEventStream(response, onEvent) {
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
