// UI strings in Korean (the default) and English, and the tiny lookup the page uses.
// Keys are flat; `{name}` placeholders are filled by `t(key, {name: value})`.

export const LOCALES = ["ko", "en"];

const STRINGS = {
  ko: {
    "app.title": "StockTeacher",
    "app.tagline": "초보 투자자를 위한 종목 뉴스 리포트",
    "lang.label": "언어",
    "nav.label": "메뉴",
    "nav.reports": "리포트",
    "nav.subscriptions": "구독",
    "nav.notifications": "알림 설정",
    "footer.version": "버전 {version}",
    "loading": "불러오는 중…",
    "error.generic": "오류가 발생했습니다: {detail}",
    "error.network": "서버에 연결할 수 없습니다.",

    "auth.title": "API 키 입력",
    "auth.help": "이 서버는 API 키가 필요합니다. 관리자에게 받은 키를 입력하세요.",
    "auth.key": "API 키",
    "auth.submit": "확인",
    "auth.rejected": "API 키가 거부되었습니다. 다시 입력하세요.",
    "auth.logout": "키 지우기",

    "filters.title": "필터",
    "filters.date_from": "시작일",
    "filters.date_to": "종료일",
    "filters.tickers": "종목 (쉼표로 구분)",
    "filters.tickers_placeholder": "AAPL, 005930",
    "filters.keywords": "키워드 (쉼표로 구분)",
    "filters.search": "검색어",
    "filters.sentiment": "감성",
    "filters.sentiment_any": "전체",
    "filters.status": "상태",
    "filters.status_published": "게시됨",
    "filters.status_all": "전체",
    "filters.urgent_only": "긴급만",
    "filters.favorites_only": "즐겨찾기만",
    "filters.apply": "적용",
    "filters.reset": "초기화",

    "reports.title": "리포트",
    "reports.empty": "조건에 맞는 리포트가 없습니다.",
    "reports.prev": "이전",
    "reports.next": "다음",
    "reports.page": "{page}쪽",
    "reports.open": "{ticker} 리포트 열기: {headline}",

    "sentiment.positive": "긍정",
    "sentiment.negative": "부정",
    "sentiment.neutral": "중립",

    "favorite.add": "즐겨찾기에 추가",
    "favorite.remove": "즐겨찾기에서 제거",

    "detail.placeholder": "왼쪽 목록에서 리포트를 고르세요.",
    "detail.close": "닫기",
    "detail.summary": "요약",
    "detail.sentiment": "감성 점수",
    "detail.anomaly": "이상 징후 점수",
    "detail.model": "모델",
    "detail.cost": "비용",
    "detail.published": "게시 시각",
    "detail.status": "상태",
    "detail.keywords": "키워드",
    "detail.tags": "태그",
    "detail.sources": "출처",
    "detail.no_sources": "출처가 없습니다.",
    "detail.glossary": "용어 풀이",
    "detail.anomalies": "이상 징후",
    "detail.anomaly_score": "점수 {score}",
    "detail.related": "관련 리포트",
    "detail.no_related": "관련 리포트가 없습니다.",
    "detail.chart": "{ticker} 감성 추이",
    "detail.chart_empty": "표시할 감성 데이터가 없습니다.",
    "detail.chart_point": "{date}: 감성 {sentiment} (리포트 {reports}건)",
    "detail.not_found": "리포트를 찾을 수 없습니다.",

    "status.draft": "초안",
    "status.published": "게시됨",
    "status.hidden": "숨김",

    "chat.title": "선생님께 질문하기",
    "chat.help": "이 리포트에 대해 궁금한 점을 물어보세요.",
    "chat.input": "질문",
    "chat.placeholder": "예: 이 뉴스가 주가에 어떤 의미가 있나요?",
    "chat.send": "보내기",
    "chat.sending": "답변 중…",
    "chat.you": "나",
    "chat.teacher": "선생님",
    "chat.system": "안내",
    "chat.error": "답변하지 못했습니다: {detail}",
    "chat.trace": "추적 ID {trace_id}",

    "subs.title": "구독",
    "subs.help": "관심 종목을 구독하면 새 리포트를 알려 드립니다.",
    "subs.ticker": "종목 코드",
    "subs.window": "알림 시점",
    "subs.submit": "구독하기",
    "subs.empty": "구독한 종목이 없습니다.",
    "subs.delete": "구독 취소",
    "subs.delete_label": "{ticker} 구독 취소",
    "subs.window_label": "{ticker} 알림 시점",
    "subs.status": "상태",
    "subs.added": "{ticker} 구독을 추가했습니다.",
    "subs.updated": "{ticker} 알림 시점을 바꿨습니다.",
    "subs.deleted": "{ticker} 구독을 취소했습니다.",
    "window.intraday": "장중",
    "window.daily_open": "매일 장 시작",
    "window.daily_close": "매일 장 마감",
    "window.weekly": "매주",
    "substatus.PendingVerification": "확인 대기",
    "substatus.Active": "활성",
    "substatus.Suspended": "중지됨",

    "policy.title": "알림 설정",
    "policy.timezone": "시간대",
    "policy.window": "알림 시점",
    "policy.frequency": "빈도",
    "policy.channels": "채널",
    "policy.quiet_start": "방해 금지 시작",
    "policy.quiet_end": "방해 금지 종료",
    "policy.quiet_help": "방해 금지 시간은 둘 다 입력하거나 둘 다 비워 두세요.",
    "policy.save": "저장",
    "policy.saved": "알림 설정을 저장했습니다.",
    "pwindow.morning_open": "아침 장 시작",
    "pwindow.daily_close": "장 마감",
    "pwindow.immediate": "즉시",
    "frequency.daily": "매일",
    "frequency.weekly": "매주",
    "channel.email": "이메일",
    "channel.web-push": "웹 푸시",
    "channel.webhook": "웹훅",
  },
  en: {
    "app.title": "StockTeacher",
    "app.tagline": "Stock news reports for beginners",
    "lang.label": "Language",
    "nav.label": "Menu",
    "nav.reports": "Reports",
    "nav.subscriptions": "Subscriptions",
    "nav.notifications": "Notifications",
    "footer.version": "Version {version}",
    "loading": "Loading…",
    "error.generic": "Something went wrong: {detail}",
    "error.network": "Cannot reach the server.",

    "auth.title": "Enter your API key",
    "auth.help": "This server needs an API key. Enter the key your administrator gave you.",
    "auth.key": "API key",
    "auth.submit": "Continue",
    "auth.rejected": "The API key was rejected. Please enter it again.",
    "auth.logout": "Forget key",

    "filters.title": "Filters",
    "filters.date_from": "From",
    "filters.date_to": "To",
    "filters.tickers": "Tickers (comma-separated)",
    "filters.tickers_placeholder": "AAPL, 005930",
    "filters.keywords": "Keywords (comma-separated)",
    "filters.search": "Search",
    "filters.sentiment": "Sentiment",
    "filters.sentiment_any": "Any",
    "filters.status": "Status",
    "filters.status_published": "Published",
    "filters.status_all": "All",
    "filters.urgent_only": "Urgent only",
    "filters.favorites_only": "Favourites only",
    "filters.apply": "Apply",
    "filters.reset": "Reset",

    "reports.title": "Reports",
    "reports.empty": "No reports match these filters.",
    "reports.prev": "Previous",
    "reports.next": "Next",
    "reports.page": "Page {page}",
    "reports.open": "Open the {ticker} report: {headline}",

    "sentiment.positive": "Positive",
    "sentiment.negative": "Negative",
    "sentiment.neutral": "Neutral",

    "favorite.add": "Add to favourites",
    "favorite.remove": "Remove from favourites",

    "detail.placeholder": "Pick a report from the list.",
    "detail.close": "Close",
    "detail.summary": "Summary",
    "detail.sentiment": "Sentiment score",
    "detail.anomaly": "Anomaly score",
    "detail.model": "Model",
    "detail.cost": "Cost",
    "detail.published": "Published",
    "detail.status": "Status",
    "detail.keywords": "Keywords",
    "detail.tags": "Tags",
    "detail.sources": "Sources",
    "detail.no_sources": "No sources.",
    "detail.glossary": "Glossary",
    "detail.anomalies": "Anomalies",
    "detail.anomaly_score": "score {score}",
    "detail.related": "Related reports",
    "detail.no_related": "No related reports.",
    "detail.chart": "{ticker} sentiment over time",
    "detail.chart_empty": "No sentiment data to show.",
    "detail.chart_point": "{date}: sentiment {sentiment} ({reports} reports)",
    "detail.not_found": "Report not found.",

    "status.draft": "Draft",
    "status.published": "Published",
    "status.hidden": "Hidden",

    "chat.title": "Ask the teacher",
    "chat.help": "Ask anything about this report.",
    "chat.input": "Question",
    "chat.placeholder": "e.g. What does this news mean for the stock?",
    "chat.send": "Send",
    "chat.sending": "Answering…",
    "chat.you": "You",
    "chat.teacher": "Teacher",
    "chat.system": "Note",
    "chat.error": "No answer: {detail}",
    "chat.trace": "trace id {trace_id}",

    "subs.title": "Subscriptions",
    "subs.help": "Subscribe to tickers to hear about new reports.",
    "subs.ticker": "Ticker",
    "subs.window": "Alert window",
    "subs.submit": "Subscribe",
    "subs.empty": "No subscriptions yet.",
    "subs.delete": "Unsubscribe",
    "subs.delete_label": "Unsubscribe from {ticker}",
    "subs.window_label": "Alert window for {ticker}",
    "subs.status": "Status",
    "subs.added": "Subscribed to {ticker}.",
    "subs.updated": "Changed the alert window for {ticker}.",
    "subs.deleted": "Unsubscribed from {ticker}.",
    "window.intraday": "Intraday",
    "window.daily_open": "Daily at the open",
    "window.daily_close": "Daily at the close",
    "window.weekly": "Weekly",
    "substatus.PendingVerification": "Pending verification",
    "substatus.Active": "Active",
    "substatus.Suspended": "Suspended",

    "policy.title": "Notification settings",
    "policy.timezone": "Time zone",
    "policy.window": "When",
    "policy.frequency": "Frequency",
    "policy.channels": "Channels",
    "policy.quiet_start": "Quiet hours start",
    "policy.quiet_end": "Quiet hours end",
    "policy.quiet_help": "Fill in both quiet-hour times or leave both empty.",
    "policy.save": "Save",
    "policy.saved": "Notification settings saved.",
    "pwindow.morning_open": "Morning open",
    "pwindow.daily_close": "Daily close",
    "pwindow.immediate": "Immediately",
    "frequency.daily": "Daily",
    "frequency.weekly": "Weekly",
    "channel.email": "Email",
    "channel.web-push": "Web push",
    "channel.webhook": "Webhook",
  },
};

let current = "ko";

/** "ko_KR" / "en-US" / "en" → "ko" | "en" (anything unknown → "ko"). */
export function normaliseLocale(value) {
  const short = String(value || "").slice(0, 2).toLowerCase();
  return LOCALES.includes(short) ? short : "ko";
}

export function setLocale(locale) {
  current = normaliseLocale(locale);
  return current;
}

export function getLocale() {
  return current;
}

/** The BCP 47 tag for Intl formatting. */
export function intlLocale() {
  return current === "ko" ? "ko-KR" : "en-US";
}

/** The string for `key` in the current locale, with `{name}` placeholders filled. */
export function t(key, vars = {}) {
  const table = STRINGS[current] || STRINGS.ko;
  const template = table[key] ?? STRINGS.ko[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

/** Translate static markup: `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-aria-label`, `data-i18n-title`. */
export function translateDocument(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.setAttribute("title", t(node.dataset.i18nTitle));
  document.documentElement.lang = current;
  document.title = t("app.title");
}
