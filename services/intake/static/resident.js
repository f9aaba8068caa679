// Resident: one big button, then who is coming and live countdowns until the call closes.
// The call id stays in the URL (?call=...), so a reload shows the same call. Name, phone and
// building are remembered on the device: the next time, one tap raises the call.
const params = new URLSearchParams(location.search);
let current = null;

async function showDuty() {
  try {
    const desk = await api("GET", "/api/duty");
    if (desk.on_duty) { const a = document.getElementById("duty"); a.textContent = `${desk.on_duty.name} ${desk.on_duty.phone}`; a.href = `tel:${desk.on_duty.phone}`; }
  } catch (e) { /* the button matters more than the duty number */ }
}

async function fillBuildings() {
  const select = document.getElementById("building");
  for (const b of await api("GET", "/api/buildings")) select.append(el("option", { value: b.id }, `${b.district_name} · ${b.name}`));
  if (params.get("b")) select.value = params.get("b");
}

const ME_KEY = "dispatch1310.resident";  // name, phone and building, remembered on this device
const CLOSED = new Set(["resolved", "cancelled"]);
const ENGAGED = new Set(["accepted", "enroute", "arrived"]);
const EMERGENCY_KINDS = ["fire", "medical"];  // kinds with a public emergency number (the catalogue's)
const shown = {};  // what each part of the page shows now: only a change is redrawn (and announced)

const fmt = (key, vars) => t(key).replace(/\{(\w+)\}/g, (_, name) => vars[name] ?? "");

function remembered() {
  try { return JSON.parse(localStorage.getItem(ME_KEY) || "{}") || {}; } catch (e) { return {}; }
}

function remember(me) {
  try { localStorage.setItem(ME_KEY, JSON.stringify(me)); } catch (e) { /* private mode: nothing kept */ }
}

function fillRemembered() {
  const me = remembered();
  for (const field of ["name", "phone"]) {
    const input = document.getElementById(field);
    if (me[field] && !input.value) input.value = me[field];
  }
}

// Redraw a part only when what it says changed: a screen reader hears a change once, and a
// link the resident is about to tap is not replaced under their finger.
function update(part, key, draw) {
  if (shown[part] === key) return;
  shown[part] = key;
  draw();
}

function situation(call) {
  const who = call.handling;
  if (call.status === "cancelled") return t("resident_closed_cancelled");
  if (call.status === "resolved") {
    const outcome = call.outcome || "handled";
    return t(call.merged_into && outcome === "handled" ? "resident_closed_merged" : `resident_closed_${outcome}`);
  }
  if (call.held) return t("resident_held");
  if (!who) return t("waiting_contact");
  return fmt(`resident_${who.status}`, { name: who.name });
}

function telLink(person, cls = "tel") {
  return el("a", { class: cls, href: `tel:${person.phone}` }, `${t("call")} ${person.phone}`);
}

function drawContact(call) {
  const who = call.handling;
  const contact = document.getElementById("contact");
  if (who) contact.replaceChildren(el("div", { id: "contact-name" }, who.name), telLink(who));
  else if (CLOSED.has(call.status)) contact.replaceChildren("—");
  else {
    const duty = document.getElementById("duty");  // nobody yet: the desk is a phone call away
    contact.replaceChildren(el("div", { class: "muted" }, t("resident_no_one_yet")),
      duty.textContent ? el("a", { class: "tel", href: duty.href }, duty.textContent) : "");
  }
  const others = (call.assignees || []).filter((a) => ENGAGED.has(a.status) && (!who || a.id !== who.id));
  document.getElementById("also-coming").replaceChildren(...(others.length
    ? [`${t("resident_also_coming")}: `, ...others.flatMap((a, i) => [i ? ", " : "", `${a.name} `, el("a", { href: `tel:${a.phone}` }, a.phone)])]
    : []));
}

// After the close, the stages show what they were then: met, missed, or stopped (never a
// countdown still running, never a stage turning red after the call ended).
function stageRowsAt(call) {
  if (!CLOSED.has(call.status)) return stageRows(call, Date.now());
  const closedAt = Date.parse(call.closed_at || "") || Date.now();
  return stageRows(call, closedAt).map((row) => {
    row.removeAttribute("data-info");  // not ticked any more
    if (row.dataset.state === "running") {
      row.dataset.state = "stopped";
      row.classList.add("stopped");
      row.querySelector(".countdown").textContent = t("resident_stage_stopped");
    }
    return row;
  });
}

function reachOverdue(call, now) {
  const reach = call.stages.reach;
  return !reach.met_at && (reach.missed || now > Date.parse(reach.due_at));
}

function drawEmergency(call) {
  const kinds = call.kinds || [call.kind];
  const numbers = call.status === "open" && reachOverdue(call, Date.now()) ? EMERGENCY_KINDS.filter((k) => kinds.includes(k)) : [];
  update("emergency", numbers.join(","), () => {
    document.getElementById("emergency-numbers").replaceChildren(...numbers.map((kind) =>
      el("a", { class: "tel", href: `tel:${t(`resident_number_${kind}`)}`, "data-kind": kind },
        `${t(`resident_number_${kind}_label`)} ${t(`resident_number_${kind}`)}`)));
    document.getElementById("emergency").classList.toggle("hidden", !numbers.length);
  });
}

function newCallHref(call) {
  const building = call.building_id || params.get("b");
  return building ? `/?b=${encodeURIComponent(building)}` : "/";
}

function render(call) {
  current = call;
  document.getElementById("raise").classList.add("hidden");
  const section = document.getElementById("status");
  section.classList.remove("hidden");
  section.dataset.status = call.status;
  update("situation", situation(call), () => { document.getElementById("situation").textContent = shown.situation; });
  const who = call.handling;
  const others = (call.assignees || []).filter((a) => ENGAGED.has(a.status)).map((a) => `${a.id}:${a.status}`);
  const duty = document.getElementById("duty").textContent;
  update("contact", JSON.stringify([call.status, who, others, duty]), () => drawContact(call));
  update("merged", String(Boolean(call.merged_into) && call.status === "open"), () =>
    document.getElementById("merged-note").classList.toggle("hidden", shown.merged !== "true"));
  document.getElementById("level").textContent = t(`level_${call.level}`);
  const stages = Object.values(call.stages).map((s) => [s.due_at, s.met_at, s.missed]);
  update("stages", JSON.stringify([call.status, call.closed_at, stages]), () =>
    document.getElementById("stages").replaceChildren(...stageRowsAt(call)));
  drawEmergency(call);
  document.getElementById("cancel").classList.toggle("hidden", call.status !== "open");
  document.getElementById("new-call").href = newCallHref(call);
}

// Follows the call until it closes: a closed call no longer changes.
async function follow(callId) {
  for (;;) {
    try {
      const call = await api("GET", `/api/calls/${callId}`);
      render(call);
      if (CLOSED.has(call.status)) return;
    } catch (e) {
      if (e.status === 404) { history.replaceState(null, "", newCallHref({})); return; }  // no such call: the form again
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// One key per help request, kept across retries: a retried tap never raises a second call.
let pendingKey = null;
let pendingBody = null;  // the body pendingKey was made for: a key names one raise
const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The network or the store may be away for a while (a reconnect, a leader election): the page
// keeps sending the same request, same key, for at least RETRY_FOR_MS, waiting a little longer
// each time, and says so; only then does it show the failure and the duty officer's number.
const RETRY_FOR_MS = 30000;
const backoff = (attempt) => Math.min(1000 * 2 ** (attempt - 1), 8000);

function showRetrying(attempt, state) {
  const box = document.getElementById("raise-retrying");
  box.dataset.state = state;  // "sending" while a try is out, "waiting" between tries
  box.dataset.attempt = String(attempt);
  if (attempt > 1) { box.textContent = t("raise_retrying").replace("{n}", String(attempt)); box.classList.remove("hidden"); }
}

function hideRetrying() {
  const box = document.getElementById("raise-retrying");
  box.classList.add("hidden");
  box.dataset.state = "done";
}

async function raiseWithRetry(body) {
  const started = Date.now();
  try {
    for (let attempt = 1; ; attempt++) {
      showRetrying(attempt, "sending");
      try { return await api("POST", "/api/calls", body, null, { "Idempotency-Key": pendingKey }); }
      catch (e) {
        const transient = e.status === undefined || e.status === 503;
        if (!transient || Date.now() - started >= RETRY_FOR_MS) throw e;
        showRetrying(attempt + 1, "waiting");
        await sleep(backoff(attempt));
      }
    }
  } finally {
    hideRetrying();
  }
}

// A refused input names its field in the resident's language (the server's words are English).
const FIELDS = { "caller.name": "name", "caller.phone": "phone", building_id: "building", kind: "kind", note: "note" };

function fieldAtFault(error) {
  const detail = error.detail;
  const paths = Array.isArray(detail) ? detail.map((d) => (d.loc || []).slice(1).join("."))
    : typeof detail === "string" ? [detail.split(":")[0].trim()] : [];
  return paths.map((path) => FIELDS[path]).find(Boolean) || null;
}

function showRaiseError(error) {
  const box = document.getElementById("raise-error");
  const duty = document.getElementById("duty");
  document.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  const field = error.status === 422 ? fieldAtFault(error) : null;
  const known = T[`raise_error_${error.status}`];  // the catalogue's words where it has them
  const reason = field ? fmt("resident_check_field", { field: t(field) }) : known || error.message || "";
  box.replaceChildren(el("strong", {}, t("raise_failed")), " ", reason,
    duty.textContent ? el("div", {}, `${t("raise_failed_call")} `, el("a", { class: "tel", href: duty.href }, duty.textContent)) : "");
  box.classList.remove("hidden");
  const input = field && document.getElementById(field);
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

document.getElementById("raise").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value;
  const phone = document.getElementById("phone").value;
  remember({ name, phone, building: document.getElementById("building").value });
  const body = {
    caller: { name, phone },
    building_id: document.getElementById("building").value || null,
    kind: document.querySelector("input[name=kind]:checked").value,
    note: document.getElementById("note").value,
  };
  const button = document.getElementById("help");
  document.getElementById("raise-error").classList.add("hidden");
  const sent = JSON.stringify(body);
  if (pendingBody !== sent) pendingKey = null;  // changed before pressing again: another raise, another key
  pendingKey = pendingKey || newKey();
  pendingBody = sent;
  button.disabled = true;
  try {
    const call = await raiseWithRetry(body);
    pendingKey = null;
    localStorage.setItem(`dispatch1310.secret.${call.call_id}`, call.secret);
    history.replaceState(null, "", `/?call=${call.call_id}`);
    render(call);
    follow(call.call_id);
  } catch (e) {
    showRaiseError(e);
  } finally {
    button.disabled = false;
  }
});

document.getElementById("cancel").addEventListener("click", async () => {
  if (!current || !confirm(t("resident_confirm_cancel"))) return;
  const secret = localStorage.getItem(`dispatch1310.secret.${current.call_id}`);
  try { render(await api("POST", `/api/calls/${current.call_id}/cancel`, { secret })); }
  catch (e) { render(await api("GET", `/api/calls/${current.call_id}`)); }  // closed meanwhile: show how
});

// Without an emoji font an icon is an empty box: then the kinds show their names alone.
function emojiDrawable() {
  try {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 24;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const pixels = (text) => { ctx.clearRect(0, 0, 24, 24); ctx.font = "20px sans-serif"; ctx.textBaseline = "top"; ctx.fillText(text, 0, 0); return ctx.getImageData(0, 0, 24, 24).data; };
    const emoji = pixels("\u{1F691}");
    for (let i = 0; i < emoji.length; i += 4) if (emoji[i + 3] && (emoji[i] !== emoji[i + 1] || emoji[i + 1] !== emoji[i + 2])) return true;  // in colour
    const missing = pixels("\u{E000}");  // a private-use character: no font draws it
    return emoji.some((v, i) => v !== missing[i]);
  } catch (e) { return false; }
}
if (!emojiDrawable()) document.documentElement.classList.add("no-emoji");

fillRemembered();
loadTexts().then(async () => {
  showDuty();
  if (params.get("call")) follow(params.get("call"));
  await fillBuildings();
  const select = document.getElementById("building");
  const me = remembered();
  if (!params.get("b") && me.building && [...select.options].some((o) => o.value === me.building)) select.value = me.building;
});
