// Small SVG charts drawn by hand (no chart library): sparklines, a line chart with limit lines
// and event markers, stacked bars for the shift trend. Colours come from style.css classes,
// so they follow the theme and need no inline styles (the CSP forbids them). Exposes window.Charts.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  const pad2 = (n) => String(n).padStart(2, "0");
  const hm = (t) => { const d = new Date(t * 1000); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`; };
  const md = (t) => { const d = new Date(t * 1000); return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`; };
  // x tick text: the time of day within a day and a half, the date beyond
  const tick = (t, span) => (span > 36 * 3600 ? md(t) : hm(t));
  const num = (v) => String(Number(v.toPrecision(Math.abs(v) >= 1e4 ? 6 : 3)));

  function extent(points, limits, i) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) { lo = Math.min(lo, p[i === undefined ? 1 : i]); hi = Math.max(hi, p[i === undefined ? 1 : i]); }
    for (const l of limits || []) { lo = Math.min(lo, l.value); hi = Math.max(hi, l.value); }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const m = (hi - lo) * 0.08;
    return [lo - m, hi + m];
  }

  // points: [[t, mean, min, max], ...]; limits: [{value, severity}]. Returns an <svg>.
  function sparkline(points, opts = {}) {
    const w = opts.width || 160;
    const h = opts.height || 36;
    const svg = s("svg", { viewBox: `0 0 ${w} ${h}`, class: "spark", preserveAspectRatio: "none", role: "img" });
    const t0 = opts.t0 ?? (points.length ? points[0][0] : 0);
    const t1 = opts.t1 ?? (points.length ? points[points.length - 1][0] : 1);
    const [lo, hi] = extent(points, opts.limits);
    const x = (t) => ((t - t0) / Math.max(t1 - t0, 1e-9)) * w;
    const y = (v) => h - ((v - lo) / (hi - lo)) * h;
    for (const l of opts.limits || []) s("line", { x1: 0, x2: w, y1: y(l.value), y2: y(l.value), class: `limit sev-${l.severity}` }, svg);
    if (points.length) {
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      s("path", { d, class: "series" }, svg);
      if (points.length === 1) s("circle", { cx: x(points[0][0]), cy: y(points[0][1]), r: 2.5, class: "pt" }, svg);
    }
    return svg;
  }

  // A line chart with axes: opts {points, limits, markers: [{t, severity, label}], band: [t0, t1], t0, t1, unit}
  function line(container, opts) {
    const w = 720;
    const h = 260;
    const m = { l: 52, r: 12, t: 12, b: 28 };
    const pts = opts.points || [];
    const svg = s("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img" });
    const t0 = opts.t0;
    const t1 = opts.t1;
    const [lo, hi] = extent(pts.map((p) => [p[0], p[1]]).concat(pts.map((p) => [p[0], p[2] ?? p[1]]), pts.map((p) => [p[0], p[3] ?? p[1]])), opts.limits);
    const x = (t) => m.l + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (w - m.l - m.r);
    const y = (v) => h - m.b - ((v - lo) / (hi - lo)) * (h - m.t - m.b);
    if (opts.band) {
      const a = Math.max(x(opts.band[0]), m.l);
      const b = Math.min(x(opts.band[1]), w - m.r);
      if (b > a) s("rect", { x: a, y: m.t, width: b - a, height: h - m.t - m.b, class: `band sev-${opts.bandSeverity || "red"}` }, svg);
    }
    for (let i = 0; i <= 4; i++) { // y grid
      const v = lo + ((hi - lo) * i) / 4;
      s("line", { x1: m.l, x2: w - m.r, y1: y(v), y2: y(v), class: "grid" }, svg);
      s("text", { x: m.l - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, svg).textContent = num(v);
    }
    for (let i = 0; i <= 5; i++) { // x ticks
      const t = t0 + ((t1 - t0) * i) / 5;
      s("text", { x: x(t), y: h - 8, class: "tick", "text-anchor": "middle" }, svg).textContent = tick(t, t1 - t0);
    }
    if (opts.unit) s("text", { x: m.l + 6, y: m.t + 14, class: "tick unit" }, svg).textContent = opts.unit;
    if (pts.length) {
      const range = pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[3] ?? p[1]).toFixed(1)}`)
        .concat(pts.slice().reverse().map((p) => `${x(p[0]).toFixed(1)},${y(p[2] ?? p[1]).toFixed(1)}`));
      s("polygon", { points: range.join(" "), class: "range" }, svg);
      s("path", { d: pts.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(""), class: "series" }, svg);
      if (pts.length < 3) for (const p of pts) s("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, class: "pt" }, svg);
    }
    for (const l of opts.limits || []) {
      s("line", { x1: m.l, x2: w - m.r, y1: y(l.value), y2: y(l.value), class: `limit sev-${l.severity}` }, svg);
      s("text", { x: w - m.r - 4, y: y(l.value) - 4, class: `tick limit-label sev-${l.severity}`, "text-anchor": "end" }, svg)
        .textContent = `${l.direction === "low" ? "≤" : "≥"} ${num(l.value)}`;
    }
    const taken = []; // label x positions per row: events close in time get their labels on rows above
    for (const mk of opts.markers || []) {
      if (mk.t < t0 || mk.t > t1) continue;
      s("line", { x1: x(mk.t), x2: x(mk.t), y1: m.t, y2: h - m.b, class: `marker sev-${mk.severity || "blue"}` }, svg);
      if (typeof mk.value === "number" && mk.value >= lo && mk.value <= hi) {
        s("circle", { cx: x(mk.t), cy: y(mk.value), r: 4, class: `dotm sev-${mk.severity || "blue"}` }, svg);
      }
      const right = x(mk.t) > w - 80;
      let row = 0;
      while ((taken[row] || []).some((px) => Math.abs(px - x(mk.t)) < 70)) row++;
      (taken[row] = taken[row] || []).push(x(mk.t));
      const tx = s("text", { x: x(mk.t) + (right ? -3 : 3), y: h - m.b - 6 - row * 15, class: "tick marker-label", "text-anchor": right ? "end" : "start" }, svg);
      tx.textContent = mk.label || "";
    }
    if (!pts.length) s("text", { x: w / 2, y: h / 2, class: "tick", "text-anchor": "middle" }, svg).textContent = opts.noData || "—";
    container.replaceChildren(svg);
    return svg;
  }

  // Stacked bars per time bucket: buckets [{t, red, orange, yellow, blue}], opts {start, bucket, now,
  // width, height (the container's pixels, so the ticks are real 12 px), sevName}.
  function bars(container, buckets, opts) {
    const w = Math.max(opts.width || 600, 200);
    const h = Math.max(opts.height || 150, 80);
    const m = { l: 28, r: 6, t: 8, b: 20 };
    const n = Math.max(1, Math.ceil((opts.now - opts.start) / opts.bucket));
    const byT = new Map(buckets.map((b) => [Math.round((b.t - opts.start) / opts.bucket), b]));
    let max = 1;
    for (const b of buckets) max = Math.max(max, b.red + b.orange + b.yellow + b.blue);
    const svg = s("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart trend", role: "img" });
    const bw = (w - m.l - m.r) / n;
    const y = (v) => ((h - m.t - m.b) * v) / max;
    let lastTick = -Infinity;
    s("text", { x: m.l - 4, y: m.t + 8, class: "tick", "text-anchor": "end" }, svg).textContent = String(max);
    s("line", { x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b, class: "grid" }, svg);
    for (let i = 0; i < n; i++) {
      const b = byT.get(i);
      let base = h - m.b;
      if (b) {
        for (const sev of ["blue", "yellow", "orange", "red"]) {
          if (!b[sev]) continue;
          const hh = y(b[sev]);
          base -= hh;
          const r = s("rect", { x: m.l + i * bw + 1, y: base, width: Math.max(bw - 2, 1), height: hh, class: `bar sev-${sev}` }, svg);
          s("title", {}, r).textContent = `${hm(opts.start + i * opts.bucket)} ${opts.sevName ? opts.sevName(sev) : sev}: ${b[sev]}`;
        }
      }
      const tx = m.l + i * bw;
      if (i % Math.max(1, Math.ceil(n / 6)) === 0 && tx - lastTick >= 44 && tx + 34 <= w) { // "HH:MM" needs ~36 px
        s("text", { x: tx, y: h - 5, class: "tick" }, svg).textContent = hm(opts.start + i * opts.bucket);
        lastTick = tx;
      }
    }
    container.replaceChildren(svg);
    return svg;
  }

  // The line chart's plot area in viewBox units (for turning a drag into a time range).
  const PLOT = { w: 720, l: 52, r: 12 };

  // datetime-local <input> values are local wall-clock times, minutes precision
  const localValue = (t) => {
    const d = new Date(t * 1000);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  };

  // History over any range: preset spans, a from/to picker, drag across the plot to zoom in,
  // "zoom out" doubles the span. The server picks raw readings or rollups by the range
  // (/api/v1/dash/series answers which: shown beside the picker).
  // opts: {load(t0, t1) -> Promise<{points, resolution}>, t0, t1, limits, markers(t0, t1) -> [...],
  //        unit, t (the pages' translate), noData}
  function history(container, opts) {
    const t = opts.t;
    const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
    const bar = el("div", "history-bar");
    const plot = el("div", "chart-box history-plot");
    const PRESETS = [[3600, t("1 hour")], [6 * 3600, t("6 hours")], [86400, t("1 day")], [7 * 86400, t("7 days")],
      [30 * 86400, t("30 days")], [365 * 86400, t("1 year")]];
    let t0 = opts.t0;
    let t1 = opts.t1;
    let seq = 0;
    for (const [span, label] of PRESETS) {
      const b = el("button", "btn small", label);
      b.type = "button";
      b.dataset.span = String(span);
      b.addEventListener("click", () => { t1 = Date.now() / 1000; t0 = t1 - span; draw(); });
      bar.appendChild(b);
    }
    const from = el("input", "history-from");
    from.type = "datetime-local";
    from.setAttribute("aria-label", t("From"));
    const to = el("input", "history-to");
    to.type = "datetime-local";
    to.setAttribute("aria-label", t("To"));
    const show = el("button", "btn small", t("Show"));
    show.type = "button";
    show.addEventListener("click", () => {
      const a = new Date(from.value).getTime() / 1000;
      const b = new Date(to.value).getTime() / 1000;
      if (Number.isFinite(a) && Number.isFinite(b) && a < b) { t0 = a; t1 = b; draw(); }
    });
    const out = el("button", "btn small", t("Zoom out"));
    out.type = "button";
    out.addEventListener("click", () => {
      const span = t1 - t0;
      const now = Date.now() / 1000;
      t1 = Math.min(t1 + span / 2, now);
      t0 = t1 - span * 2;
      draw();
    });
    const res = el("span", "muted history-res");
    bar.append(el("span", "muted", t("From")), from, el("span", "muted", t("To")), to, show, out, res);
    container.replaceChildren(bar, plot);

    async function draw() {
      const mine = ++seq;
      from.value = localValue(t0);
      to.value = localValue(t1);
      let got;
      try {
        got = await opts.load(t0, t1);
      } catch (e) {
        if (mine === seq) plot.replaceChildren(el("p", "err", t("The chart failed: {error}", { error: e.message })));
        return;
      }
      if (mine !== seq) return; // a newer range was asked for meanwhile
      const RES = { raw: t("raw readings"), "1m": t("1-minute rollups"), "1h": t("1-hour rollups") };
      res.textContent = RES[got.resolution] || "";
      const svg = line(plot, { points: got.points, t0, t1, unit: opts.unit, limits: opts.limits, noData: opts.noData,
        markers: opts.markers ? opts.markers(t0, t1) : [], band: opts.band, bandSeverity: opts.bandSeverity });
      svg.classList.add("zoomable");
      svg.dataset.t0 = String(t0);
      svg.dataset.t1 = String(t1);
      svg.dataset.resolution = got.resolution || "";
      let start = null;
      const timeAt = (ev) => {
        const r = svg.getBoundingClientRect();
        const vx = ((ev.clientX - r.left) / r.width) * PLOT.w;
        const f = Math.min(Math.max((vx - PLOT.l) / (PLOT.w - PLOT.l - PLOT.r), 0), 1);
        return t0 + f * (t1 - t0);
      };
      svg.addEventListener("mousedown", (ev) => { start = timeAt(ev); ev.preventDefault(); });
      svg.addEventListener("mouseup", (ev) => {
        if (start === null) return;
        const end = timeAt(ev);
        const a = Math.min(start, end);
        const b = Math.max(start, end);
        start = null;
        if (b - a >= 10) { t0 = a; t1 = b; draw(); } // a drag, not a click
      });
    }
    draw();
    return { range: () => [t0, t1], set(a, b) { t0 = a; t1 = b; return draw(); } };
  }

  window.Charts = { sparkline, line, bars, history, svg: s };
})();
