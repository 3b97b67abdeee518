// 值班预警大屏 The big screen (and its phone layout): risk warnings first (风险预警, one per
// enterprise in its colour, on the board and on the four-colour map), then the alarms: counts,
// the shift trend, counts by enterprise, the live alert list, sound and pop-ups for new
// orange/red alerts (each with its own 签收), signing for alerts. An enterprise's alarms are one
// click away (its row's alarm count and its dot lead to its page). ?kiosk=1: no chrome, the
// list pages by itself. Data: /api/v1/dash/site, /map, /trend and /api/v1/warnings over HTTP
// (re-read shortly after alert events, since warnings follow the alarms, at most once a
// second, and every 10 s for the loop's own timers), alerts over /ws.
//
// Cost per event: an event's row goes into the list at once (with the totals above it, a few
// cells); the rest (counts by enterprise, the risk board, the map, the trend) is redrawn at the
// page's next beat (common.js: twice a second, the frame in which whatever blinks turns anyway;
// the trend once per TREND_MS), never in the frame that paints a new row. At 4 events/s,
// redrawing everything per event cost ~90 ms.
"use strict";

W.start(() => {
  const { $, el, t, SEVS, RANK, sevName, stateName, timeText, ago, fmtValue, sevOf, nowSevOf, clearedUnsigned,
    bySeverityThenAge, where, entName, me } = W;
  const alerts = new Map(); // id -> open alert
  const rows = new Map(); // id -> {tr, key, age}
  const flash = new Set();
  let enterprises = []; // from /api/v1/dash/site
  let riskMap = null;
  let trend = null; // {start, bucket, now, buckets}
  let frameQueued = false;
  let listDirty = false; // the whole list must be diffed again (snapshot, names, a sign-for)
  let pageDirty = false; // kiosk: rows came or went, the pages must be cut again
  let slowWanted = false; // counts by enterprise, the board, the map: redraw at the next beat
  let rowThisFrame = false; // a row changed since the last frame: that frame paints it, nothing else
  let lastTrend = -Infinity;
  let trendWanted = false;
  let slowNow = false; // the slower parts in the next frame without a new row, not at the next beat
  const FLASH_MS = 2400; // a new or risen row blinks this long (4 beats)
  const TREND_MS = 1000;
  let ackId = null;
  let ready = false; // the first snapshot arrived: later "raised" events are news
  let lastEnts = new Map();
  let warnings = new Map(); // enterprise -> its open risk warning (the loop's item: one at a time)

  const SHIFT_HOURS = 8;
  const TREND_BUCKET = 900;
  const params = new URLSearchParams(location.search);
  const kiosk = params.get("kiosk") === "1";
  const PAGE_MS = Math.max(3, Number(params.get("page_s")) || 12) * 1000;
  document.body.classList.toggle("kiosk", kiosk);
  $("kiosk-bar").hidden = !kiosk;
  if (kiosk) $("alerts-title").appendChild($("kiosk-bar")); // the clock and sound beside the list's title: over nothing

  // schedule(): everything again (the list diffed, the slow parts when due); schedule(false):
  // only what an event's own row change left to do.
  function schedule(all = true) {
    if (all) { listDirty = true; slowWanted = true; }
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(frame);
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
    heights.delete(tr); // the kiosk measures it again
    const sev = sevOf(a);
    const cleared = clearedUnsigned(a);
    tr.className = `sev-${sev} state-${a.state}${cleared ? " cleared-unsigned" : ""}`;
    tr.replaceChildren();
    const lvl = cell(tr, t("Level"), "c-sev");
    lvl.appendChild(el("span", `chip sev-${sev}`, sevName(sev)));
    if (nowSevOf(a) !== sev) lvl.appendChild(el("span", "sev-now", t("now {level}", { level: sevName(nowSevOf(a)) })));
    const ent = cell(tr, t("Enterprise"), "c-ent");
    ent.appendChild(el("span", "ent-full", RiskMap.shortName(entName(a)) || a.enterprise));
    ent.title = `${a.enterprise} ${entName(a)}`;
    cell(tr, t("Device · point"), "c-where", W.devicePoint(a)).title = `${a.device} · ${a.point || ""}`;
    const link = el("a", "detail-link", a.message);
    link.href = `/alert/${encodeURIComponent(a.id)}`;
    link.title = a.message || "";
    cell(tr, t("Message"), "c-msg").appendChild(link);
    cell(tr, t("Value"), "c-val num", fmtValue(a.value));
    cell(tr, t("Opened"), "c-time", timeText(a.opened_at));
    r.age = cell(tr, t("Open for"), "c-age", ago(a.opened_at));
    const st = cell(tr, t("State"), "c-state");
    if (cleared) {
      st.appendChild(el("span", "st st-cleared-unsigned", t("Cleared, not signed for")));
    } else if (a.state === "active") {
      st.appendChild(el("span", "st st-active", stateName("active")));
    } else {
      st.appendChild(el("span", "st st-ack", stateName(a.state)));
      const by = el("span", "st-by", `${a.acknowledged_by || "?"} · ${timeText(a.acknowledged_at)}${a.ack_note ? ` · ${a.ack_note}` : ""}`);
      if (a.ack_note) by.title = a.ack_note;
      st.appendChild(by);
      if (a.condition_active === false) st.appendChild(el("span", "st-clear", t("condition cleared")));
    }
    const act = cell(tr, t("Action"), "c-act col-act");
    if (me.can_act && a.state === "active") {
      const b = el("button", "ack-btn", t("Sign for"));
      b.type = "button";
      b.dataset.alertId = a.id;
      act.appendChild(b);
    }
  }

  const rowAlert = new WeakMap(); // tr -> the alert it shows (for the sorted place of a new row)
  function rowFor(a) {
    const key = `${a.updated_at}|${a.state}|${a.severity}|${a.peak_severity}|${a.condition_active}|${a.value}|${me.can_act}|${entName(a)}`;
    let r = rows.get(a.id);
    if (!r) {
      const tr = document.createElement("tr");
      tr.dataset.alertId = a.id;
      tr.dataset.enterprise = a.enterprise; // codes for scripts (bench/dashboard_bench.py): the cells show names
      tr.dataset.device = a.device;
      r = { tr, key: null, age: null, opened: a.opened_at };
      rows.set(a.id, r);
    }
    if (r.key !== key) { fillRow(r, a); r.key = key; }
    rowAlert.set(r.tr, a);
    if (flash.has(a.id)) {
      flash.delete(a.id);
      W.blink(r.tr, "flash", FLASH_MS); // with the page's beat (common.js): no frame of its own
    }
    return r;
  }

  // The page holds the worst LIST_STEP alerts of the list, and LIST_STEP more each time the
  // officer scrolls to its end (or presses 显示更多); the counts, the map and the board count
  // them all. Every row in the page is laid out, painted and restyled again whenever the list
  // moves: with 400 open alerts (a shift in which nobody signs), 4 new ones a second cost
  // 0.65 s of Chromium's main thread per second, 0.38 with only 40 rows in the page (the rest
  // display: none). The kiosk keeps every row: it pages through them all, hiding the others.
  const LIST_STEP = 60;
  let listLimit = LIST_STEP;
  const capped = !kiosk;

  function renderList(list) {
    const tbody = $("alert-rows");
    const keep = new Set();
    let prev = null;
    const shown = capped ? list.slice(0, listLimit) : list;
    for (const a of shown) {
      keep.add(a.id);
      const r = rowFor(a);
      const want = prev ? prev.nextSibling : tbody.firstChild; // keep DOM order = sorted order, moving little
      if (want !== r.tr) tbody.insertBefore(r.tr, want);
      prev = r.tr;
    }
    flash.clear();
    for (const id of [...rows.keys()]) if (!keep.has(id)) dropRow(id);
    $("empty").hidden = list.length > 0;
    noteBelow();
  }

  // `rows` holds exactly the rows in the page: each one made is put in at once, each taken out is dropped.
  function dropRow(id) {
    const r = rows.get(id);
    if (r) { r.tr.remove(); rows.delete(id); }
  }

  // One event's row, now: filled, put in its sorted place (or taken out), with the totals. The
  // page keeps the worst listLimit rows in order; where one event cannot tell what the window
  // holds now (a row left it, or moved down to its end), the next frame sorts the list again.
  function placeRow(id) {
    const tbody = $("alert-rows");
    const a = alerts.get(id);
    const own = rows.get(id);
    const inPage = own !== undefined;
    if (!a) {
      dropRow(id);
      if (inPage && capped && alerts.size > tbody.children.length) listDirty = true; // the next alert moves up
    } else {
      let before = null;
      for (const tr of tbody.children) {
        if (inPage && tr === own.tr) continue;
        const b = rowAlert.get(tr);
        if (b && bySeverityThenAge(a, b) < 0) { before = tr; break; }
      }
      // After every row in the page, with alerts left out of it: beyond the window if it was not
      // in the page; if it was, one of those left out may come before it now.
      if (capped && before === null && (inPage ? alerts.size > listLimit : tbody.children.length >= listLimit)) {
        if (inPage) { dropRow(id); listDirty = true; }
        flash.delete(id);
      } else {
        const r = rowFor(a);
        if (r.tr.parentNode !== tbody || r.tr.nextSibling !== before) tbody.insertBefore(r.tr, before);
        if (capped && tbody.children.length > listLimit) dropRow(rowAlert.get(tbody.lastElementChild).id);
      }
    }
    $("empty").hidden = alerts.size > 0;
    noteBelow();
    renderTotals();
    pageDirty = true;
    rowThisFrame = true;
    schedule(false);
    slowWanted = true;
  }

  // "N more alerts" below the list, and the next LIST_STEP rows when it comes into view.
  const below = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    showMore();
  });
  function showMore() {
    listLimit += LIST_STEP;
    listDirty = true;
    schedule(false);
    below.unobserve($("list-more")); // observed again once drawn: a callback if it is still in view
  }
  $("list-more-btn").addEventListener("click", showMore);
  function noteBelow() {
    const more = capped ? alerts.size - $("alert-rows").children.length : 0;
    const box = $("list-more");
    box.hidden = more <= 0;
    if (more > 0) {
      $("list-more-text").textContent = t("{n} more alerts", { n: more });
      below.observe(box);
    } else below.unobserve(box);
  }

  // ?kiosk=1: the list shows what fits and turns the page every PAGE_MS. Each row's height is
  // measured once, while it is shown (again after its content changed, a resize or the fonts
  // arriving), and a row's hidden flag is set only when it changes: showing every row to
  // measure them all, then hiding the other pages again, at every new row made the kiosk
  // restyle and lay out the whole list per event (400 open alerts, 4 new a second: 0.95 s of
  // Chromium's main thread per second, nearly all of it that).
  let page = 0;
  let pages = [];
  let heights = new WeakMap(); // tr -> its height in the list
  function paginate(again = true) {
    if (!kiosk) return;
    const height = $("alert-box").clientHeight;
    const trs = [...$("alert-rows").children];
    const todo = trs.filter((tr) => !heights.has(tr));
    for (const tr of todo) tr.hidden = false;
    for (const tr of todo) heights.set(tr, tr.offsetHeight); // the first read lays out, the rest reuse it
    const avail = $("alert-box").clientHeight - $("alert-rows").offsetTop - 2;
    pages = [];
    let start = 0;
    let used = 0;
    trs.forEach((tr, i) => {
      const h = heights.get(tr);
      if (used + h > avail && i > start) { pages.push([start, i]); start = i; used = 0; }
      used += h;
    });
    if (trs.length) pages.push([start, trs.length]);
    if (page >= pages.length) page = 0;
    const [lo, hi] = pages[page] || [0, 0];
    trs.forEach((tr, i) => {
      const hide = i < lo || i >= hi;
      if (tr.hidden !== hide) tr.hidden = hide;
    });
    $("page-no").textContent = pages.length > 1 ? t("page {i} of {n}", { i: page + 1, n: pages.length }) : "";
    if (again && $("alert-box").clientHeight !== height) paginate(false); // the title changed the room: once more
  }
  function measureAgain() {
    heights = new WeakMap();
    paginate();
  }
  if (kiosk) setInterval(() => { if (pages.length > 1) { page = (page + 1) % pages.length; paginate(); } }, PAGE_MS);
  window.addEventListener("resize", measureAgain);
  if (kiosk) document.fonts.ready.then(measureAgain);

  // The four totals and the title: a few cells, with every row change.
  let totalsKey = "";
  function renderTotals() {
    const count = { red: 0, orange: 0, yellow: 0, blue: 0 };
    const unack = { red: 0, orange: 0, yellow: 0, blue: 0 };
    for (const a of alerts.values()) {
      const s = sevOf(a);
      count[s]++;
      if (a.state === "active") unack[s]++;
    }
    const key = SEVS.map((s) => `${count[s]}/${unack[s]}`).join(",");
    if (key === totalsKey) return;
    totalsKey = key;
    for (const s of SEVS) {
      $(`count-${s}`).textContent = String(count[s]);
      $(`unack-${s}`).textContent = unack[s] ? t("{n} not signed for", { n: unack[s] }) : "";
      $(`count-${s}`).parentElement.classList.toggle("zero", count[s] === 0);
    }
    const totalUnack = SEVS.reduce((n, s) => n + unack[s], 0);
    document.title = `${totalUnack ? `(${totalUnack}) ` : ""}${t("Duty dashboard")}`;
  }

  // Open alarms by enterprise (for the table, the board's alarm counts and the map).
  function tallyEnts() {
    const ents = new Map();
    for (const a of alerts.values()) {
      const s = sevOf(a);
      const e = ents.get(a.enterprise) || { id: a.enterprise, name: entName(a), top: s, red: 0, orange: 0, yellow: 0, blue: 0, unack: 0, cleared: 0 };
      if (RANK[s] > RANK[e.top]) e.top = s;
      e[s]++;
      if (a.state === "active") e.unack++;
      if (clearedUnsigned(a)) e.cleared++;
      ents.set(a.enterprise, e);
    }
    return ents;
  }

  // A table whose rows are kept by id: a row is built again only when its key changed, and
  // rows move only when out of order. Rebuilding the counts by enterprise and the risk board
  // whole (a thousand elements with 120 enterprises in alarm) at every redraw made its layout
  // the biggest in the page.
  function keyedRows(tbody) {
    const kept = new Map(); // id -> {tr, key}
    return (items, idOf, keyOf, build) => {
      const ids = new Set();
      let prev = null;
      for (const item of items) {
        const id = idOf(item);
        const key = keyOf(item);
        ids.add(id);
        let r = kept.get(id);
        if (!r || r.key !== key) {
          const tr = build(item);
          if (r) r.tr.replaceWith(tr);
          r = { tr, key };
          kept.set(id, r);
        }
        const want = prev ? prev.nextSibling : tbody.firstChild;
        if (want !== r.tr) tbody.insertBefore(r.tr, want);
        prev = r.tr;
      }
      for (const [id, r] of kept) if (!ids.has(id)) { r.tr.remove(); kept.delete(id); }
    };
  }

  let entRows = null;
  function renderEnts(ents) {
    const sorted = [...ents.values()].sort((a, b) => (RANK[b.top] - RANK[a.top]) ||
      (b.red - a.red) || (b.orange - a.orange) || (b.unack - a.unack) || a.id.localeCompare(b.id));
    entRows = entRows || keyedRows($("ent-counts"));
    entRows(sorted, (e) => e.id,
      (e) => `${e.top}:${e.red}:${e.orange}:${e.yellow}:${e.blue}:${e.unack}:${W.names.get(e.id) || e.name}`, (e) => {
        const tr = el("tr", `sev-${e.top}`);
        tr.dataset.enterprise = e.id;
        const name = el("td", "ent-name");
        const link = el("a", null, RiskMap.shortName(W.names.get(e.id) || e.name) || e.id);
        link.href = `/e/${encodeURIComponent(e.id)}`;
        link.title = e.id;
        name.appendChild(link);
        tr.appendChild(name);
        for (const s of SEVS) tr.appendChild(el("td", `num${e[s] ? ` has-${s}` : ""}`, e[s] ? String(e[s]) : "·"));
        tr.appendChild(el("td", "num", String(e.unack)));
        return tr;
      });
    $("ent-empty").hidden = ents.size > 0;
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
    lastTrend = performance.now();
    trendWanted = false;
    trend.now = Date.now() / 1000;
    if (!trendSize) measureTrend();
    Charts.bars($("trend"), trend.buckets, { ...trend, sevName, width: trendSize[0], height: trendSize[1] });
  }
  // The trend is drawn in its box's pixels; the size is read on start and on resize only, never
  // in the middle of a render (reading layout there would force the browser to lay out the list).
  let trendSize = null;
  function measureTrend() {
    const box = $("trend");
    const wall = matchMedia("(min-width: 1280px) and (min-height: 640px)").matches;
    trendSize = [box.clientWidth, wall ? box.clientHeight : box.clientWidth / 4];
  }
  function countRaised(ev) {
    if (!trend || ev.kind !== "raised") return;
    const t0 = Math.floor(ev.at / trend.bucket) * trend.bucket;
    let b = trend.buckets.find((x) => x.t === t0);
    if (!b) { b = { t: t0, red: 0, orange: 0, yellow: 0, blue: 0 }; trend.buckets.push(b); }
    b[sevOf(ev.alert)]++;
  }

  // risk warnings: the board, worst first then newest; the map takes their colours
  const seenWarnings = new Map(); // id -> level, to flash a new or risen warning
  let warningsBusy = false;
  let warningsAgain = false;
  let warningsAt = -Infinity;
  async function loadWarnings() {
    if (warningsBusy) { warningsAgain = true; return; } // one read at a time; one more after it
    warningsBusy = true;
    warningsAt = performance.now();
    try {
      const list = await W.getJSON("/api/v1/warnings?state=open&kind=warning");
      const next = new Map();
      for (const w of list) if (!next.has(w.enterprise)) next.set(w.enterprise, w);
      const rows = (m) => [...m.values()].map((w) => w.id).sort().join(",");
      const moved = rows(next) !== rows(warnings); // rows come or go: the board's height, the kiosk's pages
      warnings = next;
      slowWanted = true; // drawn at the next beat, or in the next frame when the board grows or shrinks
      if (moved) { slowNow = true; schedule(false); }
    } catch (_) { /* the next event or the poll retries */ } finally {
      warningsBusy = false;
      if (warningsAgain) { warningsAgain = false; warningsSoon(); }
    }
  }
  // The risk service judges an alarm event within moments: look soon (at most once a second
  // however many events come: a burst is one read) and once more when the events stop.
  let soonTimer = null;
  let lastTimer = null;
  function warningsSoon() {
    if (!soonTimer) {
      const wait = Math.max(300, warningsAt + 1000 - performance.now());
      soonTimer = setTimeout(() => { soonTimer = null; loadWarnings(); }, wait);
    }
    clearTimeout(lastTimer);
    lastTimer = setTimeout(loadWarnings, 1500);
  }
  setInterval(loadWarnings, 10000);
  let riskRows = null;
  function renderRisk(ents) {
    const list = [...warnings.values()].sort((a, b) => (RANK[b.level] - RANK[a.level]) || (b.opened_at - a.opened_at));
    const alarmsOf = (w) => { const e = ents.get(w.enterprise); return e ? e.red + e.orange + e.yellow + e.blue : 0; };
    const tally = { red: 0, orange: 0, yellow: 0, blue: 0 };
    let unsigned = 0;
    for (const w of list) {
      if (tally[w.level] !== undefined) tally[w.level]++;
      if (w.state === "open") unsigned++;
    }
    riskRows = riskRows || keyedRows($("risk-rows"));
    riskRows(list, (w) => w.id,
      (w) => `${w.level}|${w.state}|${w.street}|${w.opened_at}|${JSON.stringify(w.factors || [])}|${alarmsOf(w)}|${W.names.get(w.enterprise) || ""}`,
      (w) => {
        const tr = el("tr", `sev-${w.level} state-${w.state}`);
        tr.dataset.warning = w.id;
        tr.dataset.enterprise = w.enterprise;
        const lvl = el("td", "c-sev");
        lvl.appendChild(el("span", `chip sev-${w.level}`, sevName(w.level)));
        tr.appendChild(lvl);
        const name = el("td", "c-ent");
        const link = el("a", null, RiskMap.shortName(W.names.get(w.enterprise)) || w.enterprise);
        link.href = `/e/${encodeURIComponent(w.enterprise)}`;
        link.title = `${w.enterprise} ${W.names.get(w.enterprise) || ""}`;
        name.appendChild(link);
        tr.appendChild(name);
        tr.appendChild(el("td", null, w.street || "—"));
        tr.appendChild(el("td", "c-state", rt(w.state)));
        tr.appendChild(el("td", "c-time", timeText(w.opened_at)));
        const top = (w.factors || [])[0];
        const why = el("td", "c-why", top ? `${top.name} ${Math.round(top.share * 100)}%` : "");
        why.title = (w.factors || []).map(factorText).join("\n");
        tr.appendChild(why);
        const alarms = el("td", "c-alarms num");
        const a = el("a", null, String(alarmsOf(w)));
        a.href = `/e/${encodeURIComponent(w.enterprise)}#ent-alerts`; // its alarms: one click away
        a.title = t("Open alarms of this enterprise");
        alarms.appendChild(a);
        tr.appendChild(alarms);
        const was = seenWarnings.get(w.id);
        if ((was !== undefined && RANK[w.level] > RANK[was]) || (was === undefined && ready && seenWarnings.size)) {
          W.blink(tr, "flash", 3000); // a new or risen warning
        }
        seenWarnings.set(w.id, w.level);
        return tr;
      });
    for (const s of SEVS) {
      $(`risk-count-${s}`).textContent = String(tally[s]);
      $(`risk-count-${s}`).classList.toggle("zero", tally[s] === 0);
      $(`risk-count-${s}`).title = t("{level} risk warnings", { level: sevName(s) });
    }
    $("risk-unsigned").textContent = unsigned ? t("{n} not signed for", { n: unsigned }) : "";
    $("risk-empty").hidden = list.length > 0;
  }

  // One animation frame's work: the list, when it must be diffed again (and then the slower parts
  // too), the slower parts when the risk board gains or loses rows, and the kiosk's pages.
  function frame() {
    frameQueued = false;
    const fresh = rowThisFrame;
    rowThisFrame = false;
    if (listDirty) {
      listDirty = false;
      renderList([...alerts.values()].sort(bySeverityThenAge));
      renderTotals();
      pageDirty = true;
      slowNow = slowWanted; // the whole list again (the snapshot, names, a sign-for): everything with it
    }
    if (slowNow && slowWanted && !fresh) {
      slowNow = slowWanted = false;
      renderSlow();
    }
    if (pageDirty) { pageDirty = false; paginate(); }
    if (ackId && !alerts.has(ackId)) {
      $("ack-error").textContent = t("This alert is no longer open");
      $("ack-error").hidden = false;
      $("ack-submit").disabled = true;
    }
  }

  // The slower parts, at the page's beat: in the frame where what blinks turns anyway, not in
  // one of their own; and not in a frame that is about to paint a new row (they wait a beat).
  W.onBeat(() => {
    if (rowThisFrame) return;
    if (slowWanted) {
      slowWanted = false;
      renderSlow();
      if (kiosk) schedule(false); // the pages, cut in the frame that paints all this
    }
    if (trendWanted && performance.now() - lastTrend >= TREND_MS) drawTrend();
  });

  function renderSlow() {
    lastEnts = tallyEnts();
    renderEnts(lastEnts);
    renderRisk(lastEnts); // before the pages are cut: the board's height sets the list's room (kiosk)
    pageDirty = true;
    if (riskMap) riskMap.paint(lastEnts, sevName, warnings);
    trendWanted = true;
  }

  // Sound. Browsers play nothing until the page has had a click or a key press, and forget
  // that on every reload; so the button says "click to enable sound" until the audio is
  // really running, and only then "sound on". Muting is kept for this browser session.
  let audio = null;
  const muted = () => sessionStorage.getItem("warning-muted") === "1";
  const unlocked = () => !!audio && audio.state === "running";
  function showSound() {
    const locked = !muted() && !unlocked();
    const text = muted() ? t("Muted (click for sound)") : locked ? t("Click to enable sound") : t("Sound on");
    for (const b of [$("mute"), $("kiosk-sound")]) {
      b.textContent = text;
      b.classList.toggle("sound-locked", locked);
      b.classList.toggle("sound-on", !muted() && !locked);
      b.setAttribute("aria-pressed", String(muted()));
      b.dataset.sound = muted() ? "muted" : locked ? "locked" : "on";
    }
    $("kiosk-sound").hidden = !locked;
  }
  function unlockAudio() {
    if (!window.AudioContext) return;
    if (!audio) {
      try { audio = new AudioContext(); } catch (_) { audio = null; return; }
      audio.addEventListener("statechange", showSound);
    }
    if (audio.state !== "running") audio.resume().then(showSound, showSound);
    showSound();
  }
  function beep(sev) {
    if (muted() || !unlocked()) return;
    const tones = sev === "red" ? [880, 660, 880, 660] : [660, 660];
    tones.forEach((f, i) => {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.value = 0.15;
      o.connect(g).connect(audio.destination);
      const at = audio.currentTime + i * 0.25;
      o.start(at);
      o.stop(at + 0.2);
    });
  }
  function soundClick() {
    if (muted()) sessionStorage.setItem("warning-muted", "0");
    else if (unlocked()) sessionStorage.setItem("warning-muted", "1");
    unlockAudio(); // a click is the gesture that lets audio start
    showSound();
  }
  $("mute").addEventListener("click", soundClick);
  $("kiosk-sound").addEventListener("click", soundClick);
  const anyGesture = (e) => { if (!e.target.closest("#mute, #kiosk-sound") && !unlocked()) unlockAudio(); };
  document.addEventListener("pointerdown", anyGesture);
  document.addEventListener("keydown", anyGesture);
  showSound();

  // Pop-ups for new orange and red alerts: stacked, red first then newest, each with its own 签收;
  // they sit over the map (over nothing on a phone: there they are in the page's flow), so
  // they never cover the list or each other.
  const maxPopups = () => (matchMedia("(max-width: 760px)").matches ? 1 : 3); // a phone: the list stays in sight
  const popups = []; // alerts announced and not yet dismissed or signed for, worst and newest first
  function announce(a) {
    const sev = sevOf(a);
    if (RANK[sev] < RANK.orange) return;
    beep(sev);
    dropPopup(a.id, false);
    popups.unshift(a);
    popups.sort(bySeverityThenAge); // red before orange, then the newest: the worst is never the one left out
    page = 0; // kiosk: back to the first page, where the most severe are
    renderPopups();
  }
  function dropPopup(id, redraw = true) {
    const i = popups.findIndex((x) => x.id === id);
    if (i >= 0) popups.splice(i, 1);
    if (i >= 0 && redraw) renderPopups();
  }
  function popupFor(a) {
    const sev = sevOf(a);
    const p = $("popup-tpl").content.firstElementChild.cloneNode(true);
    W.translate(p);
    p.classList.add(`sev-${sev}`);
    if (sev === "red") W.blink(p, "flash", 6000);
    p.dataset.alertId = a.id;
    p.querySelector(".popup-title").textContent = t("{level} alert", { level: sevName(sev) });
    p.querySelector(".popup-where").textContent = where(a);
    p.querySelector(".popup-text").textContent = a.message || "";
    p.querySelector(".popup-more").textContent = timeText(a.opened_at);
    p.querySelector(".popup-open").href = `/alert/${encodeURIComponent(a.id)}`;
    p.querySelector(".popup-ack").hidden = !(me.can_act && a.state === "active");
    return p;
  }
  // A pop-up already shown stays as it is (not drawn again for every new alert), and how many
  // fit in their box is measured once (again after a resize), not in every event's frame: at 4
  // red alerts a second, measuring and dropping the pop-ups that did not fit forced two or three
  // layouts of the whole page per alert.
  const popupEls = new Map(); // alert id -> {p, key}
  let popupFit = 0; // pop-ups that fit in their box (0: not measured yet)
  const popupKey = (a) => `${sevOf(a)}|${a.state}|${a.message}|${where(a)}|${a.opened_at}|${me.can_act}`;
  const morePopups = el("p", "popups-more");
  function renderPopups() {
    const box = $("popups");
    const show = popups.slice(0, Math.min(maxPopups(), popupFit || Infinity));
    const ids = new Set(show.map((a) => a.id));
    for (const [id, x] of popupEls) if (!ids.has(id)) { x.p.remove(); popupEls.delete(id); }
    let prev = null;
    for (const a of show) {
      const key = popupKey(a);
      let x = popupEls.get(a.id);
      if (x && x.key !== key) { x.p.remove(); x = null; }
      if (!x) { x = { p: popupFor(a), key }; popupEls.set(a.id, x); }
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== x.p) box.insertBefore(x.p, want);
      prev = x.p;
    }
    noteMore(show.length);
    box.hidden = popups.length === 0;
    cancelAnimationFrame(fitFrame);
    if (popupFit || show.length < 2) return;
    // Only whole pop-ups: on the wall the box has a fixed room. Measured in the next frame,
    // before it is painted (the layout the paint needs anyway), dropping the last shown until
    // they fit; the count that fits is kept.
    fitFrame = requestAnimationFrame(() => {
      let n = show.length;
      while (n > 1 && box.scrollHeight > box.clientHeight + 1) {
        const x = popupEls.get(show[n - 1].id);
        if (x) { x.p.remove(); popupEls.delete(show[n - 1].id); }
        n--;
        noteMore(n);
      }
      if (n < show.length || n === maxPopups()) popupFit = n;
    });
  }
  function noteMore(shown) {
    const box = $("popups");
    if (popups.length > shown) {
      morePopups.textContent = t("{n} more new alerts: see the list", { n: popups.length - shown });
      if (box.lastChild !== morePopups) box.appendChild(morePopups);
    } else morePopups.remove();
  }
  let fitFrame = 0;
  $("popups").addEventListener("click", (e) => {
    const p = e.target.closest(".popup");
    if (!p) return;
    if (e.target.closest(".popup-close")) dropPopup(p.dataset.alertId);
    else if (e.target.closest(".popup-ack")) openAck(p.dataset.alertId);
  });
  $("popups").hidden = true;

  // the feed
  function apply(ev) {
    const a = ev && ev.alert;
    if (!a || a.id == null) return;
    countRaised(ev);
    if (ev.kind === "resolved" || a.state === "resolved") {
      alerts.delete(a.id);
      dropPopup(a.id);
      return;
    }
    const old = alerts.get(a.id);
    alerts.set(a.id, a);
    const worse = old && RANK[sevOf(a)] > RANK[sevOf(old)];
    if (!old || ev.kind === "raised" || ev.kind === "escalated" || worse) flash.add(a.id);
    if (ready && a.state === "active" && (ev.kind === "raised" || worse)) announce(a);
    if (a.state !== "active") dropPopup(a.id);
    else {
      const i = popups.findIndex((x) => x.id === a.id);
      if (i >= 0) { popups[i] = a; renderPopups(); }
    }
  }

  W.feed({
    snapshot(list) {
      alerts.clear();
      for (const a of list) if (a.state !== "resolved") alerts.set(a.id, a);
      for (const p of popups.slice()) if (!alerts.has(p.id) || alerts.get(p.id).state !== "active") dropPopup(p.id);
      ready = true;
      schedule();
      loadWarnings();
    },
    missed(events) {
      if (events === null) loadTrend(); // restarted or too far behind: reload the history
      else for (const ev of events) if (ev.kind === "raised") countRaised(ev);
      schedule();
    },
    event(ev) {
      apply(ev);
      const a = ev.alert;
      if (a && a.id != null) placeRow(a.id);
      warningsSoon();
    },
    status() { schedule(); },
  });

  W.everySecond(() => {
    for (const r of rows.values()) { // only the ages that changed: each text set is a layout of its row
      if (!r.age) continue;
      const text = ago(r.opened);
      if (r.age.textContent !== text) r.age.textContent = text;
    }
    $("kiosk-clock").textContent = W.hms(new Date());
    $("kiosk-dot").className = $("conn-dot").className;
  });
  setInterval(drawTrend, 60000);

  let basemap = null;
  function drawMap() {
    riskMap = RiskMap.build($("map"), enterprises, basemap, { t, locale: W.i18n.locale });
    $("map-mode").textContent = riskMap.mode;
    riskMap.paint(lastEnts, sevName, warnings);
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { // drawn for the new size
      if (riskMap) drawMap();
      popupFit = 0; // measured again for the new size
      renderPopups();
      $("trend").replaceChildren(); // its old drawing must not hold the box's size
      measureTrend();
      drawTrend();
    }, 250);
  });
  Promise.all([W.getJSON("/api/v1/dash/site"), W.getJSON("/api/v1/dash/map").catch(() => null)]).then(([site, map]) => {
    enterprises = site.enterprises;
    basemap = map;
    for (const e of enterprises) if (e.name) W.names.set(e.id, e.name);
    drawMap();
    for (const r of rows.values()) r.key = null; // names arrived: refill the rows
    schedule();
    if (document.fonts) document.fonts.ready.then(() => riskMap.relayout(lastEnts)); // measured again in the real font
  }).catch((e) => W.showMsg(t("could not load the enterprises: {error}", { error: e.message }), true));
  loadTrend();

  // signing for an alert (from its row or its pop-up)
  const dlg = $("ack-dialog");
  function openAck(id) {
    const a = alerts.get(id);
    if (!a || !me.can_act) return;
    ackId = id;
    $("ack-what").textContent = `[${sevName(sevOf(a))}] ${where(a)} — ${a.message}`;
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
      $("ack-error").textContent = t("Signing for it failed: {error}", { error: r.error });
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
    dropPopup(id);
    closeAck();
    W.showMsg(t("Signed for: {what}", { what: body ? where(body) : id }));
  }
  $("alert-rows").addEventListener("click", (e) => {
    const b = e.target.closest(".ack-btn");
    if (b) openAck(b.dataset.alertId);
  });
  $("ack-form").addEventListener("submit", (e) => { e.preventDefault(); submitAck(); });
  $("ack-cancel").addEventListener("click", closeAck);
  dlg.addEventListener("close", () => { ackId = null; });
});
