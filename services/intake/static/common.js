// Shared by every page: texts from the catalogue of the chosen language, small helpers.
const LANG_KEY = "dispatch1310.lang";
let T = {};
const KINDS = ["flood", "fire", "medical", "elderly_missing", "dispute", "other"];  // the contract's kinds

async function loadTexts() {
  const lang = localStorage.getItem(LANG_KEY) || "zh-CN";
  T = await (await fetch(`/i18n/${lang}.json`)).json();
  document.documentElement.lang = T.lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = T[el.dataset.t] ?? el.dataset.t; });
  document.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = T[el.dataset.tPlaceholder] ?? ""; });
  return T;
}

function switchLanguage() {
  const next = (localStorage.getItem(LANG_KEY) || "zh-CN") === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem(LANG_KEY, next);
  location.reload();
}

function t(key) { return T[key] ?? key; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function stageState(info, now) {
  if (info.met_at && !info.missed) return { cls: "met", text: t("met") };
  const due = Date.parse(info.due_at);
  if (info.missed || (!info.met_at && now > due)) return { cls: "missed", text: t("missed") };
  const left = Math.max(0, Math.round((due - now) / 1000));
  return { cls: "", text: `${t("left")} ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` };
}

function stageRows(call, now) {
  return ["contact", "reach", "onsite"].map((stage) => {
    const info = call.stages[stage];
    const row = el("div", { class: "stage", "data-stage": stage, "data-info": JSON.stringify(info) },
      el("span", {}, t(`stage_${stage}`)), el("span", { class: "countdown" }));
    paintStage(row, info, now);
    return row;
  });
}

// Countdowns tick in place (no re-render), so buttons next to them stay put for a click.
function paintStage(node, info, now) {
  const state = stageState(info, now);
  node.classList.remove("met", "missed");
  if (state.cls) node.classList.add(state.cls);
  node.dataset.state = state.cls || "running";
  (node.querySelector(".countdown") || node).textContent = state.text;
}

function tickStages() {
  const now = Date.now();
  document.querySelectorAll("[data-info]").forEach((node) => paintStage(node, JSON.parse(node.dataset.info), now));
}
setInterval(tickStages, 1000);

async function api(method, path, body, token, extraHeaders = {}) {
  const headers = { "Content-Type": "application/json", ...extraHeaders };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail
      : Array.isArray(data.detail) ? data.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
      : `${response.status}`;
    const error = new Error(detail);
    error.status = response.status;
    error.detail = data.detail;  // as the server sent it: a page may name the field at fault
    throw error;
  }
  return data;
}

document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("lang");
  if (button) button.addEventListener("click", switchLanguage);
});
