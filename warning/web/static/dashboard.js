// 值班预警大屏 The big screen (and its phone layout): counts, four-colour map, shift trend,
// counts by enterprise, the live alert list, sound and pop-up for new orange/red alerts,
// signing for alerts. Data: /api/v1/dash/site and /trend over HTTP, alerts over /ws.
"use strict";

(() => {
  const { $, el, SEVS, RANK, SEV_ZH, timeText, ago, fmtValue, sevOf, bySeverityThenAge, where, me } = W;
  const alerts = new Map(); // id -> open alert
  const rows = new Map(); // id -> {tr, key, age}
  const flash = new Set();
  let enterprises = []; // from /api/v1/dash/site
  let trend = null; // {start, bucket, now, buckets}
  let renderQueued = false;
  let ackId = null;
  let ready = false; // the first snapshot arrived: later "raised" events are news

  const SHIFT_HOURS = 8;
  const TREND_BUCKET = 900;

  function schedule() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  // alert list
  function cell(tr, label, cls, text) {
    const td = el("td", cls, text);
    td.dataset.label = label;
    tr.appendChild(td);
    return td;
  }

  function fillRow(r, a) {
    const tr = r.tr;
    const sev = sevOf(a);
    tr.className = `sev-${sev} state-${a.state}`;
    tr.replaceChildren();
    cell(tr, "级别", "c-sev").appendChild(el("span", `chip sev-${sev}`, SEV_ZH[sev]));
    cell(tr, "企业", "c-ent", a.enterprise);
    cell(tr, "设备", "c-dev", a.device);
    cell(tr, "测点", "c-point", a.point || "—");
    const link = el("a", "detail-link", a.message);
    link.href = `/alert/${encodeURIComponent(a.id)}`;
    cell(tr, "内容", "c-msg").appendChild(link);
    cell(tr, "数值", "c-val num", fmtValue(a.value));
    cell(tr, "时间", "c-time", timeText(a.opened_at));
    r.age = cell(tr, "持续", "c-age", ago(a.opened_at));
    const st = cell(tr, "状态", "c-state");
    if (a.state === "active") {
      st.appendChild(el("span", "st st-active", W.STATE_ZH.active));
    } else {
      st.appendChild(el("span", "st st-ack", W.STATE_ZH[a.state] || a.state));
      st.appendChild(el("span", "st-by", `${a.acknowledged_by || "?"} · ${timeText(a.acknowledged_at)}`));
      if (a.ack_note) st.appendChild(el("span", "st-note", a.ack_note));
    }
    if (a.condition_active === false) st.appendChild(el("span", "st-clear", "已恢复 condition cleared"));
    const act = cell(tr, "操作", "c-act col-act");
    if (me.can_act && a.state === "active") {
      const b = el("button", "ack-btn", "签收 Ack");
      b.type = "button";
      b.dataset.alertId = a.id;
      act.appendChild(b);
    }
  }

  function renderList(list) {
    const tbody = $("alert-rows");
    const keep = new Set();
    let prev = null;
    for (const a of list) {
      keep.add(a.id);
      const key = `${a.updated_at}|${a.state}|${a.severity}|${a.condition_active}|${a.value}|${me.can_act}`;
      let r = rows.get(a.id);
      if (!r) {
        const tr = document.createElement("tr");
        tr.dataset.alertId = a.id;
        r = { tr, key: null, age: null, opened: a.opened_at };
        rows.set(a.id, r);
      }
      if (r.key !== key) { fillRow(r, a); r.key = key; }
      if (flash.has(a.id)) {
        r.tr.classList.remove("flash");
        void r.tr.offsetWidth; // restart the animation
        r.tr.classList.add("flash");
      }
      const want = prev ? prev.nextSibling : tbody.firstChild; // keep DOM order = sorted order, moving little
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    flash.clear();
    for (const [id, r] of rows) if (!keep.has(id)) { r.tr.remove(); rows.delete(id); }
    $("empty").hidden = list.length > 0;
  }

  function renderCounts(list) {
    const count = { red: 0, orange: 0, yellow: 0, blue: 0 };
    const unack = { red: 0, orange: 0, yellow: 0, blue: 0 };
    const ents = new Map();
    for (const a of list) {
      const s = sevOf(a);
      count[s]++;
      if (a.state === "active") unack[s]++;
      const e = ents.get(a.enterprise) || { id: a.enterprise, top: s, red: 0, orange: 0, yellow: 0, blue: 0, unack: 0 };
      if (RANK[s] > RANK[e.top]) e.top = s;
      e[s]++;
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

    const names = new Map(enterprises.map((e) => [e.id, e.name]));
    const tb = $("ent-counts");
    tb.replaceChildren();
    const sorted = [...ents.values()].sort((a, b) => (RANK[b.top] - RANK[a.top]) ||
      (b.red - a.red) || (b.orange - a.orange) || (b.unack - a.unack) || a.id.localeCompare(b.id));
    for (const e of sorted) {
      const tr = el("tr", `sev-${e.top}`);
      tr.dataset.enterprise = e.id;
      const name = el("td", "ent-name");
      const link = el("a", null, names.get(e.id) ? `${e.id} ${names.get(e.id)}` : e.id);
      link.href = `/e/${encodeURIComponent(e.id)}`;
      name.appendChild(link);
      tr.appendChild(name);
      for (const s of SEVS) tr.appendChild(el("td", `num${e[s] ? ` has-${s}` : ""}`, e[s] ? String(e[s]) : "·"));
      tr.appendChild(el("td", "num", String(e.unack)));
      tb.appendChild(tr);
    }
    $("ent-empty").hidden = ents.size > 0;
    return ents;
  }

  // four-colour map
  let mapNodes = null; // id -> {g, circle}
  function buildMap() {
    const box = $("map");
    const W_ = 1000;
    let located = enterprises.filter((e) => Array.isArray(e.location) && e.location.length === 2);
    if (located.length < 3) located = []; // too few places for a map: a grid reads better
    const unlocated = enterprises.filter((e) => !located.includes(e));
    const gridCols = Math.max(1, Math.min(10, Math.ceil(Math.sqrt(unlocated.length * 2.5))));
    const gridRows = Math.ceil(unlocated.length / gridCols);
    const geoH = located.length ? 560 : 0;
    const H = geoH + gridRows * 90 + 20;
    const svg = Charts.svg("svg", { viewBox: `0 0 ${W_} ${Math.max(H, 120)}`, class: "mapsvg", role: "img", "aria-label": "四色风险图 risk map" });
    const pos = new Map();
    if (located.length) {
      const lons = located.map((e) => e.location[0]);
      const lats = located.map((e) => e.location[1]);
      const [lon0, lon1, lat0, lat1] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
      const k = Math.cos(((lat0 + lat1) / 2) * Math.PI / 180); // equirectangular: shrink longitudes
      const spanX = Math.max((lon1 - lon0) * k, 1e-6);
      const spanY = Math.max(lat1 - lat0, 1e-6);
      const scale = Math.min((W_ - 160) / spanX, (geoH - 100) / spanY);
      const ox = (W_ - spanX * scale) / 2;
      const oy = (geoH - spanY * scale) / 2;
      for (const e of located) {
        pos.set(e.id, [ox + (e.location[0] - lon0) * k * scale, oy + (lat1 - e.location[1]) * scale]);
      }
    }
    const cw = W_ / gridCols;
    unlocated.forEach((e, i) => pos.set(e.id, [cw * (i % gridCols) + cw / 2, geoH + 45 + Math.floor(i / gridCols) * 90]));
    mapNodes = new Map();
    for (const e of enterprises) {
      const [x, y] = pos.get(e.id);
      const a = Charts.svg("a", { href: `/e/${encodeURIComponent(e.id)}`, class: "ent-node sev-none" }, svg);
      a.dataset.enterprise = e.id;
      const c = Charts.svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 22, class: "ent-dot" }, a);
      const t = Charts.svg("text", { x: x.toFixed(1), y: (y + 44).toFixed(1), "text-anchor": "middle", class: "ent-label" }, a);
      t.textContent = e.id; // the name only for orange/red (paintMap): a dense map stays readable
      const n = Charts.svg("text", { x: x.toFixed(1), y: (y + 6).toFixed(1), "text-anchor": "middle", class: "ent-count" }, a);
      const title = Charts.svg("title", {}, a);
      title.textContent = `${e.id} ${e.name || ""}`;
      mapNodes.set(e.id, { a, c, n, t, title, name: e.name });
    }
    box.replaceChildren(svg);
    $("map-mode").textContent = located.length ? (unlocated.length ? "地理 + 网格 geographic + grid" : "地理坐标 geographic") : "网格 grid";
  }

  function paintMap(ents) {
    if (!mapNodes) return;
    const order = [...mapNodes.keys()].sort((a, b) => // draw the most severe last: on top
      (RANK[ents.get(a) ? ents.get(a).top : ""] || 0) - (RANK[ents.get(b) ? ents.get(b).top : ""] || 0));
    const key = order.join(",");
    const svg = mapNodes.get(order[0]) && mapNodes.get(order[0]).a.parentNode;
    if (svg && key !== paintMap.order) { // move nodes only when the order changed
      paintMap.order = key;
      for (const id of order) svg.appendChild(mapNodes.get(id).a);
    }
    for (const [id, node] of mapNodes) {
      const e = ents.get(id);
      const sev = e ? e.top : "none";
      node.a.setAttribute("class", `ent-node sev-${sev}${e && e.unack ? " unacked" : ""}`);
      node.n.textContent = e ? String(SEVS.reduce((k, s) => k + e[s], 0)) : "";
      // names for orange and red only: they are what the room must read at a glance
      node.t.textContent = e && RANK[e.top] >= RANK.orange && node.name && node.name !== id ? `${id} ${node.name.slice(0, 6)}` : id;
      node.title.textContent = `${id} ${node.name || ""}${e ? ` · ${SEV_ZH[e.top]} · ${e.unack} 未签收 unacked` : " · 正常 normal"}`;
    }
  }

  // trend over the shift
  async function loadTrend() {
    try {
      trend = await W.getJSON(`/api/v1/dash/trend?hours=${SHIFT_HOURS}&bucket=${TREND_BUCKET}`);
      drawTrend();
    } catch (_) { /* the next resync retries */ }
  }
  function drawTrend() {
    if (!trend) return;
    trend.now = Date.now() / 1000;
    Charts.bars($("trend"), trend.buckets, trend);
  }
  function countRaised(ev) {
    if (!trend || ev.kind !== "raised") return;
    const t = Math.floor(ev.at / trend.bucket) * trend.bucket;
    let b = trend.buckets.find((x) => x.t === t);
    if (!b) { b = { t, red: 0, orange: 0, yellow: 0, blue: 0 }; trend.buckets.push(b); }
    b[sevOf(ev.alert)]++;
  }

  function render() {
    const list = [...alerts.values()].sort(bySeverityThenAge);
    renderList(list);
    paintMap(renderCounts(list));
    drawTrend();
    if (ackId && !alerts.has(ackId)) {
      $("ack-error").textContent = "该预警已解除 This alert is no longer open";
      $("ack-error").hidden = false;
      $("ack-submit").disabled = true;
    }
  }

  // sound and pop-up for new orange and red alerts (mute per session)
  let audio = null;
  const muted = () => sessionStorage.getItem("warning-muted") === "1";
  function showMute() {
    const b = $("mute");
    b.textContent = muted() ? "已静音 Muted" : "声音开 Sound on";
    b.setAttribute("aria-pressed", String(muted()));
  }
  function unlockAudio() { // browsers allow sound only after a gesture on the page
    if (audio || !window.AudioContext) return;
    try { audio = new AudioContext(); } catch (_) { audio = null; }
  }
  function beep(sev) {
    if (muted() || !audio || audio.state !== "running") return;
    const tones = sev === "red" ? [880, 660, 880, 660] : [660, 660];
    tones.forEach((f, i) => {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.value = 0.15;
      o.connect(g).connect(audio.destination);
      const t = audio.currentTime + i * 0.25;
      o.start(t);
      o.stop(t + 0.2);
    });
  }
  const popupQueue = [];
  function announce(a) {
    const sev = sevOf(a);
    if (RANK[sev] < RANK.orange) return;
    beep(sev);
    const i = popupQueue.findIndex((x) => x.id === a.id);
    if (i >= 0) popupQueue.splice(i, 1);
    popupQueue.unshift(a);
    showPopup();
  }
  function showPopup() {
    const p = $("popup");
    const a = popupQueue[0];
    if (!a) { p.hidden = true; return; }
    const sev = sevOf(a);
    p.className = `popup sev-${sev}`;
    $("popup-title").textContent = `${SEV_ZH[sev]}预警 ${sev.toUpperCase()} ALERT`;
    $("popup-text").textContent = `${where(a)} — ${a.message}`;
    $("popup-more").textContent = `${timeText(a.opened_at)}${popupQueue.length > 1 ? ` · 另有 ${popupQueue.length - 1} 条 more` : ""}`;
    $("popup-open").href = `/alert/${encodeURIComponent(a.id)}`;
    p.dataset.alertId = a.id;
    p.hidden = false;
  }
  $("popup-close").addEventListener("click", () => { popupQueue.shift(); showPopup(); });
  $("mute").addEventListener("click", () => {
    sessionStorage.setItem("warning-muted", muted() ? "0" : "1");
    unlockAudio();
    showMute();
  });
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  showMute();

  // the feed
  function apply(ev) {
    const a = ev && ev.alert;
    if (!a || a.id == null) return;
    countRaised(ev);
    if (ev.kind === "resolved" || a.state === "resolved") {
      alerts.delete(a.id);
      const i = popupQueue.findIndex((x) => x.id === a.id);
      if (i >= 0) { popupQueue.splice(i, 1); showPopup(); }
      return;
    }
    const old = alerts.get(a.id);
    alerts.set(a.id, a);
    const worse = old && RANK[sevOf(a)] > RANK[sevOf(old)];
    if (!old || ev.kind === "raised" || ev.kind === "escalated" || worse) flash.add(a.id);
    if (ready && a.state === "active" && (ev.kind === "raised" || worse)) announce(a);
    if (a.state !== "active") {
      const i = popupQueue.findIndex((x) => x.id === a.id);
      if (i >= 0) { popupQueue.splice(i, 1); showPopup(); }
    }
  }

  W.feed({
    snapshot(list) {
      alerts.clear();
      for (const a of list) if (a.state !== "resolved") alerts.set(a.id, a);
      ready = true;
      schedule();
    },
    missed(events) {
      if (events === null) loadTrend(); // restarted or too far behind: reload the history
      else for (const ev of events) if (ev.kind === "raised") countRaised(ev);
      schedule();
    },
    event(ev) { apply(ev); schedule(); },
    status() { schedule(); },
  });

  W.everySecond(() => {
    for (const r of rows.values()) if (r.age) r.age.textContent = ago(r.opened);
  });
  setInterval(drawTrend, 60000);

  W.getJSON("/api/v1/dash/site").then((site) => {
    enterprises = site.enterprises;
    buildMap();
    schedule();
  }).catch((e) => W.showMsg(`加载企业失败 could not load enterprises: ${e.message}`, true));
  loadTrend();

  // acknowledging
  const dlg = $("ack-dialog");
  function openAck(id) {
    const a = alerts.get(id);
    if (!a || !me.can_act) return;
    ackId = id;
    $("ack-what").textContent = `[${SEV_ZH[sevOf(a)]}] ${where(a)} — ${a.message}`;
    $("ack-note").value = "";
    $("ack-error").hidden = true;
    $("ack-submit").disabled = false;
    dlg.showModal();
    $("ack-note").focus();
  }
  function closeAck() { ackId = null; dlg.close(); }
  async function submitAck() {
    const id = ackId;
    if (!id) return;
    $("ack-submit").disabled = true;
    $("ack-error").hidden = true;
    const r = await W.postJSON(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { note: $("ack-note").value.trim() });
    if (!r.ok) {
      $("ack-error").textContent = `签收失败 Ack failed: ${r.error}`;
      $("ack-error").hidden = false;
      $("ack-submit").disabled = false;
      return;
    }
    const body = r.body;
    const cur = body && alerts.get(body.id); // show it now unless the feed brought something newer
    if (cur && body.state !== "resolved" && (body.updated_at || 0) >= (cur.updated_at || 0)) {
      alerts.set(body.id, body);
      schedule();
    }
    closeAck();
    W.showMsg(`已签收 Acknowledged: ${body ? where(body) : id}`);
  }
  $("alert-rows").addEventListener("click", (e) => {
    const b = e.target.closest(".ack-btn");
    if (b) openAck(b.dataset.alertId);
  });
  $("ack-form").addEventListener("submit", (e) => { e.preventDefault(); submitAck(); });
  $("ack-cancel").addEventListener("click", closeAck);
  dlg.addEventListener("close", () => { ackId = null; });
})();
