// Web Push for the responder page: the service worker (/sw.js) shows a page as a notification
// with Accept / Decline even when this page is closed. Permission is asked only on a click of
// "开启推送 Enable notifications"; once granted, every login (re)subscribes this browser.
const PUSH_TEXT = {
  subscribed: "推送已开启 Notifications on", denied: "通知已被浏览器阻止 Notifications blocked in the browser",
  unsupported: "此浏览器不支持推送 This browser cannot receive pushes", failed: "推送开启失败 Could not turn on notifications",
};

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function showPushState(state, detail = "") {
  const node = document.getElementById("push-state");
  node.dataset.pushState = state;
  node.textContent = [PUSH_TEXT[state] || "", detail].filter(Boolean).join(": ");
  document.getElementById("push-enable").classList.toggle("hidden", state === "subscribed" || state === "unsupported");
}

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function sameKey(subscription, publicKey) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return false;
  const wanted = keyBytes(publicKey);
  const have = new Uint8Array(current);
  return have.length === wanted.length && have.every((b, i) => b === wanted[i]);
}

async function registerWorker() {
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  return registration;
}

async function subscribePush(ask) {
  if (!pushSupported()) { showPushState("unsupported"); return; }
  try {
    const registration = await registerWorker();
    if (ask && Notification.permission === "default") await Notification.requestPermission();
    if (Notification.permission !== "granted") {
      showPushState(Notification.permission === "denied" ? "denied" : "");
      return;
    }
    const { public_key: publicKey } = await api("GET", "/api/push/key");
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription, publicKey)) { await subscription.unsubscribe(); subscription = null; }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    }
    await api("POST", `/api/responders/${me.id}/push-subscriptions`, subscription.toJSON(), me.token);
    showPushState("subscribed");
  } catch (e) {
    showPushState("failed", e.message);
  }
}

// Logging out of a shared phone: its browser stops getting this person's pages.
async function unsubscribePush(person) {
  if (!pushSupported()) return;
  try {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration && (await registration.pushManager.getSubscription());
    if (!subscription) return;
    await api("DELETE", `/api/responders/${person.id}/push-subscriptions`, { endpoint: subscription.endpoint }, person.token);
    await subscription.unsubscribe();
  } catch (e) { /* logging out anyway */ }
}

// After login (responder.js sets `me`): show the button, subscribe at once if already allowed.
function startPush() {
  document.getElementById("push").classList.remove("hidden");
  subscribePush(false);
}

document.getElementById("push-enable").addEventListener("click", () => subscribePush(true));
