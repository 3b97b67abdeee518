// Shared by every page: DOM helpers, formatting, the session (me, CSRF), JSON calls, and the
// live feed (/ws) with reconnect, resync (snapshot + missed events) and the stale banner.
// Vanilla JS, no dependencies. Exposes window.W.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SEVS = ["red", "orange", "yellow", "blue"];
  const RANK = { red: 4, orange: 3, yellow: 2, blue: 1 };
  const SEV_ZH = { red: "红色", orange: "橙色", yellow: "黄色", blue: "蓝色" };
  const ROLE_ZH = { officer: "值班员 officer", viewer: "观察员 viewer", admin: "管理员 admin", enterprise: "企业用户 enterprise" };
  const STATE_ZH = { active: "未签收 active", acknowledged: "已签收 acknowledged", handling: "处置中 handling",
    feedback: "已反馈 feedback", resolved: "已解除 resolved" };
  const KIND_ZH = { raised: "发布 raised", updated: "变化 updated", escalated: "升级 escalated", acknowledged: "签收 acknowledged",
    handling: "处置 handling", feedback: "反馈 feedback", resolved: "解除 resolved" };
  const pad = (n) => String(n).padStart(2, "0");
  const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const fromEpoch = (s) => (typeof s === "number" ? new Date(s * 1000) : null);
  function timeText(s) { // HH:MM:SS today, MM-DD HH:MM:SS before
    const d = fromEpoch(s);
    if (!d) return "—";
    return d.toDateString() === new Date().toDateString() ? hms(d) : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms(d)}`;
  }
  function ago(s) {
    if (typeof s !== "number") return "";
    const sec = Math.max(0, Math.round(Date.now() / 1000 - s));
    if (sec < 60) return `${sec} 秒 s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} 分 min`;
    return `${Math.floor(sec / 3600)} 时 h ${Math.floor((sec % 3600) / 60)} 分`;
  }
  const fmtValue = (v) => (typeof v === "number" && Number.isFinite(v)
    ? String(Number(v.toPrecision(Math.abs(v) >= 1e4 ? 7 : 4))) : v == null ? "—" : String(v));
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  const sevOf = (a) => (RANK[a.severity] ? a.severity : "blue");
  const bySeverityThenAge = (a, b) => (RANK[sevOf(b)] - RANK[sevOf(a)]) ||
    ((b.opened_at || 0) - (a.opened_at || 0)) || String(a.id).localeCompare(String(b.id));
  const where = (a) => `${a.enterprise} · ${a.device}${a.point ? ` · ${a.point}` : ""}`;

  // session
  const me = { name: null, role: null, csrf: null, enterprise: null, can_act: false };
  async function loadMe() { // false: not logged in (and we are leaving for /login)
    try {
      const r = await fetch("/api/v1/me", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.href = "/login"; return false; }
      if (r.ok) Object.assign(me, await r.json());
      showMe();
    } catch (_) { /* offline: the feed retries */ }
    return true;
  }
  function showMe() {
    const u = $("user");
    if (u) u.textContent = me.name ? `${me.name} · ${ROLE_ZH[me.role] || me.role}` : "…";
    document.body.classList.toggle("can-act", !!me.can_act);
    document.body.classList.toggle("is-enterprise", !!me.enterprise);
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw new Error((body && body.error) || `HTTP ${r.status}`);
    return body;
  }

  // A JSON POST with the session's CSRF token. Resolves {ok, status, body}; never throws on HTTP errors.
  async function postJSON(url, data) {
    if (!me.csrf) await loadMe();
    try {
      const r = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf || "" },
        body: JSON.stringify(data),
      });
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 401) location.href = "/login";
      return { ok: r.ok, status: r.status, body, error: r.ok ? null : (body && body.error) || `HTTP ${r.status}` };
    } catch (e) {
      return { ok: false, status: 0, body: null, error: `网络错误 network error: ${e.message || e}` };
    }
  }

  function showMsg(text, bad) { // a short-lived confirmation
    const m = $("msg");
    if (!m) return;
    m.textContent = text;
    m.classList.toggle("bad", !!bad);
    m.hidden = false;
    clearTimeout(showMsg.t);
    showMsg.t = setTimeout(() => { m.hidden = true; }, 5000);
  }

  // Clock in the header, ticking every second; pages add their own per-second work.
  const tickers = [];
  function everySecond(fn) { tickers.push(fn); fn(); }
  setInterval(() => tickers.forEach((f) => f()), 1000);
  everySecond(() => { const c = $("clock"); if (c) c.textContent = hms(new Date()); });

  // The live feed. handlers: snapshot(alerts, msg), event(ev), missed(events | null: gap), status(state).
  // Resync: we remember seq and boot; on reconnect the server sends a fresh snapshot then what we
  // missed (or gap). Stale: no message for STALE_MS (the server sends a heartbeat after 15 quiet s).
  const STALE_MS = 40000;
  function feed(handlers) {
    let ws = null;
    let seq = null;
    let boot = null;
    let backoff = 500;
    let retryTimer = null;
    let retryAt = 0;
    let lastMsg = 0;
    let state = "connecting";
    const decoder = new TextDecoder();

    function setStatus(s) {
      state = s;
      const dot = $("conn-dot");
      const text = { live: "实时 live", connecting: "连接中 connecting", down: "连接中断 disconnected", stale: "数据可能过时 stale" }[s];
      if (dot) { dot.className = `dot ${s}`; dot.title = text; dot.setAttribute("aria-label", text); }
      if ($("conn-text")) $("conn-text").textContent = text;
      if ($("conn-banner")) $("conn-banner").hidden = s === "live";
      document.body.classList.toggle("stale", s !== "live");
      if (handlers.status) handlers.status(s);
      paint();
    }
    function paint() {
      const now = Date.now();
      if (state === "live" && lastMsg && now - lastMsg > STALE_MS && ws) { ws.close(); return; }
      const last = lastMsg ? hms(new Date(lastMsg)) : "—";
      if ($("banner-last")) $("banner-last").textContent = lastMsg ? `${last} (${Math.round((now - lastMsg) / 1000)} 秒前 s ago)` : "—";
      if ($("updated")) $("updated").textContent = lastMsg ? `更新 updated ${last}` : "";
      const left = Math.ceil((retryAt - now) / 1000);
      if ($("banner-retry")) $("banner-retry").textContent = state !== "live" && retryTimer && left > 0 ? `· ${left} 秒后重试 retry in ${left}s` : "";
    }
    everySecond(paint);

    function onMessage(e) {
      let msg;
      try { msg = JSON.parse(typeof e.data === "string" ? e.data : decoder.decode(e.data)); } catch (_) { return; }
      lastMsg = Date.now();
      if (msg.type === "snapshot") {
        seq = typeof msg.seq === "number" ? msg.seq : null;
        boot = msg.boot || null;
        backoff = 500; // only a real snapshot proves the server is healthy
        if (msg.me) { Object.assign(me, msg.me); showMe(); }
        if (!me.csrf) loadMe();
        handlers.snapshot(msg.alerts || [], msg);
        setStatus("live");
      } else if (msg.type === "missed") {
        if (handlers.missed) handlers.missed(msg.gap ? null : msg.events || []);
      } else if (msg.type === "event") {
        if (typeof msg.seq === "number") {
          if (seq !== null && msg.seq <= seq) return; // already in the snapshot
          seq = msg.seq;
        }
        handlers.event(msg.event);
      }
      paint();
    }

    function connect() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (ws && ws.readyState <= WebSocket.OPEN) return;
      setStatus("connecting");
      let gotSnapshot = false;
      const q = seq !== null && boot ? `?since=${seq}&boot=${encodeURIComponent(boot)}` : "";
      const sock = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws${q}`);
      sock.binaryType = "arraybuffer";
      ws = sock;
      sock.onmessage = (e) => {
        if (ws !== sock) return;
        onMessage(e);
        if (state === "live") gotSnapshot = true;
      };
      sock.onclose = async (e) => {
        if (ws !== sock) return;
        ws = null;
        setStatus("down");
        if (e.code === 4401) { location.href = "/login"; return; }
        // A refused handshake reaches us as 1006: check whether the session expired.
        if (!gotSnapshot && !(await loadMe())) return;
        const delay = e.code === 1013 ? 100 : backoff; // dropped for being slow: resync at once
        backoff = Math.min(backoff * 2, 10000);
        retryAt = Date.now() + delay;
        retryTimer = setTimeout(connect, delay);
        paint();
      };
      sock.onerror = () => { /* onclose follows */ };
    }
    // Reconnect at once when the network or the page comes back.
    const kick = () => { if (!ws && document.visibilityState !== "hidden") connect(); };
    window.addEventListener("online", kick);
    document.addEventListener("visibilitychange", kick);
    loadMe().then((ok) => { if (ok) connect(); });
    return { get state() { return state; } };
  }

  window.W = {
    $, el, SEVS, RANK, SEV_ZH, ROLE_ZH, STATE_ZH, KIND_ZH, pad, hms, timeText, ago, fmtValue, sevOf, bySeverityThenAge, where,
    me, loadMe, showMe, getJSON, postJSON, showMsg, everySecond, feed,
  };
})();
