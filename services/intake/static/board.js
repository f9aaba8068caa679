// Supervisor board: open calls live over SSE, stage countdowns, escalations highlighted,
// district filter, per-district availability counts; the desk's actions on a call (assign a
// named person, escalate now, add a note, resolve or close as a false alarm) and a call raised
// for a resident who phoned in.
const TOKEN_KEY = "dispatch1310.supervisor";
let token = null;
let people = [];
const open = new Map();

function cell(call, stage, now) {
  const info = call.stages[stage];
  const node = el("td", { class: "stage", "data-stage": stage, "data-info": JSON.stringify(info) });
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

function render() {
  const district = document.getElementById("district").value;
  const now = Date.now();
  const rows = [...open.values()].filter((c) => c.status === "open" && (!district || c.district_id === district));
  document.getElementById("rows").replaceChildren(...rows.map((call) => {
    // The people of the call's district, and those of the level now handling it.
    const candidates = people.filter((p) => (call.district_id && p.district_id === call.district_id) || (!p.district_id && p.level === call.level));
    const select = el("select", { "aria-label": t("assign") }, ...candidates.map((p) => el("option", { value: p.id }, `${p.name} (${t(p.status)})`)));
    const rowClass = call.held ? "held" : call.unreached ? "unreached" : call.level !== "building" ? "escalated" : "";
    return el("tr", { class: rowClass, "data-call": call.call_id },
      el("td", {}, el("a", { href: `/calls/${call.call_id}` }, call.call_id.slice(0, 8)),
        call.held ? el("span", { class: "badge held", title: t("held_hint") }, "⏸ ", t("held")) : ""),
      el("td", {}, t(`kind_${call.kind}`), " ", el("span", { class: "badge", "data-source": call.source }, t(`source_${call.source}`)), call.drill ? el("span", { class: "badge drill" }, t("drill")) : ""),
      el("td", {}, t(`level_${call.level}`), call.level !== "building" ? el("span", { class: "badge" }, t("escalated")) : ""),
      el("td", { class: "reach" },
        call.unreached ? el("span", { class: "badge unreached", "data-unreached": "", title: t("unreached_hint") }, "⚠ ", t("unreached")) : "",
        call.assignees.map((a) => el("div", { class: "assignee", "data-assignee": a.id },
          `${a.name} (${t(`dispatch_${a.status}`)})`, " ", ...reachBadges(call, a)))),
      cell(call, "contact", now), cell(call, "reach", now), cell(call, "onsite", now),
      el("td", {}, select, el("button", { type: "button", "data-assign": call.call_id, onclick: () => assign(call.call_id, select.value) }, t("assign"))),
      el("td", { class: "actions" },
        // A held call (a flood from one address): one tap dispatches it, or closes it as a false alarm.
        call.held ? el("button", { type: "button", "data-action": "release", onclick: () => act(call.call_id, "release", {}) }, t("release")) : "",
        el("button", { type: "button", "data-action": "escalate", onclick: () => escalate(call.call_id, call.level) }, t("escalate")),
        el("button", { type: "button", "data-action": "note", onclick: () => addNote(call.call_id) }, t("add_note")),
        el("button", { type: "button", "data-action": "handled", onclick: () => resolve(call.call_id, "handled") }, t("resolve_handled")),
        el("button", { type: "button", "data-action": "false_alarm", onclick: () => resolve(call.call_id, "false_alarm") }, t("false_alarm"))));
  }));
}

async function act(callId, path, body) {
  try {
    const view = await api("POST", `/api/calls/${callId}/${path}`, body, token);
    if (view.status === "open") open.set(callId, view); else open.delete(callId);
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
    open.set(view.call_id, view);
    event.target.reset();
    render();
  } catch (e) { alert(`${t("error")}: ${e.message}`); }
}

async function refreshDesk() {
  people = await api("GET", "/api/responders", null, token);
  const counts = {};
  for (const p of people) {
    const key = p.district_id || p.level || "teams";
    counts[key] = counts[key] || { available: 0, busy: 0, away: 0 };
    counts[key][p.status] += 1;
  }
  document.getElementById("counts").replaceChildren(...Object.entries(counts).map(([k, c]) =>
    el("span", { class: "badge", "data-counts": k }, `${k}: ${t("available")} ${c.available} · ${t("busy")} ${c.busy} · ${t("away")} ${c.away}`), " "));
  const duty = await api("GET", "/api/duty");
  document.getElementById("onduty").textContent = duty.on_duty ? `${duty.on_duty.name} ${duty.on_duty.phone}` : "-";
  document.getElementById("handover").textContent = duty.handover_at ? new Date(duty.handover_at).toLocaleString() : "-";
}

async function start(value) {
  try { await api("GET", "/api/board", null, value); } catch (e) { localStorage.removeItem(TOKEN_KEY); alert(e.message); return; }
  token = value;
  localStorage.setItem(TOKEN_KEY, token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("board").classList.remove("hidden");
  const districts = await api("GET", "/api/buildings");
  const seen = new Set();
  for (const b of districts) if (!seen.has(b.district_id)) { seen.add(b.district_id); document.getElementById("district").append(el("option", { value: b.district_id }, b.district_name)); }
  document.getElementById("pi-building").replaceChildren(el("option", { value: "" }, t("choose_building")),
    ...districts.map((b) => el("option", { value: b.id }, `${b.district_name} · ${b.name}`)));
  document.getElementById("pi-kind").replaceChildren(...KINDS.map((k) => el("option", { value: k }, t(`kind_${k}`))));
  const source = new EventSource(`/api/board/stream?access_token=${encodeURIComponent(token)}`);
  source.addEventListener("snapshot", (e) => { open.clear(); for (const c of JSON.parse(e.data).calls) open.set(c.call_id, c); render(); });
  source.addEventListener("update", (e) => {
    const call = JSON.parse(e.data).call;
    if (call.status === "open") open.set(call.call_id, call); else open.delete(call.call_id);
    render();
  });
  await refreshDesk();
  setInterval(refreshDesk, 2000);
}

document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); start(document.getElementById("token").value); });
document.getElementById("district").addEventListener("change", render);
document.getElementById("phonein-form").addEventListener("submit", raisePhonedIn);
loadTexts().then(() => { const saved = localStorage.getItem(TOKEN_KEY); if (saved) start(saved); });
