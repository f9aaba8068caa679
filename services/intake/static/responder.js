// Responder: token login, live dispatch pushes over SSE (EventSource reconnects by itself and
// the server re-sends a snapshot and pending dispatches on every connect), action buttons.
const TOKEN_KEY = "dispatch1310.token";
let me = null;
const calls = new Map();

function beep() {
  try {
    const ctx = new AudioContext(); const osc = ctx.createOscillator();
    osc.connect(ctx.destination); osc.frequency.value = 880; osc.start(); osc.stop(ctx.currentTime + 0.4);
  } catch (e) { /* no audio allowed yet */ }
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
}

function render() {
  const box = document.getElementById("calls");
  const open = [...calls.values()].filter((c) => c.status === "open");
  if (!open.length) { box.replaceChildren(el("p", { class: "muted" }, t("no_calls"))); return; }
  const now = Date.now();
  box.replaceChildren(...open.map((call) => {
    const mine = call.assignees.find((a) => a.id === me.id) || {};
    const actions = { paged: ["accept", "decline"], timed_out: ["accept"], accepted: ["enroute", "arrive", "resolve"],
      enroute: ["arrive", "resolve"], arrived: ["resolve"] }[mine.status] || [];
    return el("div", { class: `card ${mine.status === "paged" ? "new" : ""}`, "data-call": call.call_id },
      el("div", {}, el("strong", {}, t(`kind_${call.kind}`)), " ", call.drill ? el("span", { class: "badge drill" }, t("drill")) : "",
        " · ", call.address || call.building_id || "", " · ", el("span", { class: "badge", "data-my-status": mine.status }, mine.status ? t(`dispatch_${mine.status}`) : "")),
      el("div", { class: "muted" }, call.caller ? `${call.caller.name} ${call.caller.phone}` : ""),
      ...(call.notes || []).map((n) => el("div", { class: "note", "data-note": "" }, `${t("desk_note")}: ${n.text}`)),
      ...stageRows(call, now),
      el("div", { class: "actions" }, ...actions.map((action) =>
        el("button", { type: "button", "data-action": action, onclick: () => act(call.call_id, action) }, t(action)))));
  }));
}

async function act(callId, action) {
  try {
    const view = await api("POST", `/api/calls/${callId}/${action}`, { responder_id: me.id }, me.token);
    calls.set(callId, { ...calls.get(callId), ...view });
    render();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

async function setAvailability(status) {
  const hours = Number(document.getElementById("away-hours").value);
  // Away "until" a time: available again by itself after it, without anyone acting.
  const until = status === "away" && hours ? new Date(Date.now() + hours * 3600 * 1000).toISOString() : null;
  const row = await api("POST", `/api/responders/${me.id}/availability`, { status, until }, me.token);
  document.getElementById("mystatus").textContent = t(row.status);
  document.getElementById("myuntil").textContent = row.until ? `${t("until")} ${new Date(row.until).toLocaleString()}` : "";
}

function connect() {
  const source = new EventSource(`/api/responders/${me.id}/stream?access_token=${encodeURIComponent(me.token)}`);
  source.addEventListener("snapshot", (e) => {
    // The calls held now, from the read model: a call closed while offline must not keep its card.
    const held = new Map(JSON.parse(e.data).calls.map((call) => [call.call_id, call]));
    for (const id of [...calls.keys()]) if (!held.has(id)) calls.delete(id);
    for (const [id, call] of held) calls.set(id, { ...calls.get(id), ...call });
    render();
  });
  source.addEventListener("dispatch", (e) => {
    const data = JSON.parse(e.data);
    const known = calls.get(data.call.call_id);
    calls.set(data.call.call_id, { ...data.call, caller: data.caller });
    if (!known || (known.assignees.find((a) => a.id === me.id) || {}).status !== "paged") {
      document.getElementById("alert").classList.remove("hidden"); beep();
    }
    render();
  });
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data);
    const known = calls.get(data.call.call_id) || {};
    const notes = data.note ? [...(known.notes || []), data.note] : known.notes;
    calls.set(data.call.call_id, { ...known, ...data.call, notes });
    if (data.note) beep();
    render();
  });
}

async function start(token) {
  try { me = { ...(await api("GET", "/api/me", null, token)), token }; }
  catch (e) { localStorage.removeItem(TOKEN_KEY); return; }
  localStorage.setItem(TOKEN_KEY, token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("desk").classList.remove("hidden");
  document.getElementById("logout").classList.remove("hidden");
  document.getElementById("me").textContent = me.name;
  document.getElementById("mystatus").textContent = t(me.status || "available");
  connect();
  startPush();
}

document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); start(document.getElementById("token").value); });
document.getElementById("logout").addEventListener("click", async () => {
  if (me) await unsubscribePush(me);  // a shared phone stops getting this person's pages
  localStorage.removeItem(TOKEN_KEY); location.reload();
});
document.getElementById("available").addEventListener("click", () => setAvailability("available"));
document.getElementById("away").addEventListener("click", () => setAvailability("away"));
loadTexts().then(() => { const token = localStorage.getItem(TOKEN_KEY); if (token) start(token); });
