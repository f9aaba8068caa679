// Timeline audit of one call: every stored event, time, elapsed from the raise, actor. Printable.
// An act the desk recorded for a responder shows who recorded it beside the responder.
const TOKEN_KEY = "dispatch1310.supervisor";
const callId = location.pathname.split("/").pop();

function details(data) {
  return Object.entries(data).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join("  ");
}

function actor(e) {
  if (!e.recorded_by) return e.actor || "";
  return [`${e.actor || ""} `, el("span", { class: "recorded-by", "data-recorded-by": e.recorded_by },
    t("recorded_by").replace("{who}", e.recorded_by))];
}

async function show(token) {
  let timeline;
  try { timeline = await api("GET", `/api/calls/${callId}/timeline`, null, token); }
  catch (e) { localStorage.removeItem(TOKEN_KEY); alert(e.message); return; }
  localStorage.setItem(TOKEN_KEY, token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("timeline").classList.remove("hidden");
  document.getElementById("events").replaceChildren(...timeline.events.map((e) =>
    el("tr", { "data-type": e.type }, el("td", {}, e.seq), el("td", {}, new Date(e.at).toLocaleString()),
      el("td", {}, e.elapsed_s.toFixed(1)), el("td", {}, e.type), el("td", {}, actor(e)), el("td", {}, details(e.data)))));
}

document.getElementById("callid").textContent = callId;
document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); show(document.getElementById("token").value); });
loadTexts().then(() => { const saved = localStorage.getItem(TOKEN_KEY); if (saved) show(saved); });
