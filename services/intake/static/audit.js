// Timeline audit of one call, for a reader: step 1..n, local time, elapsed since the raise, the
// event in the reader's language, who acted (by name; the desk person who recorded an act for a
// responder beside them) and the essentials of each event. Fits one A4 page when printed.
const TOKEN_KEY = "dispatch1310.supervisor";
const callId = location.pathname.split("/").pop();
let buildings = new Map();

const clock = (iso) => new Date(iso).toLocaleTimeString(T.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTime = (iso) => new Date(iso).toLocaleString(T.lang);
const level = (l) => t(`level_${l}`);
const stage = (s) => t(`audit_stage_${s}`);
const known = (prefix, value) => (T[`${prefix}${value}`] !== undefined ? t(`${prefix}${value}`) : value);

function elapsed(seconds) {
  const s = Math.round(seconds);
  return `+${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function zone() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${tz} (UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")})`;
}

const dueTimes = (due) => `${t("audit_due")}: ${["contact", "reach", "onsite"].map((s) => `${stage(s)} ${clock(due[s])}`).join(" · ")}`;
const noted = (d) => (d.note ? `${t("audit_note")}: ${d.note}` : "");
const building = (d) => buildings.get(d.building_id)?.name || d.address || "";

// The essentials of each event, in words; ids and internal fields stay out.
const DETAILS = {
  CallRaised: (d) => [`${t(`kind_${d.kind}`)} · ${building(d)}`, `${t("level")}: ${level(d.level)}`, `${t("source")}: ${t(`source_${d.source}`)}`,
    d.drill ? t("drill") : "", d.note ? `${t("audit_note")}: ${d.note}` : "", dueTimes(d.due)],
  ResponderAssigned: (d) => [`${d.name} · ${level(d.level)}`, noted(d)],
  ContactShared: (d) => [`${d.name} ${d.phone || ""}`],
  DispatchAccepted: (d) => [`${t("audit_channel")}: ${known("audit_channel_", d.channel)}`, noted(d)],
  DispatchDeclined: (d) => [`${t("audit_channel")}: ${known("audit_channel_", d.channel)}`, noted(d)],
  ResponderEnRoute: (d) => [noted(d)],
  ResponderArrived: (d) => [noted(d)],
  CallResolved: (d) => [known("desk_outcome_", d.outcome), noted(d)],
  CallCancelled: (d) => [noted(d)],
  CallMerged: (d) => [el("a", { href: `/calls/${d.into_call_id}` }, t("audit_merged_into"))],
  DeadlineMissed: (d) => [`${stage(d.stage)} · ${t("audit_due")} ${clock(d.due_at)} · ${t("audit_late_by")} ${(d.late_by_ms / 1000).toFixed(1)} s`],
  EscalationRaised: (d) => [`${level(d.from_level)} → ${level(d.to_level)}`, known("audit_reason_", d.reason), d.stage ? stage(d.stage) : "", noted(d)],
  NoteAdded: (d) => [d.text],
  DeviceAlertReceived: (d) => [d.alert_kind, d.battery != null ? `${t("audit_battery")} ${Math.round(d.battery * 100)}%` : ""],
  CallJoined: (d) => [`${t(`kind_${d.kind}`)} · ${d.caller?.name || ""}`, el("a", { href: `/calls/${d.joined_call_id}` }, t("audit_joined_call"))],
  CallUnmerged: (d) => [known("audit_reason_", d.reason), d.due ? dueTimes(d.due) : ""],
  CallHeld: (d) => [known("audit_reason_", d.reason)],
  CallReleased: (d) => [dueTimes(d.due), noted(d)],
  NotificationSent: (d) => [`${known("method_", d.method)} ✓`, d.attempt > 1 ? `${t("audit_attempt")} ${d.attempt}` : ""],
  NotificationFailed: (d) => [`${known("method_", d.method)} ✗ ${d.error || ""}`, d.attempt > 1 ? `${t("audit_attempt")} ${d.attempt}` : ""],
};

// Sent by the system to the person named in the event, not done by them.
const SENT_TO = new Set(["NotificationSent", "NotificationFailed"]);

function details(e) {
  const describe = DETAILS[e.type];
  const parts = describe ? describe(e.data) : Object.entries(e.data)
    .filter(([k, v]) => !k.endsWith("_id") && v !== null && v !== "" && typeof v !== "object").map(([k, v]) => `${k}: ${v}`);
  if (SENT_TO.has(e.type)) parts.unshift(`→ ${e.actor_name || e.actor}`);
  return parts.filter((p) => p !== "" && p != null).flatMap((p, i) => (i ? [" · ", p] : [p]));
}

function actor(e, caller) {
  let who = SENT_TO.has(e.type) ? "" : e.actor_name || e.actor;
  if (!who) who = e.type === "CallRaised" ? `${caller} (${t("audit_actor_caller")})` : t("audit_actor_system");
  if (!e.recorded_by) return who;
  return [`${who} `, el("span", { class: "recorded-by", "data-recorded-by": e.recorded_by },
    t("recorded_by").replace("{who}", e.recorded_by_name || e.recorded_by))];
}

function summary(raised) {
  const d = raised.data;
  document.getElementById("summary-title").textContent = `${t(`kind_${d.kind}`)} · ${building(d) || "-"} · ${dateTime(raised.at)}`;
  document.getElementById("summary-caller").textContent = `${t("audit_caller")}: ${d.caller.name} ${d.caller.phone}`;
  document.getElementById("summary-zone").textContent = `${t("audit_times_in")} ${zone()}`;
  document.getElementById("summary").classList.remove("hidden");
}

async function show(token) {
  let timeline;
  try { timeline = await api("GET", `/api/calls/${callId}/timeline`, null, token); }
  catch (e) { localStorage.removeItem(TOKEN_KEY); alert(e.message); return; }
  localStorage.setItem(TOKEN_KEY, token);
  try { buildings = new Map((await api("GET", "/api/buildings")).map((b) => [b.id, b])); } catch (e) { /* names fall back to the address */ }
  document.getElementById("login").classList.add("hidden");
  document.getElementById("timeline").classList.remove("hidden");
  const raised = timeline.events.find((e) => e.type === "CallRaised");
  if (raised) summary(raised);
  const caller = raised ? raised.data.caller.name : "";
  document.getElementById("events").replaceChildren(...timeline.events.map((e) =>
    el("tr", { "data-type": e.type, "data-step": e.step },
      el("td", { "data-label": t("audit_step") }, e.step),
      el("td", { "data-label": t("time") }, el("time", { datetime: e.at, title: dateTime(e.at) }, clock(e.at))),
      el("td", { "data-label": t("audit_elapsed") }, elapsed(e.elapsed_s)),
      el("td", { "data-label": t("event"), class: "event" }, known("audit_event_", e.type)),
      el("td", { "data-label": t("actor") }, actor(e, caller)),
      el("td", { "data-label": t("details") }, details(e)))));
}

document.getElementById("callid").textContent = `#${callId.slice(0, 8)}`;
document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); show(document.getElementById("token").value); });
loadTexts().then(() => { const saved = localStorage.getItem(TOKEN_KEY); if (saved) show(saved); });
