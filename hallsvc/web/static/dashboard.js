// The live occupancy dashboard (issue 7 point 1). The server pushes the
// whole view over /api/v1/dashboard/feed (server-sent events) whenever the
// hall changes; there is no polling loop. The stream is read with fetch()
// and a stream reader because EventSource cannot send the bearer token.
// Durations are worked out here from the view's instants and tick every
// second between pushes, on the server's clock (the view's `at`).
// When fresh data stops coming (the server says `stale`: it cannot read the
// record; or the stream breaks or goes quiet) the page keeps the last view,
// dims it and says since when it is out of date, and reconnects by itself.
"use strict";

(() => {
  const $ = id => document.getElementById(id);
  const esc = hall.esc;
  const WINDOW_STATE = { open: "空闲", paused: "暂停", closed: "未开放" };
  const DEVICE_KIND = { window_board: "窗口屏", hall_board: "综合屏", caller: "语音叫号",
                        sensor: "温度传感器", reader: "考勤机", pad: "评价器" };
  const ATTENDANCE = { late: "迟到", early: "早退", away: "脱岗", absent_half_day: "旷工半天",
                       missed_clock_in: "未签到", missed_clock_out: "未签退" };
  const ALARM = { device_offline: "设备离线", unstaffed: "窗口无人值守",
                  temperature: "温度超标", sensor_fault: "传感器故障",
                  caller_gave_up: "叫号器无响应" };
  const SENSOR = { ok: "正常", low: "偏低", high: "偏高", fault: "故障", no_reading: "无读数" };

  let view = null;
  let offset = 0;        // server clock − browser clock, from the last push
  let controller = null; // aborts the running stream
  let retries = 0;
  let lastByte = 0;      // when the stream last said anything (a view, stale, keep-alive)
  // The server sends at least a keep-alive every 15 s: a stream quiet for
  // longer than this has died without closing (a half-open link).
  const QUIET_MS = 20000;

  const serverNow = () => Date.now() + offset;

  function seconds(iso) {
    return Math.max(0, Math.floor((serverNow() - Date.parse(iso)) / 1000));
  }

  // A wait as people say it: 45秒, 12分05秒, 1时02分 (never "19:00", which
  // reads as a time of day).
  function clockText(total) {
    const h = Math.floor(total / 3600), m = Math.floor(total / 60) % 60, s = total % 60;
    if (h) return `${h}时${String(m).padStart(2, "0")}分`;
    if (m) return `${m}分${String(s).padStart(2, "0")}秒`;
    return `${s}秒`;
  }

  function when(iso) {
    if (!iso) return "";
    const today = hall.day(serverNow()) === hall.day(iso);
    const time = hall.hhmm(iso);
    return today ? time : hall.fmt(iso, { month: "numeric", day: "numeric" }) + " " + time;
  }

  function since(iso, over) {
    return `<span class="since num" data-since="${esc(iso)}"` +
      (over ? ` data-over="${over}"` : "") + `>${clockText(seconds(iso))}</span>`;
  }

  function list(el, items, empty) {
    const none = el.tagName === "TBODY" ? `<tr><td colspan="3" class="empty">${esc(empty)}</td></tr>`
      : `<li class="empty">${esc(empty)}</li>`;
    el.innerHTML = items.length ? items.join("") : none;
  }

  // -- rendering ---------------------------------------------------------

  function render(v) {
    view = v;
    offset = Date.parse(v.at) - Date.now();
    $("hall-name").textContent = v.name;
    document.title = `大厅实时看板 · ${v.name}`;
    const t = v.totals;
    $("k-issued").textContent = t.issued;
    $("k-waiting").textContent = t.waiting;
    $("k-serving").textContent = t.in_service;
    $("k-served").textContent = t.served;
    $("k-noshow").textContent = t.no_show;
    $("k-target").textContent = `(目标 < ${t.target_wait_minutes} 分钟)`;
    $("k-wait").textContent = t.average_wait_seconds === null ? "—"
      : (t.average_wait_seconds / 60).toFixed(1) + " 分钟";
    $("k-wait-box").classList.toggle("good", t.on_target === true);
    $("k-wait-box").classList.toggle("bad", t.on_target === false);
    renderWindows(v);
    renderQueues(v);
    renderSide(v);
    drawChart();
    tick();
  }

  function renderWindows(v) {
    let serving = 0, open = 0;
    list($("windows"), v.windows.map(w => {
      const busy = w.ticket !== null;
      const kind = busy ? "serving" : w.state === "open" ? "idle" : w.state;
      if (busy) serving++;
      if (w.state !== "closed") open++;
      const state = busy ? "办理中" : WINDOW_STATE[w.state];
      const label = `${w.name}，${state}` + (busy ? `，正在办理 ${w.ticket}` : "") +
        (w.clerk ? `，工作人员 ${w.clerk}` : "");
      return `<li class="win ${kind}" data-window="${esc(w.id)}" aria-label="${esc(label)}"` +
        ` title="${esc(label)}"><div class="name">${esc(w.name)}</div>` +
        (busy ? `<div class="ticket">${esc(w.ticket)}${since(w.called_at)}</div>`
              : `<div class="state">${esc(state)}</div>`) +
        `<div class="clerk">${w.clerk ? esc(w.clerk) : "无人登录"}` +
        ` · 办结 ${w.served_today}${w.waiting_for_it ? ` · 转入 ${w.waiting_for_it}` : ""}` +
        `</div></li>`;
    }), "没有窗口");
    $("windows-summary").textContent = `开放 ${open} / ${v.windows.length}，办理中 ${serving}`;
    $("proxy").innerHTML = v.proxy.map(p =>
      `<p>${esc(p.name)}：本窗业务等候 <b>${p.own_waiting}</b> 人 · 今日办结 ` +
      `<b>${p.served_today}</b> 件，其中跨窗通办 <b>${p.overflow_served_today}</b> 件` +
      (p.takes_overflow ? "" : "（不承接溢出）") + `</p>`).join("");
  }

  function renderQueues(v) {
    const target = v.totals.target_wait_minutes * 60;
    list($("queues"), v.services.map(s =>
      `<tr class="${s.swamped ? "swamped" : ""}" data-service="${esc(s.code)}">` +
      `<td>${esc(s.name)} <span class="muted small">${esc(s.code)}</span></td>` +
      `<td class="num"><b>${s.waiting}</b>` +
      (s.priority_waiting ? ` <span class="small muted">优先 ${s.priority_waiting}</span>` : "") +
      `</td><td class="num">${s.oldest_issued_at ? since(s.oldest_issued_at, target) : "—"}</td>` +
      `</tr>`), "没有业务");
  }

  function renderSide(v) {
    const dv = v.devices;
    $("devices").innerHTML = `设备在线 <b class="level-green">${dv.online}</b> · 离线 ` +
      `<b class="${dv.offline ? "level-red" : ""}">${dv.offline}</b>`;
    // Offline by kind at a glance, then the ones that went away most recently.
    const byKind = {};
    for (const x of dv.down) byKind[x.kind] = (byKind[x.kind] || 0) + 1;
    const kinds = Object.entries(byKind).map(([k, n]) => `${DEVICE_KIND[k] || k} ${n}`);
    const recent = dv.down.filter(x => x.since).sort((a, b) => b.since.localeCompare(a.since));
    $("devices-down").innerHTML = (kinds.length ? `<li class="muted">离线：${esc(kinds.join("、"))}</li>` : "") +
      recent.slice(0, 4).map(x => `<li>${esc(DEVICE_KIND[x.kind] || x.kind)} ${esc(x.id)} ` +
        `<span class="muted">${when(x.since)} 起离线</span></li>`).join("");
    const tp = v.temperature;
    $("temperature-limits").textContent =
      `大厅温度（${tp.season === "summer" ? "夏季" : "冬季"}标准 ${tp.low}–${tp.high} °C）`;
    list($("temperature"), tp.sensors.map(s => {
      const bad = s.state !== "ok";
      return `<li>${esc(s.device)} <b class="${bad ? "sensor-bad" : "sensor-ok"}">` +
        `${s.celsius === null ? "—" : s.celsius.toFixed(1) + " °C"}</b> ` +
        `${esc(SENSOR[s.state])}${s.alarm ? " · 告警" : ""}</li>`;
    }), "没有温度传感器");
    list($("attendance"), v.attendance.map(a =>
      `<li><b>${esc(a.staff)}</b> ${esc(ATTENDANCE[a.kind] || a.kind)} ` +
      `<span class="muted">${a.session === 0 ? "上午" : "下午"} ${when(a.start)}` +
      `${a.minutes >= 1 ? " · " + Math.round(a.minutes) + " 分钟" : ""}</span></li>`),
      "暂无异常");
    const c = v.cases;
    $("case-levels").innerHTML = `<span class="g">正常 ${c.green}</span>` +
      `<span class="y">预警 ${c.yellow}</span><span class="r">超期 ${c.red}</span>`;
    const caseItem = (x, level) =>
      `<li class="${level}"><b>${esc(x.number)}</b> ${esc(x.service_name)} ` +
      `<span class="muted">${esc(x.department)} · ${esc(x.window)} ${esc(x.clerk)} · ` +
      `${x.due_at ? "时限 " + when(x.due_at) : ""}</span></li>`;
    list($("cases"), [...c.overdue.map(x => caseItem(x, "level-red")),
                      ...c.warned.map(x => caseItem(x, "level-yellow"))], "没有预警办件");
    // H8a: follow-ups of negative ratings not closed, and those past their due day.
    const f = v.follow_ups;
    $("follow-ups").innerHTML = `差评回访 <span class="${f.open ? "y" : "g"}">待处理 ${f.open}</span>` +
      `<span class="${f.overdue ? "r" : "g"}">已超期 ${f.overdue}</span>` +
      (f.nearest_due && f.open > f.overdue
        ? `<span class="muted small">最近期限 ${+f.nearest_due.slice(5, 7)}月${+f.nearest_due.slice(8)}日</span>`
        : "");
    $("alarm-count").textContent = v.alarms.length;
    list($("alarms"), v.alarms.map(a =>
      `<li>${esc(ALARM[a.kind] || a.kind)}：${esc(a.subject)} ` +
      `<span class="muted">${when(a.since)} 起</span></li>`), "没有未处理的告警");
  }

  // -- the chart: people waiting over the day, drawn as SVG ----------------

  function drawChart() {
    const box = $("chart");
    if (!view) return;
    const W = Math.max(200, box.clientWidth), H = Math.max(80, box.clientHeight);
    const pad = { l: 30, r: 10, t: 8, b: 18 };
    const now = serverNow();
    const pts = view.chart.points.map(p => [Date.parse(p[0]), p[1]]);
    pts.push([Math.max(now, pts.length ? pts[pts.length - 1][0] : now), view.totals.waiting]);
    const x0 = Math.min(Date.parse(view.chart.opens), pts[0][0]);
    const x1 = Math.max(Date.parse(view.chart.closes), now);
    const top = Math.max(...pts.map(p => p[1]));
    const yStep = niceStep(Math.max(1, top / 4)), yMax = 4 * yStep;
    const X = t => pad.l + (t - x0) / (x1 - x0) * (W - pad.l - pad.r);
    const Y = n => H - pad.b - n / yMax * (H - pad.t - pad.b);
    let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="今日等候人数曲线，` +
      `现在 ${view.totals.waiting} 人，今日最多 ${top} 人">`;
    for (let i = 0; i <= 4; i++) {
      const n = yStep * i, y = Y(n).toFixed(1);
      svg += `<line class="grid" x1="${pad.l}" x2="${W - pad.r}" y1="${y}" y2="${y}"/>` +
        `<text x="${pad.l - 4}" y="${+y + 4}" text-anchor="end">${n}</text>`;
    }
    const hour = 3600e3;
    for (let t = Math.ceil(x0 / hour) * hour; t <= x1; t += 2 * hour) {
      const x = X(t).toFixed(1);
      svg += `<line class="grid" x1="${x}" x2="${x}" y1="${pad.t}" y2="${H - pad.b}"/>` +
        `<text x="${x}" y="${H - 4}" text-anchor="middle">${hall.hhmm(new Date(t))}</text>`;
    }
    const line = pts.map(p => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    const base = Y(0).toFixed(1);
    svg += `<polygon class="area" points="${X(pts[0][0]).toFixed(1)},${base} ${line} ` +
      `${X(pts[pts.length - 1][0]).toFixed(1)},${base}"/>` +
      `<polyline class="line" points="${line}"/>` +
      `<line class="axis" x1="${pad.l}" x2="${W - pad.r}" y1="${base}" y2="${base}"/>`;
    const last = pts[pts.length - 1];
    svg += `<circle class="now" cx="${X(last[0]).toFixed(1)}" cy="${Y(last[1]).toFixed(1)}" r="3.5"/>`;
    box.innerHTML = svg + "</svg>";
  }

  // 1, 2, 5, 10, 20, 50 … at least n: four whole-number steps make the y axis.
  function niceStep(n) {
    const p = Math.pow(10, Math.floor(Math.log10(n)));
    for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
    return 10 * p;
  }

  // -- the clock: durations tick between pushes -----------------------------

  function tick() {
    $("clock").textContent = hall.fmt(serverNow(), {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    for (const el of document.querySelectorAll("[data-since]")) {
      const s = seconds(el.dataset.since);
      el.textContent = clockText(s);
      if (el.dataset.over) el.closest("td, .win").classList.toggle(
        el.closest("td") ? "over" : "long", s >= +el.dataset.over);
    }
  }

  // -- the live feed ----------------------------------------------------------

  function setLive(state, text, why) {
    $("live").dataset.state = state;
    $("live").textContent = text;
    $("live").title = why || "";
  }

  function fresh() {
    setLive("on", "实时");
    $("board").classList.remove("stale");
    $("stale-why").hidden = true;
  }

  // The last view stays on screen, dimmed, with the time it was true.
  function stale(why) {
    if (!view) { setLive("retry", why); return; }
    const at = hall.fmt(view.at, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    setLive("stale", "数据已过期 " + at, why);
    $("board").classList.add("stale");
    $("stale-why").textContent = `以下为 ${at} 的数据：${why}`;
    $("stale-why").hidden = false;
  }

  function onBlock(block) {
    let event = "message", data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // keep-alive
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    if (event === "view") { render(JSON.parse(data.join("\n"))); fresh(); }
    else if (event === "stale") {
      const s = JSON.parse(data.join("\n"));
      stale(s.code === "unavailable" ? "服务器暂时无法读取数据（" +
            (s.system === "redis" ? "Redis" : "数据库") + "无响应），正在重试" :
            "服务器暂时无法生成看板数据，正在重试");
    }
  }

  async function connect() {
    controller = new AbortController();
    const mine = controller;
    if (!view) setLive("retry", "连接中…");
    lastByte = Date.now();
    try {
      const r = await fetch("/api/v1/dashboard/feed", {
        headers: { Authorization: "Bearer " + hall.token(), Accept: "text/event-stream" },
        signal: mine.signal, cache: "no-store" });
      if (r.status === 401) { hall.setToken(null); showLogin("登录已失效，请重新登录"); return; }
      if (r.status === 403) { showLogin("此账号无权查看大厅看板，请用管理人员账号登录"); return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      retries = 0;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        lastByte = Date.now();
        buf += value.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          onBlock(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (e) {
      if (mine.signal.aborted) return;
    }
    if (mine !== controller || mine.signal.aborted) return;
    reconnect("与服务器的连接中断，正在重连");
  }

  function reconnect(why) {
    const mine = controller;
    stale(why);
    retries = Math.min(retries + 1, 5);
    setTimeout(() => { if (mine === controller) connect(); },
               250 * 2 ** retries * (0.8 + Math.random() * 0.4));
  }

  // A stream that says nothing past the keep-alive is dead: start again.
  function watch() {
    if (!controller || Date.now() - lastByte < QUIET_MS) return;
    controller.abort();
    controller = new AbortController(); // the next connect() is this one's
    lastByte = Date.now();
    reconnect("与服务器的连接无响应，正在重连");
  }

  function stop() {
    if (controller) controller.abort();
    controller = null;
  }

  // -- login --------------------------------------------------------------------

  function showLogin(message) {
    stop();
    setLive("off", "未连接");
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-user").focus();
  }

  function showBoard() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    connect();
  }

  $("login-form").addEventListener("submit", async e => {
    e.preventDefault();
    $("login-error").textContent = "";
    try {
      const r = await hall.login($("login-user").value.trim(), $("login-password").value);
      if (r.role !== "manager" && r.role !== "lead") {
        await hall.logout();
        $("login-error").textContent = "此账号无权查看大厅看板，请用管理人员账号登录";
        return;
      }
      $("login-password").value = "";
      showBoard();
      $("board").focus();
    } catch (err) {
      // A clerk logs in to a window, and is refused without one: not for this page.
      $("login-error").textContent = err.code === "bad_credentials" ? "用户名或密码错误"
        : err.code === "window_required" ? "此账号无权查看大厅看板，请用管理人员账号登录"
        : "登录失败：" + err.message;
    }
  });

  $("logout").addEventListener("click", async () => {
    stop();
    await hall.logout();
    view = null;
    showLogin("已退出登录");
  });

  window.addEventListener("pagehide", stop);
  window.addEventListener("resize", drawChart);
  setInterval(tick, 1000);
  setInterval(watch, 2000);
  setInterval(drawChart, 30000); // the point for now moves along the day
  if (hall.token()) showBoard(); else showLogin();
})();
