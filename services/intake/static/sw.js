// Service worker of the responder app (served at /sw.js, scope /): a page arrives as a Web Push
// and shows as a notification that stays until answered, with Accept / Decline. An action
// answers through the page's one-tap link (POST /a/<token>, channel=push): no login needed.
const KINDS = {
  flood: "水浸 Flood", fire: "火警 Fire", medical: "急救 Medical",
  elderly_missing: "老人走失 Elderly missing", dispute: "纠纷 Dispute", other: "求助 Other",
};
const LEVELS = { building: "楼栋 building", district: "片区 district", community: "社区 community", professional: "专业救援 professional" };

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function timeLeft(dueAt) {
  const due = Date.parse(dueAt || "");
  if (Number.isNaN(due)) return "";
  const left = Math.max(0, Math.round((due - Date.now()) / 1000));
  return `到达时限 Reach in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
}

function pageBody(page) {
  const caller = page.caller || {};
  return [
    [page.building, page.address].filter(Boolean).join(" · "),
    [caller.name, caller.phone].filter(Boolean).join(" "),
    page.note,
    page.level ? `${LEVELS[page.level] || page.level}` : "",
    timeLeft(page.reach_due_at),
  ].filter(Boolean).join("\n");
}

function showPage(page) {
  const kind = KINDS[page.kind] || page.kind || "";
  return self.registration.showNotification(`1310 派单 ${page.drill ? "【演练 DRILL】" : ""}${kind}`, {
    body: pageBody(page),
    tag: page.dispatch_id || "dispatch",
    renotify: true,
    requireInteraction: true,
    vibrate: [300, 100, 300, 100, 300],
    data: page,
    actions: [{ action: "accept", title: "接单 Accept" }, { action: "decline", title: "不能去 Decline" }],
  });
}

self.addEventListener("push", (event) => {
  let page;
  try { page = event.data ? event.data.json() : {}; } catch (e) { page = { note: event.data ? event.data.text() : "" }; }
  event.waitUntil(showPage(page));
});

// One code path for an answer, whether from a notification's action or a message (tests):
// POST the page's one-tap link; on failure say so, and a click then opens the link's page.
async function answerPage(notification, answer) {
  const page = notification.data || {};
  notification.close();
  let status = 0;
  try {
    const response = await fetch(page.answer_url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: `answer=${encodeURIComponent(answer)}&channel=push`,
    });
    status = response.status;
  } catch (e) { status = 0; }
  if (status < 200 || status >= 300) {
    const ended = status === 410;
    await self.registration.showNotification("1310 派单 未能提交 Not sent", {
      body: ended ? "此派单已结束 This page has ended" : "请打开链接回复 Open the link to answer",
      tag: `${page.dispatch_id || "dispatch"}-failed`,
      data: { open: ended ? "/responder" : page.answer_url },
    });
  }
  return status;
}

async function openWindow(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname === url);
  if (open) return open.focus();
  return self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  if (event.action === "accept" || event.action === "decline") {
    event.waitUntil(answerPage(event.notification, event.action));
    return;
  }
  const target = (event.notification.data || {}).open || "/responder";
  event.notification.close();
  event.waitUntil(openWindow(target));
});

// {type: "answer", answer: "accept"|"decline", tag}: answers the shown notification of that
// page exactly as its action button would; replies {type: "answered", tag, status}.
self.addEventListener("message", (event) => {
  const message = event.data || {};
  if (message.type !== "answer") return;
  event.waitUntil((async () => {
    const [notification] = await self.registration.getNotifications({ tag: message.tag });
    const status = notification ? await answerPage(notification, message.answer) : 404;
    if (event.source) event.source.postMessage({ type: "answered", tag: message.tag, status });
  })());
});
