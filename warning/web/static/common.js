// Shared by every page: the strings (one catalogue, /api/v1/i18n/ui.json), DOM helpers,
// formatting, the session (me, CSRF), JSON calls, and the live feed (/ws) with reconnect,
// resync (snapshot + missed events) and the stale banner. Vanilla JS, no dependencies.
// Exposes window.W; page scripts start with W.start(fn), once the strings are loaded.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SEVS = ["red", "orange", "yellow", "blue"];
  const RANK = { red: 4, orange: 3, yellow: 2, blue: 1 };

  // Strings: every text a person reads comes from the catalogue (gettext domain "ui", msgid =
  // the English source). Without it (offline) the msgids show, which is English: readable.
  const i18n = { locale: "zh-CN", locales: [], messages: {} };
  function t(id, params) {
    const s = Object.prototype.hasOwnProperty.call(i18n.messages, id) ? i18n.messages[id] : id;
    return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s;
  }
  // Static markup names its strings: data-i18n (text), data-i18n-title, -aria-label, -placeholder, -alt.
  function translate(root) {
    for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const a of ["title", "aria-label", "placeholder", "alt"]) {
      const key = `data-i18n-${a}`;
      for (const e of root.querySelectorAll(`[${key}]`)) e.setAttribute(a, t(e.getAttribute(key)));
    }
  }
  const LANG_COOKIE = "warning_lang";
  function setLanguage(code) { // the user's choice, kept a year in this browser; the server reads it too
    document.cookie = `${LANG_COOKIE}=${encodeURIComponent(code)}; Path=/; Max-Age=31536000; SameSite=Strict`;
    location.reload();
  }
  function languageSwitch() { // a button offering the other language, in its own name
    const b = $("lang-switch");
    if (!b) return;
    const other = i18n.locales.find((l) => l.code !== i18n.locale);
    b.hidden = !other;
    if (!other) return;
    b.textContent = other.name;
    b.lang = other.code;
    b.title = t("Switch language");
    b.onclick = () => setLanguage(other.code);
  }
  const loaded = (async () => {
    try {
      const r = await fetch("/api/v1/i18n/ui.json", { credentials: "same-origin", cache: "no-store" });
      if (r.ok) Object.assign(i18n, await r.json());
    } catch (_) { /* offline: msgids */ }
    document.documentElement.lang = i18n.locale;
    document.body.dataset.locale = i18n.locale;
    translate(document);
    languageSwitch();
  })();
  function start(fn) { loaded.then(fn); }

  // N_ marks a msgid that t() receives later (gettext's convention), so the catalogue test finds it.
  const N_ = (s) => s;
  const SEV_NAMES = { red: N_("Red"), orange: N_("Orange"), yellow: N_("Yellow"), blue: N_("Blue") };
  const sevName = (s) => (SEV_NAMES[s] ? t(SEV_NAMES[s]) : s || "");
  const ROLES = { officer: N_("Officer"), viewer: N_("Viewer"), admin: N_("Administrator"), enterprise: N_("Enterprise user") };
  const roleName = (r) => (ROLES[r] ? t(ROLES[r]) : r || "");
  const STATES = { active: N_("Not signed for"), acknowledged: N_("Signed for"), handling: N_("Being handled"),
    feedback: N_("Feedback given"), resolved: N_("Lifted") };
  const stateName = (s) => (STATES[s] ? t(STATES[s]) : s);
  const KINDS = { raised: N_("Raised"), updated: N_("Changed"), escalated: N_("Escalated"), acknowledged: N_("Signed for"),
    handling: N_("Taken in hand"), feedback: N_("Feedback"), resolved: N_("Lifted"), cleared: N_("Condition cleared"),
    reminded: N_("Reminder") };
  const kindName = (k) => (KINDS[k] ? t(KINDS[k]) : k);
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
    if (sec < 60) return t("{n} s", { n: sec });
    if (sec < 3600) return t("{n} min", { n: Math.floor(sec / 60) });
    return t("{h} h {m} min", { h: Math.floor(sec / 3600), m: Math.floor((sec % 3600) / 60) });
  }
  const fmtValue = (v) => (typeof v === "number" && Number.isFinite(v)
    ? String(Number(v.toPrecision(Math.abs(v) >= 1e4 ? 7 : 4))) : v == null ? "—" : String(v));
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  // The colour an alert is shown in: its worst moment (peak_severity), not only where it is now.
  const sevOf = (a) => (RANK[a.peak_severity] ? a.peak_severity : RANK[a.severity] ? a.severity : "blue");
  const nowSevOf = (a) => (RANK[a.severity] ? a.severity : "blue");
  // Cleared before anyone signed: still open, still on the screen, until a person signs for it.
  const clearedUnsigned = (a) => a.condition_active === false && a.state === "active";
  const bySeverityThenAge = (a, b) => (RANK[sevOf(b)] - RANK[sevOf(a)]) ||
    ((b.opened_at || 0) - (a.opened_at || 0)) || String(a.id).localeCompare(String(b.id));
  const names = new Map(); // enterprise id -> name, for alerts that carry only the code
  const entName = (a) => a.enterprise_name || names.get(a.enterprise) || a.enterprise;
  // The point as a person reads it: its title in the reader's language when the server sends one.
  const pointName = (a) => (a.point ? a.point_title || a.point : "");
  const devicePoint = (a) => `${a.device}${a.point ? ` · ${pointName(a)}` : ""}`;
  const where = (a) => `${entName(a)} · ${devicePoint(a)}`;

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
    if (u) u.textContent = me.name ? `${me.name} · ${roleName(me.role)}` : "…";
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
      return { ok: false, status: 0, body: null, error: t("network error: {error}", { error: e.message || e }) };
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

  // One clock for the page's own changes, so that they share frames: a page drawn without a GPU
  // (the wall screen's small PC; headless Chromium in bench/dashboard_bench.py) pays for every
  // frame, and a change of its own in a frame of its own cost as much as an alert's row.
  // * Whatever blinks (a dot not signed for, a new row, a red pop-up, a warning that rose, the
  //   sound button asking for its click, a lost connection) is on while <html> has the class
  //   "beat" and off when not; the class turns every BEAT_MS (on and off once a second). CSS
  //   animations each kept a phase of their own (from when their element got its class): 60 new
  //   rows and 60 ringed dots asked for frames at 120 different moments, and headless Chromium
  //   spent 0.6-0.8 of a core on a page where nothing happened (0.1 with one beat).
  //   blink(el, cls, ms): a class that blinks for a while (its end is checked at each beat).
  //   Reduced motion: no beat; the classes still come and go.
  // * everySecond(fn): the clock and the ages, at every other beat.
  // * onBeat(fn): a page's work that may wait for the next beat (the big screen's slower parts).
  const BEAT_MS = 500;
  const tickers = [];
  const beaters = [];
  function everySecond(fn) { tickers.push(fn); fn(); }
  function onBeat(fn) { beaters.push(fn); }
  const still = matchMedia("(prefers-reduced-motion: reduce)");
  const blinking = new Map(); // element -> Map(class -> until, performance.now() ms)
  function blink(e, cls, ms) {
    e.classList.add(cls);
    if (!blinking.has(e)) blinking.set(e, new Map());
    blinking.get(e).set(cls, performance.now() + ms);
  }
  let beats = 0;
  setInterval(() => {
    const root = document.documentElement;
    if (still.matches || document.hidden) root.classList.remove("beat");
    else root.classList.toggle("beat");
    const now = performance.now();
    for (const [e, classes] of blinking) {
      for (const [cls, until] of classes) if (until <= now) { e.classList.remove(cls); classes.delete(cls); }
      if (!classes.size) blinking.delete(e);
    }
    if (beats++ % 2 === 0) for (const f of tickers) f();
    for (const f of beaters) f();
  }, BEAT_MS);
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
      const text = t({ live: N_("Live"), connecting: N_("Connecting"), down: N_("Disconnected"), stale: N_("Data may be stale") }[s]);
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
      if ($("banner-last")) $("banner-last").textContent = lastMsg ? t("{time} ({n} s ago)", { time: last, n: Math.round((now - lastMsg) / 1000) }) : "—";
      if ($("updated")) $("updated").textContent = lastMsg ? t("updated {time}", { time: last }) : "";
      const left = Math.ceil((retryAt - now) / 1000);
      if ($("banner-retry")) $("banner-retry").textContent = state !== "live" && retryTimer && left > 0 ? t("· retry in {n} s", { n: left }) : "";
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
    $, el, SEVS, RANK, t, N_, translate, i18n, start, sevName, roleName, stateName, kindName, pad, hms, timeText, ago,
    fmtValue, sevOf, nowSevOf, clearedUnsigned, bySeverityThenAge, names, entName, pointName, devicePoint, where,
    me, loadMe, showMe, getJSON, postJSON, showMsg, everySecond, onBeat, blink, feed,
  };
})();
