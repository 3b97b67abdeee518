// 值班预警大屏 Duty dashboard — vanilla JS, no dependencies. Also drives the login page.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const page = document.body.dataset.page;

  if (page === "login") {
    if (new URLSearchParams(location.search).has("failed")) {
      $("login-error").hidden = false;
      $("password").focus();
    }
    return;
  }
  if (page !== "dashboard") return;

  // state
  const SEVS = ["red", "orange", "yellow", "blue"];
  const RANK = { red: 4, orange: 3, yellow: 2, blue: 1 };
  const SEV_ZH = { red: "红色", orange: "橙色", yellow: "黄色", blue: "蓝色" };
  const alerts = new Map(); // id -> Alert (open alerts only)
  const rows = new Map(); // id -> {tr, key}
  const me = { name: null, role: null, csrf: null };
  let lastSeq = -1;
  let lastUpdate = null; // Date of the last message from the server
  let live = false;
  let ws = null;
  let backoff = 500;
  let retryTimer = null;
  let retryAt = 0;
  let renderQueued = false;
  let ackId = null;
  const flash = new Set(); // ids to highlight on next render

  // helpers
  const pad = (n) => String(n).padStart(2, "0");
  const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const fromEpoch = (s) => (typeof s === "number" ? new Date(s * 1000) : null);
  function timeText(s) { // HH:MM:SS today, MM-DD HH:MM:SS before
    const d = fromEpoch(s);
    if (!d) return "—";
    return d.toDateString() === new Date().toDateString() ? hms(d) : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms(d)}`;
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
  const isOfficer = () => me.role === "officer";

  function showMsg(text) { // a short-lived confirmation
    const m = $("msg");
    m.textContent = text;
    m.hidden = false;
    clearTimeout(showMsg.t);
    showMsg.t = setTimeout(() => { m.hidden = true; }, 4000);
  }

  // rendering
  function schedule() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  function sorted() {
    return [...alerts.values()].sort((a, b) =>
      (RANK[sevOf(b)] - RANK[sevOf(a)]) || ((b.opened_at || 0) - (a.opened_at || 0)) ||
      String(a.id).localeCompare(String(b.id)));
  }

  function cell(tr, label, cls, text) {
    const td = el("td", cls, text);
    td.dataset.label = label;
    tr.appendChild(td);
    return td;
  }

  function fillRow(tr, a) {
    const sev = sevOf(a);
    tr.className = `sev-${sev} state-${a.state}`;
    tr.replaceChildren();
    cell(tr, "级别", "c-sev").appendChild(el("span", `chip sev-${sev}`, SEV_ZH[sev]));
    cell(tr, "企业", "c-ent", a.enterprise);
    cell(tr, "设备", "c-dev", a.device);
    cell(tr, "测点", "c-point", a.point || "—");
    cell(tr, "规则", "c-rule", a.rule);
    cell(tr, "内容", "c-msg", a.message);
    cell(tr, "数值", "c-val num", fmtValue(a.value));
    cell(tr, "时间", "c-time", timeText(a.opened_at));

    const st = cell(tr, "状态", "c-state");
    if (a.state === "acknowledged") {
      st.appendChild(el("span", "st st-ack", "已签收 acknowledged"));
      st.appendChild(el("span", "st-by", `${a.acknowledged_by || "?"} · ${timeText(a.acknowledged_at)}`));
      if (a.ack_note) st.appendChild(el("span", "st-note", a.ack_note));
    } else {
      st.appendChild(el("span", "st st-active", "未签收 active"));
    }
    if (a.condition_active === false) st.appendChild(el("span", "st-clear", "已恢复 condition cleared"));

    const act = cell(tr, "操作", "c-act col-act");
    if (isOfficer() && a.state === "active") {
      const b = el("button", "ack-btn", "签收 Ack");
      b.type = "button";
      b.dataset.alertId = a.id;
      act.appendChild(b);
    }
  }

  function render() {
    const tbody = $("alert-rows");
    const list = sorted();
    const keep = new Set();
    let prev = null;
    for (const a of list) {
      keep.add(a.id);
      const key = `${a.updated_at}|${a.state}|${a.severity}|${a.condition_active}|${a.value}|${me.role}`;
      let r = rows.get(a.id);
      if (!r) {
        const tr = document.createElement("tr");
        tr.dataset.alertId = a.id;
        r = { tr, key: null };
        rows.set(a.id, r);
      }
      if (r.key !== key) { fillRow(r.tr, a); r.key = key; }
      if (flash.has(a.id)) {
        r.tr.classList.remove("flash");
        void r.tr.offsetWidth; // restart the animation
        r.tr.classList.add("flash");
      }
      // Keep DOM order equal to the sorted order, moving as little as possible.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    flash.clear();
    for (const [id, r] of rows) {
      if (!keep.has(id)) { r.tr.remove(); rows.delete(id); }
    }
    $("empty").hidden = list.length > 0;

    // Counts by severity.
    const count = { red: 0, orange: 0, yellow: 0, blue: 0 };
    const unack = { red: 0, orange: 0, yellow: 0, blue: 0 };
    const ents = new Map();
    for (const a of list) {
      const s = sevOf(a);
      count[s]++;
      if (a.state === "active") unack[s]++;
      const e = ents.get(a.enterprise) || { name: a.enterprise, top: s, n: 0, unack: 0 };
      if (RANK[s] > RANK[e.top]) e.top = s;
      e.n++;
      if (a.state === "active") e.unack++;
      ents.set(a.enterprise, e);
    }
    for (const s of SEVS) {
      $(`count-${s}`).textContent = String(count[s]);
      $(`unack-${s}`).textContent = unack[s] ? `未签收 ${unack[s]} unacked` : "";
      $(`count-${s}`).parentElement.classList.toggle("zero", count[s] === 0);
    }
    const totalUnack = SEVS.reduce((n, s) => n + unack[s], 0);
    document.title = `${totalUnack ? `(${totalUnack}) ` : ""}值班预警大屏 Duty dashboard`;

    // Enterprise strip.
    const strip = $("ent-strip");
    const tiles = [...ents.values()].sort((a, b) =>
      (RANK[b.top] - RANK[a.top]) || (b.n - a.n) || a.name.localeCompare(b.name));
    strip.replaceChildren();
    if (!tiles.length) strip.appendChild(el("span", "muted", "无未关闭预警 No open alerts"));
    for (const e of tiles) {
      const t = el("div", `ent-tile sev-${e.top}`);
      t.dataset.enterprise = e.name;
      t.title = `${e.name}: ${e.n} 条 open, ${e.unack} 未签收 unacked`;
      t.appendChild(el("span", "ent-name", e.name));
      t.appendChild(el("span", "ent-n", String(e.n)));
      strip.appendChild(t);
    }
    if (ackId && !alerts.has(ackId)) {
      $("ack-error").textContent = "该预警已解除 This alert is no longer open";
      $("ack-error").hidden = false;
      $("ack-submit").disabled = true;
    }
  }

  // connection status, clock
  function setStatus(state) {
    live = state === "live";
    const dot = $("conn-dot");
    dot.className = `dot ${state}`;
    const text = { live: "实时 live", connecting: "连接中 connecting", down: "连接中断 disconnected" }[state];
    dot.title = text;
    dot.setAttribute("aria-label", text);
    $("conn-text").textContent = text;
    $("conn-banner").hidden = live;
    document.body.classList.toggle("stale", !live);
    tick();
  }

  function tick() {
    const now = new Date();
    $("clock").textContent = hms(now);
    const last = lastUpdate ? hms(lastUpdate) : "—";
    $("banner-last").textContent = lastUpdate
      ? `${last} (${Math.round((now - lastUpdate) / 1000)} 秒前 s ago)` : "—";
    $("updated").textContent = lastUpdate ? `更新 updated ${last}` : "";
    const left = Math.ceil((retryAt - now.getTime()) / 1000);
    $("banner-retry").textContent = !live && retryTimer && left > 0 ? `· ${left} 秒后重试 retry in ${left}s` : "";
  }

  function showMe() {
    const roleZh = { officer: "值班员 officer", viewer: "观察员 viewer" }[me.role] || (me.role || "");
    $("user").textContent = me.name ? `${me.name} · ${roleZh}` : "…";
    document.body.classList.remove("role-unknown", "role-officer", "role-viewer");
    document.body.classList.add(`role-${me.role === "officer" ? "officer" : me.role ? "viewer" : "unknown"}`);
  }

  function setRole(name, role) {
    const changed = role !== me.role;
    if (name) me.name = name;
    if (role) me.role = role;
    showMe();
    if (changed) schedule();
    if (!isOfficer() && ackId) closeAck();
  }

  async function loadMe() {
    try {
      const r = await fetch("/api/v1/me", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.href = "/login"; return false; }
      if (!r.ok) return true;
      const d = await r.json();
      me.csrf = d.csrf || null;
      setRole(d.name, d.role);
    } catch (_) { /* offline: the socket loop retries */ }
    return true;
  }

  // WebSocket feed
  const decoder = new TextDecoder();

  function apply(ev) {
    const a = ev && ev.alert;
    if (!a || a.id == null) return;
    if (ev.kind === "resolved" || a.state === "resolved") {
      alerts.delete(a.id);
    } else {
      const old = alerts.get(a.id);
      alerts.set(a.id, a);
      if (!old || ev.kind === "raised" || ev.kind === "escalated" || RANK[sevOf(a)] > RANK[sevOf(old)]) flash.add(a.id);
    }
  }

  function onMessage(e) {
    let msg;
    try {
      msg = JSON.parse(typeof e.data === "string" ? e.data : decoder.decode(e.data));
    } catch (_) { return; }
    lastUpdate = new Date();
    if (msg.type === "snapshot") {
      alerts.clear();
      for (const a of msg.alerts || []) if (a.state !== "resolved") alerts.set(a.id, a);
      lastSeq = typeof msg.seq === "number" ? msg.seq : -1;
      backoff = 500; // only a real snapshot proves the server is healthy
      if (msg.me) setRole(msg.me.name, msg.me.role);
      if (!me.csrf) loadMe();
      setStatus("live");
      schedule();
    } else if (msg.type === "event") {
      if (typeof msg.seq === "number") {
        if (msg.seq <= lastSeq) return; // already in the snapshot
        lastSeq = msg.seq;
      }
      apply(msg.event);
      schedule();
    }
    tick();
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws && ws.readyState <= WebSocket.OPEN) return;
    setStatus("connecting");
    let gotSnapshot = false;
    const sock = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`);
    sock.binaryType = "arraybuffer";
    ws = sock;
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      onMessage(e);
      if (live) gotSnapshot = true;
    };
    sock.onclose = async (e) => {
      if (ws !== sock) return;
      ws = null;
      setStatus("down");
      if (e.code === 4401) { location.href = "/login"; return; }
      // A refused handshake reaches us as 1006: check whether the session expired.
      if (!gotSnapshot && !(await loadMe())) return;
      const delay = backoff;
      backoff = Math.min(backoff * 2, 10000);
      retryAt = Date.now() + delay;
      retryTimer = setTimeout(connect, delay);
      tick();
    };
    sock.onerror = () => { /* onclose follows */ };
  }

  // Reconnect at once when the network or the page comes back.
  function kick() { if (!ws && document.visibilityState !== "hidden") connect(); }
  window.addEventListener("online", kick);
  document.addEventListener("visibilitychange", kick);

  // acknowledging
  const dlg = $("ack-dialog");

  function openAck(id) {
    const a = alerts.get(id);
    if (!a || !isOfficer()) return;
    ackId = id;
    $("ack-what").textContent = `[${SEV_ZH[sevOf(a)]}] ${a.enterprise} · ${a.device}${a.point ? ` · ${a.point}` : ""} — ${a.message}`;
    $("ack-note").value = "";
    $("ack-error").hidden = true;
    $("ack-submit").disabled = false;
    if (dlg.showModal) dlg.showModal(); else dlg.setAttribute("open", "");
    $("ack-note").focus();
  }

  function closeAck() {
    ackId = null;
    if (dlg.close) dlg.close(); else dlg.removeAttribute("open");
  }

  async function submitAck() {
    const id = ackId;
    if (!id) return;
    const err = $("ack-error");
    const btn = $("ack-submit");
    btn.disabled = true;
    err.hidden = true;
    try {
      if (!me.csrf) await loadMe();
      const r = await fetch(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf || "" },
        body: JSON.stringify({ note: $("ack-note").value.trim() }),
      });
      let body = null;
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 401) { location.href = "/login"; return; }
      if (!r.ok) throw new Error((body && body.error) || `HTTP ${r.status}`);
      // Show the result now, unless the feed already brought something newer (or resolved it).
      const cur = body && alerts.get(body.id);
      if (cur && body.state !== "resolved" && (body.updated_at || 0) >= (cur.updated_at || 0)) {
        alerts.set(body.id, body);
        schedule();
      }
      closeAck();
      showMsg(`已签收 Acknowledged: ${body ? `${body.enterprise} · ${body.device}` : id}`);
    } catch (e) {
      err.textContent = `签收失败 Ack failed: ${e.message || e}`;
      err.hidden = false;
      btn.disabled = false;
    }
  }

  $("alert-rows").addEventListener("click", (e) => {
    const b = e.target.closest(".ack-btn");
    if (b) openAck(b.dataset.alertId || b.closest("tr").dataset.alertId);
  });
  $("ack-form").addEventListener("submit", (e) => { e.preventDefault(); submitAck(); });
  $("ack-cancel").addEventListener("click", closeAck);
  dlg.addEventListener("close", () => { ackId = null; });

  // start
  setInterval(tick, 1000);
  tick();
  loadMe().then((ok) => { if (ok) connect(); });
})();
