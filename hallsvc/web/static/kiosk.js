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

// H10 (十公开): the guide shows what the hall file discloses for the service,
// as the catalogue API carries it, and nothing made up. A field the hall has
// not disclosed (null) is named at the end, to be asked at the desk; an empty
// fee list is a disclosure: 不收费.
const DISCLOSED = ["legal_basis", "conditions", "materials", "procedure", "fees", "progress"];
const GUIDE_LABELS = {
  legal_basis: "设定依据", conditions: "受理条件", materials: "申请材料", procedure: "办理流程",
  fees: "收费情况", progress: "办理进度查询",
};

function list(items, tag, cls) {
  return `<${tag} class="${cls}">${items.map(x => `<li>${x}</li>`).join("")}</${tag}>`;
}

function material(m) {
  const extra = [m.copies != null ? `${m.copies} 份` : null, m.note].filter(x => x);
  return hall.esc(m.name) + (extra.length
    ? ` <span class="extra">（${hall.esc(extra.join("，"))}）</span>` : "");
}

function fees(items) {
  if (!items.length) return "不收费";
  return `<table class="fees"><thead><tr><th>收费项目</th><th>收费标准</th><th>收费依据</th></tr>
    </thead><tbody>${items.map(f => `<tr><td>${hall.esc(f.item)}</td>
    <td>${hall.esc(f.standard)}</td><td>${hall.esc(f.basis)}</td></tr>`).join("")}</tbody></table>`;
}

function guideRows(s) {
  const esc = v => v != null ? hall.esc(v) : null;
  const limits = [s.statutory_days != null ? `法定 ${s.statutory_days} 个工作日` : null,
                  s.promised_days != null ? `承诺 ${s.promised_days} 个工作日` : null];
  return [  // [key, label, HTML or null]; the name and code are the title's
    ["department", "实施部门", esc(s.department)],
    ["legal_basis", GUIDE_LABELS.legal_basis, esc(s.legal_basis)],
    ["conditions", GUIDE_LABELS.conditions,
     s.conditions ? list(s.conditions.map(hall.esc), "ul", "items") : null],
    ["materials", GUIDE_LABELS.materials,
     s.materials ? list(s.materials.map(material), "ol", "items") : null],
    ["procedure", GUIDE_LABELS.procedure,
     s.procedure ? list(s.procedure.map(hall.esc), "ol", "steps") : null],
    ["limits", "办结时限", limits.some(x => x) ? limits.filter(x => x).join("，") : null],
    ["fees", GUIDE_LABELS.fees, s.fees ? fees(s.fees) : null],
    ["progress", GUIDE_LABELS.progress, esc(s.progress)],
    ["waiting", "当前等候", s.waiting != null ? `${s.waiting} 人` : null],
  ].filter(r => r[2] != null && r[2] !== "");
}

function showGuide(code) {
  const s = K.services.find(x => x.code === code);
  if (!s) return;
  $("guide-title").innerHTML = `${hall.esc(s.name)} <span class="code-tag">${hall.esc(s.code)}</span>`;
  $("disclosure").innerHTML = guideRows(s).map(([key, label, html]) =>
    `<dt data-field="${key}">${hall.esc(label)}</dt><dd data-field="${key}">${html}</dd>`).join("");
  const missing = DISCLOSED.filter(f => s[f] == null);
  $("guide-more").textContent = missing.length
    ? `以下内容请到咨询台咨询：${missing.map(f => GUIDE_LABELS[f]).join("、")}。` : "";
  $("guide-take").dataset.service = s.code;
  show("guide");
  $("guide").scrollTop = 0;
  window.scrollTo(0, 0);
  $("guide-take").focus({ preventScroll: true });
}

// Reading a long guide is not leaving the kiosk idle: a touch, a scroll or a
// key starts its 60 s again.
function stillReading() {
  if ($("guide").hidden) return;
  clearTimeout(K.backTimer);
  K.backTimer = setTimeout(toCatalogue, K.idleSeconds * 1000);
}

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
  $("slip-time").textContent = "取号时间 " + hall.fmt(t.issued_at, {
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
  $("clock").textContent = hall.fmt(Date.now(), {
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
  for (const ev of ["pointerdown", "wheel", "keydown"]) {
    document.addEventListener(ev, stillReading, { passive: true });
  }
  window.addEventListener("scroll", stillReading, { passive: true });
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
