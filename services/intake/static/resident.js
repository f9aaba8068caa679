// Resident: one big button, then the contact and live countdowns. The call id stays in the
// URL (?call=...), so a reload shows the same call.
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

function render(call) {
  current = call;
  document.getElementById("raise").classList.add("hidden");
  document.getElementById("status").classList.remove("hidden");
  const contact = document.getElementById("contact");
  contact.replaceChildren();
  if (call.contact) {
    contact.append(el("div", { id: "contact-name" }, call.contact.name),
      el("a", { class: "tel", href: `tel:${call.contact.phone}` }, `${t("call")} ${call.contact.phone}`));
  } else contact.append(t("waiting_contact"));
  document.getElementById("level").textContent = t(`level_${call.level}`);
  document.getElementById("callstatus").textContent = t(`status_${call.status}`);
  document.getElementById("stages").replaceChildren(...stageRows(call, Date.now()));
  document.getElementById("cancel").classList.toggle("hidden", call.status !== "open");
}

async function follow(callId) {
  for (;;) {
    try { render(await api("GET", `/api/calls/${callId}`)); } catch (e) { /* keep trying */ }
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

function showRaiseError(error) {
  const box = document.getElementById("raise-error");
  const duty = document.getElementById("duty");
  const known = T[`raise_error_${error.status}`];  // the catalogue's words where it has them
  box.replaceChildren(el("strong", {}, t("raise_failed")), " ", known || error.message || "",
    duty.textContent ? el("div", {}, `${t("raise_failed_call")} `, el("a", { class: "tel", href: duty.href }, duty.textContent)) : "");
  box.classList.remove("hidden");
}

document.getElementById("raise").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    caller: { name: document.getElementById("name").value, phone: document.getElementById("phone").value },
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
  if (!current) return;
  const secret = localStorage.getItem(`dispatch1310.secret.${current.call_id}`);
  render(await api("POST", `/api/calls/${current.call_id}/cancel`, { secret }));
});

loadTexts().then(() => {
  showDuty();
  fillBuildings();
  if (params.get("call")) follow(params.get("call"));
});
