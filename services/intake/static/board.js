// Supervisor board: open calls live over SSE, stage countdowns, escalations highlighted,
// district filter, per-district availability counts, assign a named person.
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

function render() {
  const district = document.getElementById("district").value;
  const now = Date.now();
  const rows = [...open.values()].filter((c) => c.status === "open" && (!district || c.district_id === district));
  document.getElementById("rows").replaceChildren(...rows.map((call) => {
    const candidates = people.filter((p) => !call.district_id || p.district_id === call.district_id || p.level !== "building");
    const select = el("select", { "aria-label": t("assign") }, ...candidates.map((p) => el("option", { value: p.id }, `${p.name} (${t(p.status)})`)));
    return el("tr", { class: call.level !== "building" ? "escalated" : "", "data-call": call.call_id },
      el("td", {}, el("a", { href: `/calls/${call.call_id}` }, call.call_id.slice(0, 8))),
      el("td", {}, t(`kind_${call.kind}`), " ", el("span", { class: "badge" }, call.source), call.drill ? el("span", { class: "badge drill" }, t("drill")) : ""),
      el("td", {}, t(`level_${call.level}`), call.level !== "building" ? el("span", { class: "badge" }, t("escalated")) : ""),
      el("td", {}, call.assignees.map((a) => `${a.name} (${a.status})`).join(", ")),
      cell(call, "contact", now), cell(call, "reach", now), cell(call, "onsite", now),
      el("td", {}, select, el("button", { type: "button", "data-assign": call.call_id, onclick: () => assign(call.call_id, select.value) }, t("assign"))));
  }));
}

async function assign(callId, personId) {
  try { open.set(callId, await api("POST", `/api/calls/${callId}/assign`, { responder_id: personId }, token)); render(); }
  catch (e) { alert(`${t("error")}: ${e.message}`); }
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
loadTexts().then(() => { const saved = localStorage.getItem(TOKEN_KEY); if (saved) start(saved); });
