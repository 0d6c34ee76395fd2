// The kiosk (issue 7, Q1, H10): the service catalogue with its disclosure,
// one tap for a ticket (number, people ahead, estimated wait), printable on
// an 80 mm thermal printer, and back to the catalogue after a while.
//
// The kiosk is a device: it authenticates with its API key, taken once from
// the URL fragment (/kiosk#key=…, never sent to the server in a URL) or the
// setup form, and kept in localStorage. Every tap gets an Idempotency-Key that
// its retries reuse, so a retried tap never gives two tickets.
"use strict";

const K = {
  keyKey: "hallsvc.kiosk.key",
  printKey: "hallsvc.kiosk.autoprint",
  backSeconds: 20,        // the ticket stays this long, then the catalogue again
  idleSeconds: 60,        // the guide or an error, untouched this long
  retries: [500, 1000, 2000],  // ms before each automatic retry of one tap
  timeoutMs: 8000,
  services: [],
  hallName: "",
  pending: null,          // {service, idem}: the tap being issued (a retry reuses it)
  backTimer: null,
  countdown: null,
};

const REFUSALS = {
  hall_closed: "现在不在取号时间，请在办公时间内取号",
  tickets_exhausted: "本时段排队号已取完",
  unknown_service: "该业务暂不能取号，请到咨询台咨询",
  unavailable: "系统繁忙，请稍后再试",
  unauthenticated: "本机设备密钥无效，请管理人员重新设置",
  forbidden: "本机设备密钥不是取号机密钥，请管理人员重新设置",
  network: "网络连接中断，请稍后再试",
};

function $(id) { return document.getElementById(id); }

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  clearTimeout(K.backTimer);
  clearInterval(K.countdown);
  if (id === "guide" || id === "failed") {
    K.backTimer = setTimeout(toCatalogue, K.idleSeconds * 1000);
  }
}

function deviceKey() { return localStorage.getItem(K.keyKey); }

// #key=…&autoprint=1: kept in localStorage, then dropped from the address bar.
function takeFragment() {
  if (!location.hash || location.hash.length < 2) return;
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.get("key")) localStorage.setItem(K.keyKey, p.get("key"));
  if (p.has("autoprint")) localStorage.setItem(K.printKey, p.get("autoprint") === "1" ? "1" : "0");
  history.replaceState(null, "", location.pathname + location.search);
}

function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);  // also where crypto.randomUUID is not (plain http)
  return "kiosk-" + Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}

// -- setup -------------------------------------------------------------------------

async function checkKey(key) {
  // A kiosk key may read the queues (docs/api.md): the cheapest proof it works.
  const r = await fetch("/api/v1/queues", { headers: { Authorization: "Bearer " + key } });
  if (r.ok) return null;
  const body = await r.json().catch(() => ({}));
  return (body.error && body.error.code) || "http_" + r.status;
}

function showSetup(message) {
  show("setup");
  $("setup-error").textContent = message || "";
  $("setup-key").focus();
}

async function onSetup(ev) {
  ev.preventDefault();
  const key = $("setup-key").value.trim();
  let code;
  try { code = await checkKey(key); } catch (e) { code = "network"; }
  if (code) { $("setup-error").textContent = REFUSALS[code] || code; return; }
  localStorage.setItem(K.keyKey, key);
  $("setup-key").value = "";
  await toCatalogue();
}

// -- the catalogue (H10) ------------------------------------------------------------------

async function loadCatalogue() {
  const cat = await hall.api("GET", "/api/v1/services", null, null);
  K.services = cat.services;
  K.hallName = cat.name;
  $("hall-name").textContent = cat.name;
  document.title = `自助取号 · ${cat.name}`;
}

function renderCatalogue() {
  $("services").innerHTML = K.services.map(s => `<div class="svc">
      <button type="button" class="take" data-service="${hall.esc(s.code)}">
        <span class="svc-name">${hall.esc(s.name)}</span>
        <span class="svc-dept">${hall.esc(s.department)}</span>
        <span class="svc-wait">${s.waiting == null ? "" : s.waiting ? `${s.waiting} 人等候` : "暂无人等候"}</span>
      </button>
      <button type="button" class="guide-link" data-guide="${hall.esc(s.code)}"
        aria-label="${hall.esc(s.name)} 办事指南">办事指南</button>
    </div>`).join("");
}

async function toCatalogue() {
  K.pending = null;
  try {
    await loadCatalogue();
  } catch (e) { /* keep the last catalogue; the next refresh tries again */ }
  renderCatalogue();
  show("catalogue");
}

// Waiting counts stay fresh while the catalogue is shown.
async function refreshCatalogue() {
  if (!$("catalogue").hidden && !$("catalogue").contains(document.activeElement)) {
    try { await loadCatalogue(); renderCatalogue(); } catch (e) { /* next time */ }
  }
  setTimeout(refreshCatalogue, 15000);
}

function showGuide(code) {
  const s = K.services.find(x => x.code === code);
  if (!s) return;
  $("guide-title").textContent = s.name;
  // H10: what the hall's catalogue publishes for the service; nothing made up.
  const rows = [
    ["事项名称", s.name],
    ["事项编码", s.code],
    ["实施部门", s.department],
    ["法定办结时限", s.statutory_days != null ? `${s.statutory_days} 个工作日` : null],
    ["承诺办结时限", s.promised_days != null ? `${s.promised_days} 个工作日` : null],
    ["当前等候", s.waiting != null ? `${s.waiting} 人` : null],
  ];
  for (const f of ["legal_basis", "procedure", "conditions", "materials", "fee_items",
                   "fee_standard", "fee_basis"]) {
    if (s[f]) rows.push([GUIDE_LABELS[f], Array.isArray(s[f]) ? s[f].join("；") : s[f]]);
  }
  $("disclosure").innerHTML = rows.filter(r => r[1] != null && r[1] !== "").map(([k, v]) =>
    `<dt>${hall.esc(k)}</dt><dd>${hall.esc(v)}</dd>`).join("");
  const missing = ["legal_basis", "conditions", "materials", "fee_items"].filter(f => !s[f]);
  $("guide-more").textContent = missing.length
    ? `${missing.map(f => GUIDE_LABELS[f]).join("、")}等其他办事指南内容，请到咨询台咨询。` : "";
  $("guide-take").dataset.service = s.code;
  show("guide");
  $("guide-take").focus();
}

// Labels for the H10 fields the catalogue may carry (shown only when present).
const GUIDE_LABELS = {
  legal_basis: "设定依据", procedure: "办理程序", conditions: "申请条件", materials: "申请材料",
  fee_items: "收费项目", fee_standard: "收费标准", fee_basis: "收费依据",
};

// -- a ticket (Q1) -------------------------------------------------------------------

async function take(code) {
  if (K.pending) return;  // one tap at a time
  K.pending = { service: code, idem: newIdempotencyKey() };
  await issue();
}

async function issue() {
  const p = K.pending;
  if (!p) return;
  show("working");
  let last = null;
  for (let attempt = 0; attempt <= K.retries.length; attempt++) {
    if (attempt > 0) await new Promise(r => setTimeout(r, K.retries[attempt - 1]));
    try {
      const r = await post("/api/v1/tickets", { service: p.service }, p.idem);
      if (r.ok) { showTicket(r.body); return; }
      last = r.error;
      if (r.status === 401 || r.status === 403) {
        K.pending = null;
        localStorage.removeItem(K.keyKey);
        showSetup(REFUSALS[last.code] || last.message);
        return;
      }
      if (r.status !== 503 && r.status < 500) break;  // refused: a retry would not help
    } catch (e) {
      last = { code: "network", message: String(e) };  // no answer: the same key again
    }
  }
  showFailed(last);
}

async function post(path, body, idem) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), K.timeoutMs);
  try {
    const r = await fetch(path, {
      method: "POST", signal: ctl.signal,
      headers: { "Authorization": "Bearer " + deviceKey(), "Content-Type": "application/json",
                 "Idempotency-Key": idem },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, body: data,
             error: (data && data.error) || { code: "http_" + r.status, message: "" } };
  } finally {
    clearTimeout(timer);
  }
}

function showFailed(err) {
  const code = err && err.code;
  $("failed-text").textContent = REFUSALS[code] || (err && err.message) || "取号失败";
  $("failed-code").textContent = code || "";
  // A refusal is final for this tap; only an unanswered one may be retried
  // (with the same Idempotency-Key: never a second ticket).
  const retryable = code === "network" || code === "unavailable" || /^http_5/.test(code || "");
  $("retry").hidden = !retryable;
  if (!retryable) K.pending = null;
  show("failed");
  (retryable ? $("retry") : document.querySelector("#failed [data-back]")).focus();
}

function showTicket(r) {
  const t = r.ticket;
  const s = K.services.find(x => x.code === t.service);
  $("slip-hall").textContent = K.hallName;
  $("slip-service").textContent = s ? s.name : t.service;
  $("slip-number").textContent = t.number;
  $("slip-ahead").innerHTML = r.ahead
    ? `前面还有 <b>${r.ahead}</b> 人等候` : "前面没有人等候";
  $("slip-wait").innerHTML = r.ahead || r.estimated_wait_minutes
    ? `预计等待约 <b>${r.estimated_wait_minutes}</b> 分钟` : "请留意叫号";
  $("slip-time").textContent = "取号时间 " + new Date(t.issued_at).toLocaleString("zh-CN", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false });
  K.pending = null;
  show("ticket");
  let left = K.backSeconds;
  $("countdown").textContent = left;
  K.countdown = setInterval(() => {
    left -= 1;
    $("countdown").textContent = Math.max(left, 0);
    if (left <= 0) toCatalogue();
  }, 1000);
  $("print").focus();
  if (localStorage.getItem(K.printKey) === "1") window.print();
}

// -- start -----------------------------------------------------------------------------

function tickClock() {
  $("clock").textContent = new Date().toLocaleString("zh-CN", {
    month: "long", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit",
    hour12: false });
}

async function start() {
  takeFragment();
  $("setup-form").addEventListener("submit", onSetup);
  $("services").addEventListener("click", ev => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.service) take(b.dataset.service);
    else if (b.dataset.guide) showGuide(b.dataset.guide);
  });
  $("guide-take").addEventListener("click", () => take($("guide-take").dataset.service));
  $("retry").addEventListener("click", issue);
  $("print").addEventListener("click", () => window.print());
  for (const b of document.querySelectorAll("[data-back]")) b.addEventListener("click", toCatalogue);
  document.addEventListener("keydown", ev => {
    if (ev.key === "Escape" && ($("guide").hidden === false || $("ticket").hidden === false
        || ($("failed").hidden === false && !K.pending))) toCatalogue();
  });
  tickClock();
  setInterval(tickClock, 15000);
  if (!deviceKey()) {
    try { await loadCatalogue(); } catch (e) { /* the setup form still works */ }
    showSetup();
  } else {
    await toCatalogue();
  }
  setTimeout(refreshCatalogue, 15000);
}

start();
