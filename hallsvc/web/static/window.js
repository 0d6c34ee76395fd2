// The clerk's window client (issue 7, Q5, C1, C5): log in to a window, the
// window's verbs with keyboard shortcuts, the ticket being served, the queue
// ahead of this window and the window's own case warnings. It reads the API
// every few seconds (the manager's live feed is another page's business).
"use strict";

const W = {
  windowKey: "hallsvc.window.id",   // the window this tab is logged in to
  lastWindowKey: "hallsvc.window.last",  // the window this terminal last used
  refreshMs: 3000,
  casesMs: 20000,
  view: null,          // the last GET /windows/{w}/ahead
  skew: 0,             // server clock − this PC's clock (ms)
  busy: false,         // a verb is on its way: no second press
  services: [],        // the catalogue (names, for transfer and cases)
  windows: [],         // the hall's windows
  timer: null,
  casesTimer: null,
};

// Q5: the verbs, their keys (digits: one hand on the numeric keypad, as on a
// hardware caller; no browser shortcut is taken over) and when each applies.
const VERBS = [
  { id: "call", key: "1", label: "呼叫下一位", when: v => v.state === "open" && !v.serving },
  { id: "recall", key: "2", label: "重呼", when: v => !!v.serving },
  { id: "skip", key: "3", label: "过号", when: v => !!v.serving },
  { id: "finish", key: "4", label: "办结", when: v => !!v.serving, primary: true },
  { id: "transfer", key: "5", label: "转移", when: v => !!v.serving },
  { id: "restore", key: "6", label: "恢复过号", when: v => v.state !== "closed" },
  { id: "pause", key: "7", label: "暂停服务", when: v => v.state === "open" },
  { id: "resume", key: "8", label: "恢复服务", when: v => v.state === "paused" },
  { id: "case", key: "9", label: "受理办件", when: v => !!v.serving },
];

// The API's refusals in plain Chinese, by their stable code (docs/api.md).
const REFUSALS = {
  unauthenticated: "登录已失效，请重新登录",
  bad_credentials: "工号或密码不正确",
  forbidden: "没有这项操作的权限",
  not_your_window: "您没有登录这个窗口",
  window_not_allowed: "您不能登录这个窗口",
  window_required: "请选择窗口",
  unknown_window: "没有这个窗口",
  unknown_service: "没有这项业务",
  unknown_ticket: "今天没有这个号",
  invalid_ticket_number: "号码格式不对，应为字母加数字，如 A012",
  invalid_transfer: "转移目标不对：请选择一项业务或另一个窗口",
  window_closed: "窗口未登录，请先登录",
  window_paused: "窗口已暂停服务，请先恢复服务",
  window_busy: "当前号还在办理中，请先办结或过号",
  no_current_ticket: "当前没有正在办理的号",
  not_skipped: "这个号不是过号状态，不能恢复",
  hall_closed: "现在不是取号时间",
  tickets_exhausted: "排队号已取完",
  unavailable: "系统暂时繁忙，请稍后再试",
  validation_failed: "填写的内容不符合要求",
  invalid_json: "请求格式错误",
  ticket_not_served_here: "这个号不在本窗口办理中",
  service_not_at_window: "本窗口不受理这项业务",
  service_required: "请选择业务",
  field_not_for_type: "所填内容与办件类型不符",
  missing_items_required: "补办件须一次性列明全部所缺材料",
  reasons_missing: "退办件须书面写明理由",
  basis_missing: "退办件须写明政策依据",
  departments_required: "联办件须列出两个及以上部门",
  department_twice: "部门重复了",
  limit_over_case: "部门时限不能超过办件时限",
  calendar_unknown: "该年度的法定工作日历尚未载入",
  promised_over_statutory: "承诺时限不能超过法定时限",
  limit_not_positive: "时限须大于零",
  network: "网络连接失败，请检查网络后重试",
};

const CASE_LEVEL = { yellow: "黄牌预警", red: "红牌超期" };
const STATE_LABEL = { open: "服务中", paused: "暂停服务", closed: "未登录" };

function $(id) { return document.getElementById(id); }

function refusal(err) {
  const zh = REFUSALS[err.code || "network"];  // no code: fetch itself failed
  const field = err.field ? `（${err.field}）` : "";
  return zh ? zh + field : (err.message || "操作失败");
}

function say(text, kind, code) {
  const box = $("result");
  box.className = "result " + (kind || "ok");
  box.innerHTML = hall.esc(text) + (code ? ` <span class="code">${hall.esc(code)}</span>` : "");
}

function serviceName(code) {
  const s = W.services.find(x => x.code === code);
  return s ? s.name : code;
}

function windowName(id) {
  const w = W.windows.find(x => x.id === id);
  return w ? w.name : id;
}

function mmss(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = n => String(n).padStart(2, "0");
  return (h ? h + ":" + two(m) : two(m)) + ":" + two(r);
}

// -- login -------------------------------------------------------------------------

async function loadHall() {
  const [cat, wins] = await Promise.all([
    hall.api("GET", "/api/v1/services", null, null),
    hall.api("GET", "/api/v1/windows", null, null),
  ]);
  W.services = cat.services;
  W.windows = wins.windows;
  document.title = `窗口叫号终端 · ${wins.name}`;
  $("where").textContent = wins.name;
}

function showLogin(message) {
  clearTimeout(W.timer); clearTimeout(W.casesTimer);
  $("desk").hidden = true; $("logout").hidden = true; $("who").textContent = "";
  $("login").hidden = false;
  const sel = $("login-window");
  sel.innerHTML = W.windows.map(w =>
    `<option value="${hall.esc(w.id)}">${hall.esc(w.name)}（${hall.esc(w.id)}）</option>`).join("");
  const last = localStorage.getItem(W.lastWindowKey);
  if (last && W.windows.some(w => w.id === last)) sel.value = last;
  $("login-error").textContent = message || "";
  $("login-user").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const user = $("login-user").value.trim(), password = $("login-password").value;
  const win = $("login-window").value;
  $("login-error").textContent = "";
  try {
    await hall.login(user, password, win);
  } catch (e) {
    $("login-error").textContent = refusal(e);
    return;
  }
  $("login-password").value = "";
  sessionStorage.setItem(W.windowKey, win);
  localStorage.setItem(W.lastWindowKey, win);
  say(`已登录${windowName(win)}`, "ok");  // first: a key pressed meanwhile has the last word
  await showDesk();
}

async function onLogout() {
  try {
    await hall.api("POST", "/api/v1/logout");
  } catch (e) {
    if (e.code !== "unauthenticated") { say(refusal(e), "refused", e.code); return; }
  }
  hall.setToken(null);
  sessionStorage.removeItem(W.windowKey);
  showLogin("已退出登录");
}

// -- the desk ------------------------------------------------------------------------

function win() { return sessionStorage.getItem(W.windowKey); }

async function showDesk() {
  $("login").hidden = true;
  $("desk").hidden = false;
  $("logout").hidden = false;
  buildVerbs();
  fillDialogs();
  await refresh();
  await refreshCases();
}

function buildVerbs() {
  $("verbs").innerHTML = VERBS.map(v =>
    `<button type="button" id="verb-${v.id}" data-verb="${v.id}"` +
    ` class="${v.primary ? "primary" : "secondary"}" aria-keyshortcuts="${v.key}" disabled>` +
    `<kbd>${v.key}</kbd><span>${v.label}</span></button>`).join("");
  $("keys").innerHTML = VERBS.map(v => `<li><kbd>${v.key}</kbd> ${v.label}</li>`).join("");
}

async function refresh() {
  clearTimeout(W.timer);
  if (!hall.token() || !win()) return;  // logged out meanwhile
  try {
    const v = await hall.api("GET", `/api/v1/windows/${encodeURIComponent(win())}/ahead`);
    W.skew = new Date(v.at).getTime() - Date.now();
    W.view = v;
    render(v);
  } catch (e) {
    if (e.status === 401) { hall.setToken(null); showLogin(REFUSALS.unauthenticated); return; }
    say(refusal(e), "refused", e.code);
  }
  if (hall.token()) W.timer = setTimeout(refresh, W.refreshMs);
}

function render(v) {
  const me = v.clerk ? `${v.clerk} · ` : "";
  $("who").textContent = `${me}${v.name}`;
  const state = $("state");
  state.textContent = STATE_LABEL[v.state] || v.state;
  state.className = "badge state-" + v.state;
  const t = v.serving;
  $("cur-number").textContent = t ? t.number : "—";
  $("cur-number").classList.toggle("idle", !t);
  $("cur-service").textContent = t ? `${serviceName(t.service)}（${t.service}）` +
    (t.priority !== "normal" ? " · 优先" : "") : "暂无办理中的号";
  $("cur-called").textContent = t && t.called_at ? `叫号于 ${hall.hhmm(t.called_at)}` : "";
  $("cur-recalls").textContent = t && t.recalls ? `已重呼 ${t.recalls} 次` : "";
  tick();
  for (const verb of VERBS) {
    const b = $("verb-" + verb.id);
    if (b) b.disabled = W.busy || !verb.when(v);
  }
  $("waiting-total").textContent = `本窗口可办 ${v.waiting} 人等候`;
  $("transfers").innerHTML = v.transfers.length
    ? `<p class="transfers">转来本窗口：${v.transfers.map(x =>
        `<span class="tno">${hall.esc(x.number)}</span>`).join(" ")}</p>` : "";
  $("queue").innerHTML = v.queues.map(q => `<tr class="${q.overflow ? "overflow" : ""}">
      <td>${hall.esc(q.name)} <span class="muted">${hall.esc(q.service)}</span>
        ${q.overflow ? `<span class="badge ${q.swamped ? "level-yellow" : "muted"}">${
          q.swamped ? "跨窗协办" : "未满协办线"}</span>` : ""}</td>
      <td class="num"><strong>${q.waiting}</strong>${q.priority_waiting
        ? `<span class="muted small"> (优先 ${q.priority_waiting})</span>` : ""}</td>
      <td class="next">${q.next.map(x => `<span class="tno${x.priority !== "normal" ? " prio" : ""}"
        title="已等 ${x.waited_minutes} 分钟">${hall.esc(x.number)}</span>`).join(" ")
        || '<span class="muted">无人等候</span>'}</td></tr>`).join("");
}

// The served time counts on from the server's clock (W.skew), every second.
function tick() {
  const v = W.view;
  const el = $("cur-timer");
  if (!v || !v.serving || !v.serving.called_at) { el.textContent = "—"; return; }
  const secs = (Date.now() + W.skew - new Date(v.serving.called_at).getTime()) / 1000;
  el.textContent = mmss(secs);
}

async function refreshCases() {
  clearTimeout(W.casesTimer);
  if (!hall.token() || !win()) return;  // logged out meanwhile
  const list = $("warnings");
  try {
    const w = encodeURIComponent(win());
    const [red, yellow] = await Promise.all(["red", "yellow"].map(level =>
      hall.api("GET", `/api/v1/cases?window=${w}&level=${level}&limit=50`)));
    const cases = [...red.cases, ...yellow.cases];
    $("warn-count").innerHTML =
      `<span class="badge level-red">红 ${red.cases.length}</span> ` +
      `<span class="badge level-yellow">黄 ${yellow.cases.length}</span>`;
    list.innerHTML = cases.length ? cases.map(c => `<li class="warn-${c.level}">
        <span class="badge level-${c.level}">${CASE_LEVEL[c.level] || c.level}</span>
        <strong>${hall.esc(c.number)}</strong> ${hall.esc(c.applicant)} ·
        ${hall.esc(c.service_name)} · ${hall.esc(c.type_label)}
        <span class="muted">期限 ${c.due_at ? hall.esc(hall.fmt(c.due_at,
          { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false }))
          : "—"}${c.provisional ? "（暂估）" : ""}</span></li>`).join("")
      : '<li class="muted">本窗口没有预警或超期的办件</li>';
  } catch (e) {
    if (e.status === 401) return;  // refresh() sends the clerk to the login
    list.innerHTML = `<li class="muted">办件预警暂时读不到：${hall.esc(refusal(e))}</li>`;
  }
  if (hall.token()) W.casesTimer = setTimeout(refreshCases, W.casesMs);
}

// -- the verbs -------------------------------------------------------------------------

async function press(verbId) {
  const verb = VERBS.find(v => v.id === verbId);
  if (!verb || W.busy || !W.view) return;
  if (!verb.when(W.view)) {
    say(`现在不能${verb.label}`, "refused");
    return;
  }
  if (verbId === "restore") return openDialog("dlg-restore");
  if (verbId === "transfer") return openDialog("dlg-transfer");
  if (verbId === "case") return openDialog("dlg-case");
  const cur = W.view.serving;
  await act(async () => {
    const r = await hall.api("POST", `/api/v1/windows/${encodeURIComponent(win())}/${
      verbId === "call" ? "call-next" : verbId}`);
    switch (verbId) {
      case "call":
        return r.ticket
          ? [`已呼叫 ${r.ticket.number}（${serviceName(r.ticket.service)}）`, "ok"]
          : ["当前没有本窗口可办的等候号", "info"];
      case "recall":
        return r.state === "skipped"
          ? [`${r.number} 重呼已达上限，已按过号处理`, "info"]
          : [`已重呼 ${r.number}（第 ${r.recalls} 次）`, "ok"];
      case "skip": return [`${r.number} 已过号，本人回来可凭号恢复`, "ok"];
      case "finish": return [`${r.number} 已办结`, "ok"];
      case "pause": return ["窗口已暂停服务，不再叫号", "ok"];
      case "resume": return ["窗口已恢复服务", "ok"];
    }
    return [cur ? cur.number : "完成", "ok"];
  });
}

// Runs one API action: no second press meanwhile; the result or the refusal
// is said in Chinese; the window is read again at once.
async function act(fn) {
  W.busy = true;
  if (W.view) render(W.view);
  let done = true;
  try {
    const [text, kind] = await fn();
    say(text, kind);
  } catch (e) {
    if (e.status === 401) { hall.setToken(null); showLogin(REFUSALS.unauthenticated); return false; }
    say(refusal(e), "refused", e.code);
    done = false;
  } finally {
    W.busy = false;
  }
  await refresh();  // after a refusal too: the window may have changed elsewhere
  return done;
}

function openDialog(id) {
  const d = $(id);
  if (id === "dlg-transfer") {
    $("transfer-number").textContent = W.view.serving.number;
    $("transfer-service").value = W.view.serving.service;
  }
  if (id === "dlg-case") {
    const t = W.view.serving;
    $("case-number").textContent = `（号票 ${t.number}）`;
    const sel = $("case-service");
    const w = W.windows.find(x => x.id === win());
    const codes = w ? w.services : [t.service];
    sel.innerHTML = codes.map(c =>
      `<option value="${hall.esc(c)}">${hall.esc(serviceName(c))}（${hall.esc(c)}）</option>`).join("");
    sel.value = codes.includes(t.service) ? t.service : codes[0];
    $("case-error").textContent = "";
    showTypeFields();
  }
  d.showModal();
  const first = d.querySelector("input:not([type=radio]), select");
  if (first) first.focus();
}

function fillDialogs() {
  $("transfer-service").innerHTML = W.services.map(s =>
    `<option value="${hall.esc(s.code)}">${hall.esc(s.name)}（${hall.esc(s.code)}）</option>`).join("");
  $("transfer-window").innerHTML = W.windows.filter(w => w.id !== win()).map(w =>
    `<option value="${hall.esc(w.id)}">${hall.esc(w.name)}（${hall.esc(w.id)}）</option>`).join("");
}

async function onRestore(ev) {
  ev.preventDefault();
  const number = $("restore-number").value.trim().toUpperCase();
  $("dlg-restore").close();
  $("restore-number").value = "";
  await act(async () => {
    const r = await hall.api("POST", `/api/v1/tickets/${encodeURIComponent(number)}/restore`);
    return [`${r.number} 已恢复到原排队位置`, "ok"];
  });
}

async function onTransfer(ev) {
  ev.preventDefault();
  const toWindow = document.querySelector("#form-transfer input[name=to]:checked").value === "window";
  const body = toWindow ? { to_window: $("transfer-window").value }
                        : { to_service: $("transfer-service").value };
  $("dlg-transfer").close();
  await act(async () => {
    const r = await hall.api("POST", `/api/v1/windows/${encodeURIComponent(win())}/transfer`, body);
    const where = toWindow ? windowName(body.to_window) : serviceName(body.to_service);
    return [`${r.number} 已转至${where}，保留原排队位置`, "ok"];
  });
}

function lines(id) {
  return $(id).value.split("\n").map(s => s.trim()).filter(Boolean);
}

function showTypeFields() {
  const type = $("case-type").value;
  for (const el of document.querySelectorAll("#form-case [data-for]")) {
    el.hidden = el.dataset.for !== type;
  }
}

async function onCase(ev) {
  ev.preventDefault();
  const t = W.view && W.view.serving;
  if (!t) { $("dlg-case").close(); return; }
  const type = $("case-type").value;
  const body = { type, applicant: $("case-applicant").value.trim(), ticket: t.number,
                 service: $("case-service").value, subject: $("case-subject").value.trim() };
  const phone = $("case-phone").value.trim();
  if (phone) body.phone = phone;
  if (type === "incomplete") body.missing = lines("case-missing");
  if (type === "rejected") { body.reasons = lines("case-reasons"); body.basis = $("case-basis").value.trim(); }
  if (type === "joint") {
    body.departments = lines("case-departments").map(l => {
      const m = l.match(/^(.*?)\s+(\d+)$/);
      return m ? { department: m[1], limit_days: Number(m[2]) } : { department: l };
    });
  }
  let r;
  try {
    r = await hall.api("POST", `/api/v1/windows/${encodeURIComponent(win())}/cases`, body);
  } catch (e) {
    // The dialog stays open with what was typed, so the clerk can correct it.
    $("case-error").innerHTML = hall.esc(refusal(e)) + ` <span class="code">${hall.esc(e.code)}</span>`;
    return;
  }
  $("dlg-case").close();
  $("form-case").reset();
  const due = r.due ? `，办结期限 ${r.due.day}${r.due.provisional ? "（暂估）" : ""}` : "";
  say(`已受理办件 ${r.number}（${r.type_label}）${due}`, "ok");
  await refreshCases();
}

// -- keyboard ------------------------------------------------------------------------

function onKey(ev) {
  if (ev.ctrlKey || ev.altKey || ev.metaKey || $("desk").hidden) return;
  if (document.querySelector("dialog[open]")) return;
  const tag = (ev.target && ev.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
  const m = /^(?:Digit|Numpad)([1-9])$/.exec(ev.code || "");
  const key = m ? m[1] : ev.key;
  const verb = VERBS.find(v => v.key === key);
  if (!verb) return;
  ev.preventDefault();
  press(verb.id);
}

// -- start -----------------------------------------------------------------------------

async function start() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("verbs").addEventListener("click", ev => {
    const b = ev.target.closest("button[data-verb]");
    if (b && !b.disabled) press(b.dataset.verb);
  });
  $("form-restore").addEventListener("submit", onRestore);
  $("form-transfer").addEventListener("submit", onTransfer);
  $("form-case").addEventListener("submit", onCase);
  $("case-type").addEventListener("change", showTypeFields);
  for (const b of document.querySelectorAll("dialog [data-close]")) {
    b.addEventListener("click", () => b.closest("dialog").close());
  }
  for (const [radio, sel] of [["service", "transfer-service"], ["window", "transfer-window"]]) {
    $(sel).addEventListener("focus", () => {
      document.querySelector(`#form-transfer input[value=${radio}]`).checked = true;
    });
  }
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  try {
    await loadHall();
  } catch (e) {
    $("login").hidden = false;
    $("login-error").textContent = refusal(e);
    return;
  }
  if (hall.token() && win()) await showDesk(); else showLogin();
}

start();
