// "Ask the teacher": the chat under an open report. One conversation per report, its session
// id remembered in localStorage; answers stream in as server-sent events.

import { ApiError, AuthRequired, api, errorMessage, readEventStream } from "/static/js/api.js";
import { reportError } from "/static/js/banner.js";
import { $, el, messageText } from "/static/js/dom.js";
import { t } from "/static/js/i18n.js";

const CHAT_STORAGE = "stockteacher.chatSessions";
const SENDERS = { user: "chat.you", agent: "chat.teacher", system: "chat.system" };

let current = null; // {insightId, sessionId, messages, busy, error} of the open report

function chatSessions() {
  try {
    return JSON.parse(localStorage.getItem(CHAT_STORAGE) || "{}") || {};
  } catch {
    return {};
  }
}

function rememberChatSession(insightId, sessionId) {
  const sessions = chatSessions();
  if (sessionId) sessions[insightId] = sessionId;
  else delete sessions[insightId];
  localStorage.setItem(CHAT_STORAGE, JSON.stringify(sessions));
}

/** Sessions belong to an API key: forget them when the key changes. */
export function forgetChatSessions() {
  localStorage.removeItem(CHAT_STORAGE);
}

/** Starts the chat of a report being opened; answers it, to load with `loadChat`. */
export function openChat(insightId) {
  current = { insightId, sessionId: chatSessions()[insightId] || null, messages: [], busy: false, error: null };
  return current;
}

export function closeChat() {
  current = null;
}

/** What the user had typed, so that a re-render keeps it. */
export function chatDraft() {
  return current ? ($("chat-input")?.value ?? "") : "";
}

/** The stored conversation of `chat`, if it has a session. */
export async function loadChat(chat) {
  if (!chat.sessionId) return;
  try {
    const messages = await api(`/api/chat/sessions/${encodeURIComponent(chat.sessionId)}/messages`);
    chat.messages = Array.isArray(messages) ? messages : [];
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      rememberChatSession(chat.insightId, null); // a session of another key, or deleted
      chat.sessionId = null;
      chat.messages = [];
      return;
    }
    chat.error = error;
  }
}

export function chatPanel(draft) {
  const form = el(
    "form",
    { class: "chat-form", "data-testid": "chat-form", onsubmit: onChatSubmit },
    el("label", { for: "chat-input" }, t("chat.input")),
    el("textarea", {
      id: "chat-input",
      name: "content",
      rows: 2,
      required: true,
      maxlength: 2000,
      placeholder: t("chat.placeholder"),
      "data-testid": "chat-input",
      onkeydown: (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          form.requestSubmit();
        }
      },
    }),
    el("button", { type: "submit", id: "chat-send", "data-testid": "chat-send" }, t("chat.send")),
  );
  form.elements.content.value = draft;
  return el(
    "section",
    { class: "detail-section chat", "data-testid": "chat-panel" },
    el("h3", {}, t("chat.title")),
    el("p", { class: "muted" }, t("chat.help")),
    el("ol", { id: "chat-messages", class: "chat-messages", "data-testid": "chat-messages", "aria-live": "polite" }),
    el("p", { id: "chat-error", class: "error", role: "alert", hidden: true, "data-testid": "chat-error" }),
    form,
  );
}

export function renderChatMessages() {
  const chat = current;
  const list = $("chat-messages");
  if (!chat || !list) return;
  list.replaceChildren(...chat.messages.map(chatMessageItem));
  list.scrollTop = list.scrollHeight;
  const errorBox = $("chat-error");
  errorBox.hidden = !chat.error;
  errorBox.textContent = chat.error ? messageText(errorMessage(chat.error)) : "";
  const send = $("chat-send");
  send.disabled = chat.busy;
  send.textContent = chat.busy ? t("chat.sending") : t("chat.send");
}

function chatMessageItem(message) {
  const sender = Object.hasOwn(SENDERS, message.sender) ? message.sender : "system";
  const bubble = el(
    "div",
    {
      class: "bubble",
      "data-testid": `chat-${sender}-message`,
      "data-message-id": message.message_id || null,
      "data-streaming": sender === "agent" ? String(Boolean(message.streaming)) : null,
    },
    message.content || "",
  );
  message.node = bubble;
  const item = el("li", { class: `chat-message from-${sender}` }, el("span", { class: "who" }, t(SENDERS[sender])), bubble);
  if (message.error) {
    item.append(
      el(
        "p",
        { class: "error", "data-testid": "chat-stream-error" },
        t("chat.error", { detail: message.error.detail || message.error.code || "" }),
        message.error.trace_id ? el("small", { class: "muted trace" }, ` (${t("chat.trace", { trace_id: message.error.trace_id })})`) : null,
      ),
    );
  }
  return item;
}

function onChatSubmit(event) {
  event.preventDefault();
  const input = $("chat-input");
  const content = input.value.trim();
  if (!content || !current || current.busy) return;
  input.value = "";
  sendChat(current, content).catch(reportError);
}

async function sendChat(chat, content) {
  const visible = () => current === chat;
  chat.busy = true;
  chat.error = null;
  if (visible()) renderChatMessages();
  const agent = { sender: "agent", content: "", streaming: true };
  try {
    if (!chat.sessionId) {
      const session = await api("/api/chat/sessions", { method: "POST", body: { insight_id: chat.insightId } });
      chat.sessionId = session.session_id;
      rememberChatSession(chat.insightId, chat.sessionId);
      await loadChat(chat);
    }
    chat.messages.push({ sender: "user", content }, agent);
    if (visible()) renderChatMessages();
    const response = await api(`/api/chat/sessions/${encodeURIComponent(chat.sessionId)}/messages`, {
      method: "POST",
      body: { content },
      headers: { Accept: "text/event-stream" },
      raw: true,
    });
    if ((response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      await readEventStream(response, (name, data) => onChatEvent(chat, agent, name, data));
    } else {
      // A server that ignores Accept answers 201 [ChatMessage]: the user's message and the reply.
      const stored = await response.json();
      const reply = Array.isArray(stored) ? stored.filter((m) => m.sender === "agent").pop() : null;
      if (reply) Object.assign(agent, reply);
    }
  } catch (error) {
    if (error instanceof AuthRequired) return;
    chat.messages = chat.messages.filter((m) => m !== agent || m.content);
    chat.error = error;
  } finally {
    agent.streaming = false;
    chat.busy = false;
    if (visible()) renderChatMessages();
  }
}

function onChatEvent(chat, agent, name, data) {
  if (name === "chunk") {
    agent.content += typeof data === "string" ? data : (data.content ?? "");
    if (agent.node && current === chat) {
      agent.node.textContent = agent.content;
      const list = $("chat-messages");
      if (list) list.scrollTop = list.scrollHeight;
    }
  } else if (name === "done") {
    if (data && data.message_id) agent.message_id = data.message_id;
    if (data && typeof data.content === "string" && data.content) agent.content = data.content;
    agent.streaming = false;
  } else if (name === "error") {
    agent.error = typeof data === "object" && data ? data : { detail: String(data) };
    agent.streaming = false;
  }
}
