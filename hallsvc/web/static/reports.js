// The manager's reports (issue 7 point 4): one period, five reports, each
// with its chart (SVG rendered by the server, fetched with the bearer token
// and inlined: an <img> cannot send the Authorization header), its table
// and its CSV download.
"use strict";

const R = {
  base: "/api/v1/reports/",
  today: null, // the hall's today, as the server says (its clock, its zone)
  period: null, // { from, to } of the reports shown

  // The API's codes for a period it refuses, in the page's words.
  problems: {
    period_ends_before_start: "结束日期早于开始日期",
    period_too_long: "统计期间最长 92 天",
    validation_failed: "请按 年-月-日 填写日期",
    forbidden: "此账号无权查看报表 (需管理人员或首席代表)",
  },

  $(id) { return document.getElementById(id); },

  query(extra) {
    const q = new URLSearchParams();
    if (R.period) { q.set("from", R.period.from); q.set("to", R.period.to); }
    for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  },

  auth() { return { Authorization: "Bearer " + hall.token() }; },

  // A number for a table cell: "—" when there is none.
  n(v, digits) {
    if (v === null || v === undefined) return "—";
    return digits === undefined ? String(v) : Number(v).toFixed(digits);
  },
  pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; },

  rows(tbody, list, cells, empty) {
    const body = typeof tbody === "string" ? R.$(tbody).querySelector("tbody") : tbody;
    if (!list.length) {
      const cols = body.closest("table").querySelectorAll("thead th").length || 1;
      body.innerHTML = `<tr><td colspan="${cols}" class="muted">${hall.esc(empty || "本期间无记录")}</td></tr>`;
      return;
    }
    body.innerHTML = list.map(x => "<tr>" + cells(x).map(([v, num]) =>
      `<td${num === 1 ? ' class="num"' : ""}>${num === "html" ? v : hall.esc(v)}</td>`).join("") + "</tr>").join("");
  },

  // -- the five reports ---------------------------------------------------------------

  tickets(r) {
    const total = r.hall_total;
    R.$("arrivals-note").textContent =
      `${r.open_days.length} 个开放日 · 共到达 ${total.arrivals} 人 · 平均等候 ` +
      `${R.n(total.mean_wait_minutes, 1)} 分钟 (目标 ${r.target_wait_minutes} 分钟以内)` +
      (r.provisional ? " · 部分日期无官方日历, 按周一至周五计" : "");
    R.rows("arrivals-services", [...r.services, total], s => [
      [s.name], [s.arrivals, 1], [s.called, 1], [R.n(s.mean_wait_minutes, 1), 1],
      [R.n(s.p95_wait_minutes, 1), 1]]);
    R.rows("arrivals-hours", total.hourly.filter(h => h.arrivals), h => [
      [String(h.hour).padStart(2, "0") + ":00"], [h.arrivals, 1], [h.called, 1],
      [R.n(h.mean_wait_minutes, 1), 1], [R.n(h.p95_wait_minutes, 1), 1]]);
    R.$("utilisation-note").textContent = r.windows.length
      ? `开放时间共 ${R.n(r.windows[0].open_minutes, 0)} 分钟 (按大厅办公时间, 截至现在)` : "";
    R.rows("utilisation-table", r.windows, w => [
      [w.name], [w.department || "—"], [w.calls, 1], [w.served, 1], [R.n(w.serving_minutes, 1), 1],
      [R.n(w.open_minutes, 0), 1], [R.n(w.after_hours_minutes, 1), 1], [R.pct(w.utilisation), 1]]);
  },

  ratings(r) {
    R.$("ratings-note").textContent = `共 ${r.count} 次评价`;
    const head = "<tr><th scope=\"col\">名称</th><th class=\"num\" scope=\"col\">次数</th>" +
      [...r.levels].reverse().map(l => `<th class="num" scope="col">${hall.esc(l)}</th>`).join("") +
      "<th class=\"num\" scope=\"col\">平均</th><th class=\"num\" scope=\"col\">差评</th></tr>";
    for (const [id, list] of [["ratings-windows", r.windows], ["ratings-clerks", r.clerks]]) {
      R.$(id).querySelector("thead").innerHTML = head;
      R.rows(id, list, x => [[x.name], [x.count, 1],
        ...[...x.by_level].reverse().map(c => [c, 1]), [R.n(x.average, 2), 1], [x.negative, 1]]);
    }
    // H8a: the follow-ups of the period's negative ratings.
    R.$("follow-ups-note").textContent = r.follow_ups.length
      ? `(${r.follow_ups.length} 件 · 待处理 ${r.follow_ups_open} 件 · 其中已超期 ${r.follow_ups_overdue} 件)` : "";
    R.rows("ratings-follow-ups", r.follow_ups, f => [
      [f.ticket], [f.service_day], [f.window_name], [f.clerk_name], [f.level_name],
      [f.due + (f.provisional ? " (暂按周一至周五计)" : "")],
      [f.steps.map(s => R.steps[s] || s).join(" → ")],
      [f.overdue ? '<span class="overdue">已超期</span>'
        : hall.esc(R.followUpState[f.state] || f.state), "html"]], "本期间无差评，无整改回访");
  },

  steps: { verify: "核实", fix: "整改", answer: "反馈", call_back: "回访" },
  followUpState: { open: "待处理", overdue: "已超期", closed: "已办结" },

  scores(r) {
    R.$("scores-note").textContent = `${r.working_days} 个工作日` +
      (r.in_progress ? " · 含今天, 仅计已确定的扣分" : "") +
      (r.provisional ? " · 部分日期无官方日历" : "");
    const taps = d => d.taps.map(t =>
      `${t.direction === "in" ? "签到" : "签退"} ${hall.hhmm(t.at)}${t.device ? " (" + t.device + ")" : ""}`).join(", ");
    R.rows("scores-table", r.clerks, c => [
      [c.name], [R.n(c.points, 1), 1], [R.n(c.attendance_deducted, 1), 1],
      [R.n(c.service_deducted, 1), 1],
      [c.deductions.length ? "<ul class=\"deductions\">" + c.deductions.map(d =>
        `<li><b>−${hall.esc(d.points)}</b> ${hall.esc(d.why)}` +
        (d.taps.length ? ` <span class="muted">${hall.esc(taps(d))}</span>` : "") + "</li>").join("") +
        "</ul>" : "<span class=\"muted\">无扣分</span>", "html"]]);
  },

  cases(r) {
    const all = r.by_window.reduce((a, x) => [a[0] + x.finished, a[1] + x.on_time], [0, 0]);
    R.$("cases-note").textContent = `办结 ${all[0]} 件 · 按时 ${all[1]} 件 · 超期案件 ${r.overdue.length} 件`;
    const cells = x => [[x.name], [x.finished, 1], [x.on_time, 1], [x.late, 1],
      [R.pct(x.on_time_rate), 1], [x.open_overdue, 1]];
    R.rows("cases-windows", r.by_window, cells);
    R.rows("cases-departments", r.by_department, cells);
  },

  // -- loading ------------------------------------------------------------------------

  async plot(fig) {
    const path = R.base + fig.dataset.svg + R.query({ by: fig.dataset.by });
    fig.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(path, { headers: R.auth() });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
      const svg = doc.documentElement;
      if (svg.nodeName !== "svg") throw new Error("not an SVG");
      fig.replaceChildren(document.importNode(svg, true));
    } catch (e) {
      fig.innerHTML = `<p class="error">图表无法显示: ${hall.esc(e.message)}</p>`;
    } finally {
      fig.removeAttribute("aria-busy");
    }
  },

  async load(period) {
    R.$("period-error").textContent = "";
    for (const id of ["from", "to"]) R.$(id).removeAttribute("aria-invalid");
    R.$("status").textContent = "正在统计…";
    R.period = period;
    let t;
    try {
      t = await hall.api("GET", R.base + "tickets" + R.query());
    } catch (e) {
      R.$("status").textContent = "";
      if (e.status === 401) return R.showLogin();
      R.$("period-error").textContent = R.problems[e.code] || e.message;
      if (e.field === "from" || e.field === "to") R.$(e.field).setAttribute("aria-invalid", "true");
      return;
    }
    R.period = { from: t.from, to: t.to };
    if (!R.today) R.today = t.from;
    R.$("from").value = t.from;
    R.$("to").value = t.to;
    R.tickets(t);
    const q = R.query();
    const jobs = [
      hall.api("GET", R.base + "ratings" + q).then(R.ratings),
      hall.api("GET", R.base + "scores" + q).then(R.scores),
      hall.api("GET", R.base + "cases" + q).then(R.cases),
      ...[...document.querySelectorAll("figure.plot")].map(R.plot),
    ];
    const done = await Promise.allSettled(jobs);
    const failed = done.filter(d => d.status === "rejected");
    R.$("status").textContent = failed.length
      ? `部分报表未能加载: ${failed[0].reason.message}`
      : `${t.from === t.to ? t.from : t.from + " 至 " + t.to} · 已更新`;
  },

  async download(button) {
    const path = R.base + button.dataset.csv + R.query({ by: button.dataset.by });
    button.disabled = true;
    try {
      const res = await fetch(path, { headers: R.auth() });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const m = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      const a = document.createElement("a");
      a.href = URL.createObjectURL(await res.blob());
      a.download = m ? m[1] : button.dataset.csv;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    } catch (e) {
      R.$("status").textContent = "下载失败: " + e.message;
    } finally {
      button.disabled = false;
    }
  },

  // A quick period, counted from the hall's today.
  quick(kind) {
    const today = R.today || R.$("to").value;
    if (!today) return null;
    const d = new Date(today + "T00:00:00Z");
    if (kind === "week") d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
    if (kind === "month") d.setUTCDate(1);
    return { from: d.toISOString().slice(0, 10), to: today };
  },

  // The hall's own name in the header (GET /api/v1/services is public).
  async hallName() {
    try {
      const cat = await hall.api("GET", "/api/v1/services", null, null);
      R.$("hall-name").textContent = cat.name;
      document.title = `统计报表 · ${cat.name}`;
    } catch (e) { /* the header stays without a name; the reports say what failed */ }
  },

  showLogin() {
    hall.setToken(null);
    R.$("reports").hidden = true;
    R.$("logout").hidden = true;
    R.$("login").hidden = false;
    R.$("login-user").focus();
  },

  async start(focus) {
    R.$("login").hidden = true;
    R.$("reports").hidden = false;
    R.$("logout").hidden = false;
    if (focus) R.$("from").focus(); // just logged in: the period is next
    await R.load(null);
  },
};

document.addEventListener("DOMContentLoaded", () => {
  R.$("login-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    R.$("login-error").textContent = "";
    try {
      await hall.login(R.$("login-user").value.trim(), R.$("login-password").value);
      await R.start(true);
    } catch (e) {
      R.$("login-error").textContent = e.code === "bad_credentials" || e.status === 401
        ? "用户名或密码不正确"
        : e.code === "window_required" ? "报表供管理人员和首席代表查看; 窗口工作人员请使用窗口叫号终端"
        : e.message;
    }
  });
  R.$("logout").addEventListener("click", async () => { await hall.logout(); R.showLogin(); });
  R.$("period").addEventListener("submit", ev => {
    ev.preventDefault();
    R.load({ from: R.$("from").value, to: R.$("to").value });
  });
  for (const b of document.querySelectorAll("[data-quick]")) {
    b.addEventListener("click", () => { const p = R.quick(b.dataset.quick); if (p) R.load(p); });
  }
  for (const b of document.querySelectorAll("button.csv")) {
    b.addEventListener("click", () => R.download(b));
  }
  R.hallName();
  if (hall.token()) R.start(); else R.showLogin();
});
