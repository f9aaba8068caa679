// Supervisor board: open calls live over SSE (building, caller, kind, age, level, who is paged,
// stage countdowns), escalated calls and calls nobody is being reached on marked with colour and
// text, a beep on a new call, an escalation and a missed deadline (mutable), the desk's actions
// on a call, a call raised for a resident who phoned in, and the history of closed calls.
// At a phone's width the tables become cards (app.css, table.cards).
// /board?community=<id> (linked from the county board): that community's board only.
const TOKEN_KEY = "dispatch1310.supervisor";
const MUTE_KEY = "dispatch1310.board.muted";
const KIND_ICONS = { flood: "🌊", fire: "🔥", medical: "🚑", elderly_missing: "🧓", dispute: "⚖️", other: "❗" };
const OUTCOMES = ["handled", "false_alarm", "referred", "cancelled"];
let token = null;
let people = [];
let peopleKey = "";
let buildings = new Map();  // id -> {name, district_id, district_name}
let districts = new Map();  // id -> name
const open = new Map();
const COMMUNITY = new URLSearchParams(location.search).get("community");
const ofCommunity = COMMUNITY ? `community=${encodeURIComponent(COMMUNITY)}` : "";
const inCommunity = (row) => !COMMUNITY || row.community_id === COMMUNITY;
window.deskSounds = [];  // what the board sounded, oldest first (tests and curious people read it)

// ---------------------------------------------------------------- names, never ids
const buildingName = (call) => buildings.get(call.building_id)?.name || call.address || districts.get(call.district_id) || t("desk_no_building");
const countsName = (key) => districts.get(key) || (key === "teams" ? t("desk_teams") : t(`level_${key}`));
const escalated = (call) => Boolean(call.raised_level) && call.level !== call.raised_level;

function age(since, now) {
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}

// ---------------------------------------------------------------- sound
let audio = null;
const TONES = { new_call: [880, 2], escalation: [660, 3], missed: [330, 3] };
const muted = () => localStorage.getItem(MUTE_KEY) === "1";

function beep(kind) {
  if (muted()) return;
  window.deskSounds.push(kind);
  try {
    audio = audio || new AudioContext();
    const [freq, count] = TONES[kind];
    for (let i = 0; i < count; i += 1) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      const at = audio.currentTime + i * 0.25;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.2, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.2);
    }
  } catch (e) { /* no audio on this device: the colours and texts still show */ }
}

// A browser lets a page sound only after a touch or a key: the desk's first one unlocks it.
function unlockAudio() {
  if (muted()) return;
  try { audio = audio || new AudioContext(); audio.resume(); } catch (e) { /* no audio here */ }
}
document.addEventListener("pointerdown", unlockAudio);
document.addEventListener("keydown", unlockAudio);

function paintMute() {
  const button = document.getElementById("mute");
  button.setAttribute("aria-pressed", String(muted()));
  button.textContent = muted() ? `🔕 ${t("desk_sound_off")}` : `🔔 ${t("desk_sound_on")}`;
}

function toggleMute() {
  localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
  if (!muted() && audio) audio.resume();
  paintMute();
}

// ---------------------------------------------------------------- open calls
function td(label, attrs, ...children) { return el("td", { "data-label": label, ...attrs }, ...children); }

function cell(call, stage, now) {
  const info = call.stages[stage];
  const node = td(t(`stage_${stage}`), { class: "stage", "data-stage": stage, "data-info": JSON.stringify(info) });
  paintStage(node, info, now);
  return node;
}

// How each page went out: one badge per channel, red with its error when it failed.
function reachBadges(call, assignee) {
  return (call.reach || []).filter((r) => r.dispatch_id === assignee.dispatch_id && r.responder_id === assignee.id)
    .map((r) => el("span", {
      class: `badge channel ${r.ok ? "ok" : "failed"}`,
      "data-reach": `${r.responder_id}:${r.method}`,
      "data-ok": String(r.ok),
      title: r.ok ? `${t("reach_sent")} ${new Date(r.at).toLocaleTimeString()}` : `${t("reach_failed")}: ${r.error || ""}`,
    }, `${t(`method_${r.method}`)} ${r.ok ? "✓" : "✗"}`, r.ok ? "" : ` ${r.error || t("reach_failed")}`));
}

function assignList(call) {
  // The people of the call's district, and those of the level now handling it; available first.
  const candidates = people.filter((p) => (call.district_id && p.district_id === call.district_id) || (!p.district_id && p.level === call.level));
  const rank = { available: 0, busy: 1, away: 2 };
  candidates.sort((a, b) => rank[a.status] - rank[b.status]);
  return el("select", { "aria-label": `${t("assign")} · ${buildingName(call)}`, "data-assign-list": call.call_id },
    ...candidates.map((p) => el("option", p.status === "away" ? { value: p.id, disabled: "" } : { value: p.id }, `${p.name} (${t(p.status)})`)));
}

function callRow(call, now) {
  const up = escalated(call);
  const select = assignList(call);
  const rowClass = call.held ? "held" : call.unreached ? "unreached" : up ? "escalated" : "";
  const caller = call.caller || {};
  return el("tr", { class: rowClass, "data-call": call.call_id },
    td(t("desk_col_call"), { class: "call-head" },
      el("a", { href: `/calls/${call.call_id}` }, buildingName(call)),
      el("span", { class: "muted small" }, ` #${call.call_id.slice(0, 6)}`),
      call.held ? el("span", { class: "badge held", title: t("held_hint") }, "⏸ ", t("held")) : "",
      call.drill ? el("span", { class: "badge drill" }, t("drill")) : ""),
    td(t("desk_col_caller"), {}, caller.name || "", caller.phone ? [" ", el("a", { href: `tel:${caller.phone}` }, caller.phone)] : ""),
    td(t("kind"), {}, el("span", { "aria-hidden": "true" }, `${KIND_ICONS[call.kind] || ""} `), t(`kind_${call.kind}`), " ",
      el("span", { class: "badge", "data-source": call.source }, t(`source_${call.source}`))),
    td(t("desk_col_age"), { class: "age", "data-since": call.raised_at }, age(call.raised_at, now)),
    td(t("level"), { class: "level", "data-level": call.level }, t(`level_${call.level}`),
      up ? el("span", { class: "badge escalated", "data-escalated": "" }, "⬆ ", t("escalated")) : ""),
    td(t("assignees"), { class: "reach" },
      call.unreached ? el("span", { class: "badge unreached", "data-unreached": "", title: t("unreached_hint") }, "⚠ ", t("unreached")) : "",
      call.assignees.map((a) => el("div", { class: `assignee ${["declined", "timed_out"].includes(a.status) ? "muted" : ""}`, "data-assignee": a.id },
        `${a.name} (${t(`dispatch_${a.status}`)})`, " ", ...reachBadges(call, a)))),
    cell(call, "contact", now), cell(call, "reach", now), cell(call, "onsite", now),
    td(t("assign"), {}, select, " ", el("button", { type: "button", "data-assign": call.call_id, onclick: () => assign(call.call_id, select.value) }, t("assign"))),
    td(t("actions"), { class: "actions" },
      // A held call (a flood from one address): one tap dispatches it, or closes it as a false alarm.
      call.held ? el("button", { type: "button", "data-action": "release", onclick: () => act(call.call_id, "release", {}) }, t("release")) : "",
      // Nobody above the professionals: no escalation offered there.
      call.level !== "professional" ? el("button", { type: "button", "data-action": "escalate", onclick: () => escalate(call.call_id, call.level) }, t("escalate")) : "",
      el("button", { type: "button", "data-action": "note", onclick: () => addNote(call.call_id) }, t("add_note")),
      el("button", { type: "button", "data-action": "handled", onclick: () => resolve(call.call_id, "handled") }, t("resolve_handled")),
      el("button", { type: "button", "data-action": "false_alarm", onclick: () => resolve(call.call_id, "false_alarm") }, t("false_alarm"))));
}

function render() {
  const district = document.getElementById("district").value;
  const now = Date.now();
  const tbody = document.getElementById("rows");
  // A re-render keeps what the desk was doing: the person picked in each list, and the focus.
  const picked = new Map([...tbody.querySelectorAll("select[data-assign-list]")].map((s) => [s.dataset.assignList, s.value]));
  const focused = document.activeElement;
  const focusKey = tbody.contains(focused) ? [focused.closest("tr")?.dataset.call, focused.dataset.action || focused.dataset.assign !== undefined && "assign" || focused.dataset.assignList !== undefined && "list"] : null;
  const rows = [...open.values()].filter((c) => c.status === "open" && (!district || c.district_id === district));
  tbody.replaceChildren(...rows.map((call) => callRow(call, now)));
  for (const select of tbody.querySelectorAll("select[data-assign-list]")) {
    const value = picked.get(select.dataset.assignList);
    if (value && [...select.options].some((o) => o.value === value)) select.value = value;
  }
  if (focusKey && focusKey[0]) {
    const row = tbody.querySelector(`tr[data-call="${focusKey[0]}"]`);
    const target = row && (focusKey[1] === "assign" ? row.querySelector("[data-assign]") : focusKey[1] === "list" ? row.querySelector("select") : row.querySelector(`[data-action="${focusKey[1]}"]`));
    if (target) target.focus();
  }
  document.getElementById("no-calls").classList.toggle("hidden", rows.length > 0);
}

function tickAges() {
  const now = Date.now();
  document.querySelectorAll("[data-since]").forEach((node) => { node.textContent = age(node.dataset.since, now); });
}
setInterval(tickAges, 1000);

async function act(callId, path, body) {
  try {
    const view = await api("POST", `/api/calls/${callId}/${path}`, body, token);
    // The answer is the public view: keep what only the desk's view carries (the caller).
    if (view.status === "open") open.set(callId, { ...open.get(callId), ...view }); else { open.delete(callId); loadHistory(); }
    render();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

const assign = (callId, personId) => act(callId, "assign", { responder_id: personId });
// The level seen on the board goes along: a double click escalates once, not twice.
const escalate = (callId, level) => act(callId, "escalate", { reason: "manual", from_level: level });

function addNote(callId) {
  const text = prompt(t("note_prompt"));
  if (text && text.trim()) act(callId, "notes", { text: text.trim() });
}

function resolve(callId, outcome) {
  if (confirm(t(outcome === "false_alarm" ? "confirm_false_alarm" : "confirm_resolve"))) act(callId, "resolve", { outcome });
}

// ---------------------------------------------------------------- phoned-in calls
async function raisePhonedIn(event) {
  event.preventDefault();
  const body = {
    caller: { name: document.getElementById("pi-name").value, phone: document.getElementById("pi-phone").value },
    building_id: document.getElementById("pi-building").value || null,
    kind: document.getElementById("pi-kind").value,
    note: document.getElementById("pi-note").value,
    source: "phone",
  };
  try {
    const view = await api("POST", "/api/calls", body, token);
    open.set(view.call_id, { ...view, caller: body.caller, raised_level: view.level, ...open.get(view.call_id) });
    event.target.reset();
    document.getElementById("phonein").close();
    render();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

// ---------------------------------------------------------------- history of closed calls
const howClosed = (call) => (call.status === "cancelled" ? "cancelled" : call.outcome || "handled");
let historyTimer = null;

async function loadHistory() {
  const params = new URLSearchParams({ status: "closed" });
  for (const [id, name] of [["h-district", "district"], ["h-kind", "kind"], ["h-outcome", "outcome"]]) {
    const value = document.getElementById(id).value;
    if (value) params.set(name, value);
  }
  let calls;
  try { calls = (await api("GET", `/api/calls?${params}`, null, token)).calls.filter(inCommunity); } catch (e) { return; }
  document.getElementById("history-rows").replaceChildren(...calls.map((call) => {
    const how = howClosed(call);
    return el("tr", { "data-closed": call.call_id, "data-outcome": how },
      td(t("desk_closed_at"), {}, call.closed_at ? new Date(call.closed_at).toLocaleString(T.lang) : ""),
      td(t("desk_col_call"), {}, buildingName(call)),
      td(t("desk_col_caller"), {}, call.caller?.name || ""),
      td(t("kind"), {}, t(`kind_${call.kind}`)),
      td(t("level"), {}, t(`level_${call.level}`)),
      td(t("desk_outcome"), {}, t(`desk_outcome_${how}`)),
      td(t("timeline"), {}, el("a", { href: `/calls/${call.call_id}`, "data-timeline": call.call_id }, t("desk_timeline_link"))));
  }));
  document.getElementById("no-history").classList.toggle("hidden", calls.length > 0);
}

function historySoon() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 300);
}

// ---------------------------------------------------------------- people and duty
async function refreshDesk() {
  // One community's board: its people and the county's shared ones (community_id null).
  const fresh = (await api("GET", "/api/responders", null, token)).filter((p) => inCommunity(p) || !p.community_id);
  const key = JSON.stringify(fresh);
  if (key !== peopleKey) {  // the lists follow who is available (re-rendered only on a change)
    people = fresh;
    peopleKey = key;
    render();
  }
  const counts = {};
  for (const p of people) {
    const k = p.district_id || p.level || "teams";
    counts[k] = counts[k] || { available: 0, busy: 0, away: 0 };
    counts[k][p.status] += 1;
  }
  document.getElementById("counts").replaceChildren(...Object.entries(counts).map(([k, c]) =>
    el("span", { class: "badge", "data-counts": k }, `${countsName(k)}: ${t("available")} ${c.available} · ${t("busy")} ${c.busy} · ${t("away")} ${c.away}`), " "));
  const duty = await api("GET", `/api/duty?${ofCommunity}`);
  document.getElementById("onduty").textContent = duty.on_duty ? `${duty.on_duty.name} ${duty.on_duty.phone}` : "-";
  document.getElementById("handover").textContent = duty.handover_at ? new Date(duty.handover_at).toLocaleString(T.lang) : "-";
}

function fillPickers(all) {
  const list = all.filter(inCommunity);
  if (COMMUNITY && list.length) {
    const name = document.getElementById("community-name");
    name.textContent = list[0].community_name;
    name.classList.remove("hidden");
  }
  buildings = new Map(list.map((b) => [b.id, b]));
  districts = new Map(list.map((b) => [b.district_id, b.district_name]));
  for (const id of ["district", "h-district"]) {
    document.getElementById(id).append(...[...districts].map(([value, name]) => el("option", { value }, name)));
  }
  document.getElementById("pi-building").replaceChildren(el("option", { value: "" }, t("choose_building")),
    ...list.map((b) => el("option", { value: b.id }, `${b.district_name} · ${b.name}`)));
  document.getElementById("pi-kind").replaceChildren(...KINDS.map((k) => el("option", { value: k }, t(`kind_${k}`))));
  document.getElementById("h-kind").append(...KINDS.map((k) => el("option", { value: k }, t(`kind_${k}`))));
  document.getElementById("h-outcome").append(...OUTCOMES.map((o) => el("option", { value: o }, t(`desk_outcome_${o}`))));
}

function onUpdate(event, call) {
  if (call.status === "open") open.set(call.call_id, call); else { open.delete(call.call_id); historySoon(); }
  if (event === "CallRaised") beep("new_call");
  else if (event === "EscalationRaised") beep("escalation");
  else if (event === "DeadlineMissed") beep("missed");
  render();
}

async function start(value) {
  try { await api("GET", `/api/board?${ofCommunity}`, null, value); } catch (e) { localStorage.removeItem(TOKEN_KEY); alert(e.message); return; }
  token = value;
  localStorage.setItem(TOKEN_KEY, token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("board").classList.remove("hidden");
  fillPickers(await api("GET", "/api/buildings"));
  // The people first: the assign lists of the first calls shown are never empty.
  await refreshDesk();
  const source = new EventSource(`/api/board/stream?access_token=${encodeURIComponent(token)}&${ofCommunity}`);
  source.addEventListener("snapshot", (e) => { open.clear(); for (const c of JSON.parse(e.data).calls) open.set(c.call_id, c); render(); });
  source.addEventListener("update", (e) => { const data = JSON.parse(e.data); onUpdate(data.event, data.call); });
  loadHistory();
  setInterval(refreshDesk, 2000);
}

document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); start(document.getElementById("token").value); });
document.getElementById("district").addEventListener("change", render);
document.getElementById("history-filter").addEventListener("change", loadHistory);
document.getElementById("phonein-form").addEventListener("submit", raisePhonedIn);
document.getElementById("phonein-open").addEventListener("click", () => document.getElementById("phonein").showModal());
document.getElementById("phonein-close").addEventListener("click", () => document.getElementById("phonein").close());
document.getElementById("mute").addEventListener("click", toggleMute);
loadTexts().then(() => { paintMute(); const saved = localStorage.getItem(TOKEN_KEY); if (saved) start(saved); });
