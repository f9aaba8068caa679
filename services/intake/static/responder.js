// Responder: token login, live dispatch pushes over SSE (EventSource reconnects by itself and
// the server re-sends a snapshot and pending dispatches on every connect), action buttons.
const TOKEN_KEY = "dispatch1310.token";
const ACTIVE = new Set(["paged", "accepted", "enroute", "arrived"]);  // the board's "busy" (services/domain/aggregate.py)
const CLOSED_KEEP_MS = 5 * 60 * 1000;  // a call closed by someone else says so this long, or until dismissed
const SEEN_AFTER_MS = 2000;  // a new dispatch's card on screen this long (page visible) has been seen
let me = null;
let source = null;
const calls = new Map();
const unseen = new Set();  // calls paged to me whose card has not been seen yet
const seenTimers = new Map();
let seenObserver = null;

function beep() {
  try {
    const ctx = new AudioContext(); const osc = ctx.createOscillator();
    osc.connect(ctx.destination); osc.frequency.value = 880; osc.start(); osc.stop(ctx.currentTime + 0.4);
  } catch (e) { /* no audio allowed yet */ }
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
}

function say(text) { document.getElementById("said").textContent = text; }
const mineOf = (call) => (call.assignees || []).find((a) => a.id === me.id) || {};
const place = (call) => call.building_name || call.building_id || call.address || "";
const clock = (iso) => new Date(iso).toLocaleTimeString(T.lang, { hour: "2-digit", minute: "2-digit" });

// Shown: open calls I still hold (not the ones I declined) and closed ones that say how they closed.
function shown(call) {
  if (call.closed) return true;
  return call.status === "open" && mineOf(call).status && mineOf(call).status !== "declined";
}

// The same rule as the desk's board: away wins, then busy while holding a call, else available.
function myStatus() {
  if (me.away && (!me.until || Date.parse(me.until) > Date.now())) return "away";
  const holding = [...calls.values()].some((c) => !c.closed && c.status === "open" && ACTIVE.has(mineOf(c).status));
  return holding ? "busy" : "available";
}

function paintStatus() {
  const status = myStatus();
  const badge = document.getElementById("mystatus");
  badge.dataset.status = status;
  badge.textContent = t(status);
  document.getElementById("myuntil").textContent = status === "away" && me.until ? `${t("until")} ${new Date(me.until).toLocaleString()}` : "";
}

function render() {
  const box = document.getElementById("calls");
  const visible = [...calls.values()].filter(shown);
  for (const id of [...unseen]) if (!calls.has(id) || mineOf(calls.get(id)).status !== "paged" || calls.get(id).closed) unseen.delete(id);
  box.replaceChildren(...(visible.length ? visible.map((call) => (call.closed ? closedCard(call) : card(call)))
    : [el("p", { class: "muted" }, t("no_calls"))]));
  paintBanner();
  paintStatus();
  watchSeen();
}

function card(call) {
  const now = Date.now();
  const mine = mineOf(call);
  const heading = `h-${call.call_id}`;
  const caller = call.caller || {};
  const stages = stageRows(call, now);
  stages.forEach((row) => {
    const due = call.stages[row.dataset.stage].due_at;
    row.firstChild.append(el("small", { class: "due" }, `${t("responder_due")} ${clock(due)}`));
  });
  return el("article", { class: `card dispatch ${mine.status === "paged" ? "new" : ""}`, "data-call": call.call_id, "aria-labelledby": heading, tabindex: "-1" },
    el("h2", { id: heading }, el("span", { "data-kind": call.kind }, t(`kind_${call.kind}`)), " · ",
      el("span", { "data-building-name": "" }, place(call)),
      call.drill ? [" ", el("span", { class: "badge drill" }, t("drill"))] : ""),
    call.building_address ? el("p", { class: "where", "data-building-address": "" }, call.building_address) : "",
    el("p", { class: "who" }, `${t("responder_caller")}: `, el("strong", { "data-caller-name": "" }, caller.name || "—"), " ",
      caller.phone ? el("a", { class: "tel", href: `tel:${caller.phone}`, "data-caller-tel": "" }, `${t("call")} ${caller.phone}`) : ""),
    call.note ? el("p", { class: "resident-note", "data-resident-note": "" }, `${t("responder_resident_note")}: ${call.note}`) : "",
    ...(call.notes || []).map((n) => el("p", { class: "desk-note", "data-note": "" }, `${t("desk_note")}: ${n.text}`)),
    el("p", { class: "facts" },
      el("span", { "data-level": mine.level || call.level }, `${t("level")}: ${t(`level_${mine.level || call.level}`)}`), " · ",
      `${t("responder_mine")}: `, el("span", { class: "badge", "data-my-status": mine.status || "" }, mine.status ? t(`dispatch_${mine.status}`) : "")),
    ...stages,
    actionsFor(call, mine));
}

function actionsFor(call, mine) {
  const id = call.call_id;
  const button = (action, cls, mark) => el("button", { type: "button", class: cls, "data-action": action, onclick: () => act(id, action) },
    mark ? el("span", { "aria-hidden": "true" }, `${mark} `) : "", t(action));
  if (mine.status === "paged" || mine.status === "timed_out") {
    // Answering: Accept big and green on its own; Decline apart, outlined in red, and confirmed.
    return el("div", { class: "answer" }, button("accept", "accept", "✓"),
      mine.status === "paged" ? button("decline", "decline", "✕") : "");
  }
  const next = { accepted: ["enroute", "arrive", "resolve"], enroute: ["arrive", "resolve"], arrived: ["resolve"] }[mine.status] || [];
  // The next step stands out; closing the call ("resolve") never does.
  return el("div", { class: "actions progress" }, ...next.map((action, i) => button(action, i === 0 && action !== "resolve" ? "next" : "")));
}

function closedCard(call) {
  return el("article", { class: "card closed", "data-call": call.call_id, "data-closed": call.closed.how },
    el("h2", {}, `${t(`kind_${call.kind}`)} · ${place(call)}`),
    el("p", { class: "closed-msg" }, call.closed.text),
    el("button", { type: "button", "data-dismiss": "", onclick: () => { calls.delete(call.call_id); render(); } }, t("responder_dismiss")));
}

// How a call I held closed, when someone else closed it (my own "resolve" just clears it).
function closing(data, call) {
  const by = data.by;
  if (data.event === "CallCancelled") {
    return by === "caller" ? { how: "caller", text: t("responder_cancelled_caller") } : { how: "desk", text: t("responder_cancelled_desk") };
  }
  const other = (call.assignees || []).find((a) => a.id === by);
  if (other) return { how: "responder", text: t("responder_closed_by").replace("{who}", other.name) };
  return { how: "desk", text: t(call.outcome === "false_alarm" ? "responder_closed_desk_false_alarm" : "responder_closed_desk") };
}

function paintBanner() {
  const box = document.getElementById("alert");
  const first = [...unseen].map((id) => calls.get(id))[0];
  box.classList.toggle("hidden", !first);
  const text = first ? `${t("new_dispatch")} ${t(`kind_${first.kind}`)} · ${place(first)} — ${t("responder_show")}` : "";
  const button = document.getElementById("alert-show");
  if (button.textContent !== text) button.textContent = text;
}

function markSeen(callId) {
  unseen.delete(callId);
  clearTimeout(seenTimers.get(callId)); seenTimers.delete(callId);
  paintBanner();
}

// Seen: the new dispatch's card was on screen, with the page in front, for a moment.
function watchSeen() {
  if (seenObserver) seenObserver.disconnect();
  if (!unseen.size || !("IntersectionObserver" in window)) return;
  seenObserver = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.call;
      if (entry.isIntersecting && document.visibilityState === "visible") {
        if (!seenTimers.has(id)) seenTimers.set(id, setTimeout(() => markSeen(id), SEEN_AFTER_MS));
      } else { clearTimeout(seenTimers.get(id)); seenTimers.delete(id); }
    }
  }, { threshold: 0.5 });
  for (const id of unseen) {
    const node = document.querySelector(`[data-call="${CSS.escape(id)}"]`);
    if (node) seenObserver.observe(node);
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") { for (const id of [...seenTimers.keys()]) { clearTimeout(seenTimers.get(id)); seenTimers.delete(id); } }
  else watchSeen();
});

async function act(callId, action) {
  if (action === "decline" && !confirm(t("responder_confirm_decline"))) return;
  markSeen(callId);
  try {
    const view = await api("POST", `/api/calls/${callId}/${action}`, { responder_id: me.id }, me.token);
    if (view.status !== "open") calls.delete(callId);  // closed by me: nothing more to say
    else calls.set(callId, { ...calls.get(callId), ...view });
    render();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

async function setAvailability(status) {
  const hours = Number(document.getElementById("away-hours").value);
  // Away "until" a time: available again by itself after it, without anyone acting.
  const until = status === "away" && hours ? new Date(Date.now() + hours * 3600 * 1000).toISOString() : null;
  try {
    const row = await api("POST", `/api/responders/${me.id}/availability`, { status, until }, me.token);
    me.away = row.status === "away"; me.until = row.until;
    paintStatus();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

function connect() {
  if (source) source.close();
  source = new EventSource(`/api/responders/${me.id}/stream?access_token=${encodeURIComponent(me.token)}`);
  source.addEventListener("open", () => document.getElementById("offline").classList.add("hidden"));
  source.addEventListener("error", () => {
    document.getElementById("offline").textContent = t("responder_reconnecting");
    document.getElementById("offline").classList.remove("hidden");
    // The browser retries by itself unless the server refused (a token revoked meanwhile).
    if (source.readyState === EventSource.CLOSED) setTimeout(() => start(me.token, true), 3000);
  });
  source.addEventListener("snapshot", (e) => {
    // The calls held now, from the read model: a call closed while offline must not keep its card
    // (a card already saying how its call closed stays until dismissed).
    const held = new Map(JSON.parse(e.data).calls.map((call) => [call.call_id, call]));
    for (const [id, call] of [...calls]) if (!held.has(id) && !call.closed) calls.delete(id);
    for (const [id, call] of held) calls.set(id, { ...calls.get(id), ...call, closed: undefined });
    render();
  });
  source.addEventListener("dispatch", (e) => {
    const data = JSON.parse(e.data);
    const id = data.call.call_id;
    const known = calls.get(id);
    calls.set(id, { ...known, ...data.call, caller: data.call.caller || data.caller, closed: undefined });
    if (!known || mineOf(known).status !== "paged") { unseen.add(id); beep(); }
    render();
  });
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data);
    const id = data.call.call_id;
    const known = calls.get(id) || {};
    const notes = data.note ? [...(known.notes || []), data.note] : known.notes;
    const call = { ...known, ...data.call, notes };
    const onScreen = Boolean(known.call_id) && !known.closed && shown(known);  // its card was there
    if (call.status !== "open") {
      if (data.by === me.id || !onScreen) { calls.delete(id); render(); return; }
      call.closed = closing(data, call);
      say(`${t(`kind_${call.kind}`)} · ${place(call)}: ${call.closed.text}`);
      setTimeout(() => { if (calls.get(id) && calls.get(id).closed) { calls.delete(id); render(); } }, CLOSED_KEEP_MS);
    }
    calls.set(id, call);
    if (data.note) beep();
    render();
  });
}

function loginError(text) {
  const box = document.getElementById("login-error");
  box.textContent = text;
  box.classList.toggle("hidden", !text);
  document.getElementById("token").setAttribute("aria-invalid", text ? "true" : "false");
}

function showLogin(text) {
  if (source) { source.close(); source = null; }
  document.getElementById("login").classList.remove("hidden");
  document.getElementById("desk").classList.add("hidden");
  document.getElementById("logout").classList.add("hidden");
  loginError(text);
}

async function start(token, again = false) {
  if (!token) { loginError(t("responder_token_missing")); return; }
  let who;
  try { who = await api("GET", "/api/me", null, token); }
  catch (e) {
    if (e.status === 401 || e.status === 403) { localStorage.removeItem(TOKEN_KEY); showLogin(t("responder_bad_token")); }
    else if (again) setTimeout(() => start(token, true), 5000);  // the server is away: keep trying
    else loginError(t("responder_offline"));
    return;
  }
  me = { ...who, token, away: who.status === "away" };
  localStorage.setItem(TOKEN_KEY, token);
  loginError("");
  document.getElementById("login").classList.add("hidden");
  document.getElementById("desk").classList.remove("hidden");
  document.getElementById("logout").classList.remove("hidden");
  document.getElementById("me").textContent = me.name;
  render();
  connect();
  if (!again) startPush();
}

document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); start(document.getElementById("token").value.trim()); });
document.getElementById("alert-show").addEventListener("click", () => {
  const id = [...unseen][0];
  const node = id && document.querySelector(`[data-call="${CSS.escape(id)}"]`);
  if (node) { node.scrollIntoView({ block: "start" }); node.focus(); }
  if (id) markSeen(id);
});
document.getElementById("logout").addEventListener("click", async () => {
  if (me) await unsubscribePush(me);  // a shared phone stops getting this person's pages
  localStorage.removeItem(TOKEN_KEY); location.reload();
});
document.getElementById("available").addEventListener("click", () => setAvailability("available"));
document.getElementById("away").addEventListener("click", () => setAvailability("away"));
setInterval(() => { if (me) paintStatus(); }, 30000);  // an away "until" runs out by itself
loadTexts().then(() => { const token = localStorage.getItem(TOKEN_KEY); if (token) start(token); });
