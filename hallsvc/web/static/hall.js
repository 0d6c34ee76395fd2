// What every page of the hall shares (issue 7): the JSON API with the
// bearer token of whoever logged in on this tab, and the login form.
"use strict";

const hall = {
  tokenKey: "hallsvc.token",
  // The hall's time zone (GET /api/v1/services, public): every time on a
  // page is the hall's, whatever zone the PC is set to. Until it is known,
  // the browser's own.
  zone: undefined,

  token() { return sessionStorage.getItem(hall.tokenKey); },
  setToken(t) { if (t) sessionStorage.setItem(hall.tokenKey, t); else sessionStorage.removeItem(hall.tokenKey); },

  // Calls the API; resolves to the decoded body, rejects with an Error whose
  // .code and .status come from the API's error body ({"error": {code, message, field}}).
  async api(method, path, body, token) {
    const headers = {};
    const t = token === undefined ? hall.token() : token;
    if (t) headers["Authorization"] = "Bearer " + t;
    const init = { method, headers };
    if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 204) return null;
    const type = r.headers.get("Content-Type") || "";
    const data = type.includes("application/json") ? await r.json() : await r.text();
    if (!r.ok) {
      const e = (data && data.error) || { code: "http_" + r.status, message: String(data) };
      const err = new Error(e.message);
      err.code = e.code; err.status = r.status; err.field = e.field;
      throw err;
    }
    return data;
  },

  // Logs in as `user`; a clerk names the window. Keeps the token for the tab.
  async login(user, password, window) {
    const body = { user, password };
    if (window) body.window = window;
    const r = await hall.api("POST", "/api/v1/login", body, null);
    hall.setToken(r.token);
    return r;
  },

  async logout() {
    try { await hall.api("POST", "/api/v1/logout"); } catch (e) { /* already gone */ }
    hall.setToken(null);
  },

  // Text for a thing, escaped for innerHTML.
  esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, c => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  },

  // A time (Date, ISO text or ms) in the hall's zone, as Intl formats it.
  fmt(t, options) {
    return new Date(t).toLocaleString("zh-CN", { ...options, timeZone: hall.zone });
  },

  // 12:05 in the hall's local time.
  hhmm(iso) {
    if (!iso) return "";
    return hall.fmt(iso, { hour: "2-digit", minute: "2-digit", hour12: false });
  },

  // The hall's calendar day of a time, to compare days: "2026/03/09".
  day(t) {
    return hall.fmt(t, { year: "numeric", month: "2-digit", day: "2-digit" });
  },

  minutesSince(iso, now) {
    if (!iso) return null;
    return Math.max(0, Math.floor(((now || Date.now()) - new Date(iso).getTime()) / 60000));
  },
};

// Learn the hall's zone at once; pages that render before it arrives are
// redrawn by their next refresh.
hall.zoneKnown = fetch("/api/v1/services")
  .then(r => (r.ok ? r.json() : null))
  .then(c => { if (c && c.timezone) hall.zone = c.timezone; })
  .catch(() => {});
