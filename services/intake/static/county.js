// County board: every community the signed-in supervisor oversees (a county supervisor: all),
// its open calls counted (open, nobody reached, escalated), and the open calls with the ones
// nobody is being reached on at the top, then the oldest. Live: each board change re-reads it.
// Each community's name opens its own board (/board?community=<id>).
const TOKEN_KEY = "dispatch1310.supervisor";
let token = null;
let communities = [];  // [{id, name}], the county's desk last
let buildings = new Map();  // id -> name
let calls = [];
let pending = null;

const escalated = (call) => Boolean(call.raised_level) && call.level !== call.raised_level;
const communityName = (id) => communities.find((c) => c.id === id)?.name || id || "";

function age(since, now) {
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function ordered(rows) {
  return [...rows].sort((a, b) => (b.unreached - a.unreached) || (Date.parse(a.raised_at) - Date.parse(b.raised_at)));
}

function render() {
  const now = Date.now();
  const body = document.getElementById("community-rows");
  body.replaceChildren(...communities.map((c) => {
    const mine = calls.filter((call) => call.community_id === c.id);
    const unreached = mine.filter((call) => call.unreached).length;
    return el("tr", { "data-community": c.id, class: unreached ? "unreached" : "" },
      el("td", { "data-label": t("county_community") }, el("a", { href: `/board?community=${encodeURIComponent(c.id)}` }, c.name)),
      el("td", { "data-label": t("county_open"), "data-count": "open" }, mine.length),
      el("td", { "data-label": t("county_unreached"), "data-count": "unreached" }, unreached),
      el("td", { "data-label": t("county_escalated"), "data-count": "escalated" }, mine.filter(escalated).length));
  }));
  const rows = ordered(calls).map((call) => {
    const marks = [];
    if (call.unreached) marks.push(el("span", { class: "badge unreached" }, t("unreached")));
    if (escalated(call)) marks.push(el("span", { class: "badge escalated" }, t("county_escalated")));
    return el("tr", { "data-call": call.call_id, class: call.unreached ? "unreached" : escalated(call) ? "escalated" : "" },
      el("td", { "data-label": t("county_community") }, communityName(call.community_id)),
      el("td", { "data-label": t("desk_col_call") }, buildings.get(call.building_id) || call.address || call.building_id || ""),
      el("td", { "data-label": t("kind") }, t(`kind_${call.kind}`)),
      el("td", { "data-label": t("level") }, t(`level_${call.level}`)),
      el("td", { "data-label": t("desk_col_age") }, age(call.raised_at, now)),
      el("td", { "data-label": t("county_state") }, ...marks));
  });
  document.getElementById("rows").replaceChildren(...rows);
  document.getElementById("no-calls").classList.toggle("hidden", rows.length > 0);
}

async function refresh() {
  pending = null;
  calls = (await api("GET", "/api/board", null, token)).calls;
  render();
}

function soon() { if (!pending) pending = setTimeout(refresh, 200); }

async function start(value) {
  try { await api("GET", "/api/board", null, value); } catch (e) { localStorage.removeItem(TOKEN_KEY); alert(e.message); return; }
  token = value;
  localStorage.setItem(TOKEN_KEY, token);
  document.getElementById("login").classList.add("hidden");
  document.getElementById("county").classList.remove("hidden");
  communities = await api("GET", "/api/communities", null, token);
  buildings = new Map((await api("GET", "/api/buildings")).map((b) => [b.id, b.name]));
  await refresh();
  const source = new EventSource(`/api/board/stream?access_token=${encodeURIComponent(token)}`);
  source.addEventListener("update", soon);
  source.addEventListener("snapshot", soon);
  setInterval(render, 1000);
}

document.getElementById("login").addEventListener("submit", (e) => { e.preventDefault(); start(document.getElementById("token").value); });
loadTexts().then(() => { const saved = localStorage.getItem(TOKEN_KEY); if (saved) start(saved); });
