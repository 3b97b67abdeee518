// 企业页 One enterprise: its code (QR), its risk warning as the badge (风险预警: the open
// warning's colour, 无预警 without one, as on the big screen), its live alarms one click away,
// devices and points with sparklines and limits (refreshed every 5 s from /api/v1/dash/series),
// and its alarm history. The warning is re-read shortly after alarm events (the risk service
// judges them within moments), after an action on the warnings panel, and every 10 s.
"use strict";

W.start(() => {
  const { $, el, t, sevName, stateName, RANK, timeText, fmtValue, sevOf, clearedUnsigned, bySeverityThenAge } = W;
  const eid = decodeURIComponent(location.pathname.split("/")[2] || "");
  const alerts = new Map();
  const cells = new Map(); // "DEV/point" -> {spark, value, def}
  const WINDOW_S = 600;
  const REFRESH_MS = 5000;
  let info = null;
  let historyRows = []; // the enterprise's last alerts, drawn on the point history
  let hist = null;
  const DUSTS = { wood: W.N_("wood dust"), metal: W.N_("metal dust"), grain: W.N_("grain dust"), plastic: W.N_("plastic dust"),
    aluminium: W.N_("aluminium dust"), magnesium: W.N_("magnesium dust") };
  const dustName = (d) => (DUSTS[d] ? t(DUSTS[d]) : d);

  $("qr").src = `/qr/${encodeURIComponent(eid)}.svg`;

  function renderAlerts() {
    const ul = $("ent-alerts");
    ul.replaceChildren();
    const list = [...alerts.values()].sort(bySeverityThenAge);
    for (const a of list) {
      const li = el("li", `alert-card sev-${sevOf(a)} state-${a.state}`);
      li.dataset.alertId = a.id;
      li.appendChild(el("span", `chip sev-${sevOf(a)}`, sevName(sevOf(a))));
      const link = el("a", null, `${W.devicePoint(a)} — ${a.message}`);
      link.href = `/alert/${encodeURIComponent(a.id)}`;
      li.appendChild(link);
      li.appendChild(el("span", "muted", `${timeText(a.opened_at)} · ${clearedUnsigned(a) ? t("Cleared, not signed for") : stateName(a.state)}`));
      ul.appendChild(li);
    }
    $("ent-alerts-empty").hidden = list.length > 0;
    let top = null;
    for (const a of list) if (!top || RANK[sevOf(a)] > RANK[top]) top = sevOf(a);
    const link = $("ent-alarms"); // the alarms, one click away; the colour is the warning's
    link.dataset.count = String(list.length);
    link.textContent = top ? t("{level} alert · {n} open", { level: sevName(top), n: list.length }) : t("no open alarms");
    // points in alarm get a mark
    const hot = new Set(list.map((a) => `${a.device}/${a.point}`));
    for (const [key, c] of cells) c.row.classList.toggle("in-alarm", hot.has(key));
  }

  function buildDevices() {
    const box = $("devices");
    box.replaceChildren();
    for (const d of info.devices) {
      const card = el("div", "device");
      card.appendChild(el("h3", null, d.id));
      const table = el("table", "points");
      for (const p of d.points) {
        const tr = el("tr");
        tr.dataset.point = `${d.id}/${p.point}`;
        const name = el("td", "p-name");
        name.appendChild(el("span", null, p.point));
        name.appendChild(el("small", "muted", ` ${p.title}`));
        tr.appendChild(name);
        const value = el("td", "p-value num", "—");
        tr.appendChild(value);
        const spark = el("td", "p-spark");
        tr.appendChild(spark);
        const lim = p.limits.map((l) => `${l.direction === "low" ? "≤" : "≥"}${fmtValue(l.value)} ${sevName(l.severity)}`).join(" · ");
        tr.appendChild(el("td", "p-limits muted", lim ? `${lim} ${p.unit}` : p.unit));
        table.appendChild(tr);
        cells.set(`${d.id}/${p.point}`, { row: tr, spark, value, def: p });
      }
      card.appendChild(table);
      box.appendChild(card);
    }
  }

  async function refreshSeries() {
    const to = Date.now() / 1000;
    try {
      const r = await W.getJSON(`/api/v1/dash/series?enterprise=${encodeURIComponent(eid)}&from=${to - WINDOW_S}&to=${to}&max=60`);
      for (const [key, pts] of Object.entries(r.series)) {
        const c = cells.get(key);
        if (!c) continue;
        c.spark.replaceChildren(Charts.sparkline(pts, { limits: c.def.limits, t0: to - WINDOW_S, t1: to }));
        c.value.textContent = pts.length ? `${fmtValue(pts[pts.length - 1][1])} ${c.def.unit}` : "—";
      }
      $("series-updated").textContent = t("updated {time}", { time: W.hms(new Date()) });
    } catch (_) { /* shown as stale by the feed; retried */ }
  }

  async function refreshHistory() {
    try {
      const rows = await W.getJSON(`/api/v1/dash/alerts?enterprise=${encodeURIComponent(eid)}&state=all&limit=50`);
      historyRows = rows;
      const tb = $("history");
      tb.replaceChildren();
      for (const a of rows.sort((x, y) => y.opened_at - x.opened_at)) {
        const tr = el("tr", `sev-${sevOf(a)}`);
        const c = el("td");
        c.appendChild(el("span", `chip sev-${sevOf(a)}`, sevName(sevOf(a))));
        tr.appendChild(c);
        tr.appendChild(el("td", null, W.devicePoint(a)));
        const m = el("td");
        const link = el("a", null, a.message);
        link.href = `/alert/${encodeURIComponent(a.id)}`;
        m.appendChild(link);
        tr.appendChild(m);
        tr.appendChild(el("td", "num", timeText(a.opened_at)));
        tr.appendChild(el("td", null, clearedUnsigned(a) ? t("Cleared, not signed for") : stateName(a.state)));
        tr.appendChild(el("td", null, a.resolved_by || a.acknowledged_by || "—"));
        tb.appendChild(tr);
      }
    } catch (_) { /* retried on the next event */ }
  }
  // One point's history over any range (Charts.history): raw when close, rollups when far.
  function buildHistory() {
    const sel = $("hist-point");
    for (const d of info.devices) {
      for (const p of d.points) {
        const o = el("option", null, `${d.id}/${p.point} ${p.title}`);
        o.value = `${d.id}/${p.point}`;
        sel.appendChild(o);
      }
    }
    const open = () => {
      const key = sel.value;
      const c = cells.get(key);
      if (!c) return;
      const [device, point] = key.split("/");
      const range = hist ? hist.range() : [Date.now() / 1000 - 86400, Date.now() / 1000];
      hist = Charts.history($("hist"), {
        t, t0: range[0], t1: range[1], unit: c.def.unit, limits: c.def.limits, noData: t("no data"),
        async load(t0, t1) {
          const q = new URLSearchParams({ enterprise: eid, device, point, from: t0, to: t1, max: 600 });
          const r = await W.getJSON(`/api/v1/dash/series?${q}`);
          return { points: r.series[key] || [], resolution: r.resolution };
        },
        markers: (t0, t1) => historyRows.filter((a) => a.device === device && a.point === point && a.opened_at >= t0 && a.opened_at <= t1)
          .map((a) => ({ t: a.opened_at, severity: sevOf(a), value: a.value, label: sevName(sevOf(a)) })),
      });
    };
    sel.addEventListener("change", open);
    if (sel.options.length) open();
  }

  // the badge: the enterprise's open risk warning (one at a time), not its worst alarm
  let warningAt = 0;
  async function loadWarning() {
    const asked = ++warningAt;
    try {
      const q = new URLSearchParams({ state: "open", kind: "warning", enterprise: eid });
      const list = await W.getJSON(`/api/v1/warnings?${q}`);
      if (asked !== warningAt) return; // a later read is on its way
      const w = list.find((x) => x.enterprise === eid) || null;
      const lv = w ? w.level : "none";
      const st = $("ent-status");
      st.className = `ent-status risk-${lv}`;
      st.dataset.warning = lv;
      st.dataset.state = w ? w.state : "";
      st.textContent = w ? t("{level} risk warning", { level: sevName(lv) }) : t("No warning");
    } catch (_) { /* retried on the next event or poll */ }
  }
  let warningTimers = [];
  const warningSoon = () => { // soon after an alarm event, and once more when events stop
    warningTimers.forEach(clearTimeout);
    warningTimers = [setTimeout(loadWarning, 500), setTimeout(loadWarning, 2000)];
  };
  loadWarning();
  setInterval(loadWarning, 10000);
  document.addEventListener("warning:changed", loadWarning); // warnings.js after sign, reply, review

  let historyTimer = null;
  const historySoon = () => { clearTimeout(historyTimer); historyTimer = setTimeout(refreshHistory, 300); };

  W.getJSON(`/api/v1/dash/site?enterprise=${encodeURIComponent(eid)}`).then((site) => {
    info = site.enterprises[0];
    document.title = `${info.id} ${info.name} · ${t("Enterprise")}`;
    $("ent-title").textContent = info.id;
    $("ent-name").textContent = `${info.id} · ${info.name}`;
    const loc = info.location ? `${info.location[1].toFixed(4)}°N ${info.location[0].toFixed(4)}°E` : "";
    $("ent-meta").textContent = [info.street, info.dust && t("dust: {dust}", { dust: dustName(info.dust) }),
      t("{n} devices", { n: info.devices.length }), loc].filter(Boolean).join(" · ");
    buildDevices();
    buildHistory();
    renderAlerts();
    refreshSeries();
    setInterval(refreshSeries, REFRESH_MS);
  }).catch((e) => W.showMsg(t("could not load: {error}", { error: e.message }), true));
  refreshHistory();

  W.feed({
    snapshot(list) {
      alerts.clear();
      for (const a of list) if (a.enterprise === eid && a.state !== "resolved") alerts.set(a.id, a);
      renderAlerts();
      historySoon();
      warningSoon();
    },
    missed() { historySoon(); warningSoon(); },
    event(ev) {
      const a = ev.alert;
      if (!a || a.enterprise !== eid) return;
      if (a.state === "resolved") alerts.delete(a.id); else alerts.set(a.id, a);
      renderAlerts();
      historySoon();
      warningSoon();
    },
  });
});
