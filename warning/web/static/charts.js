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
      s("text", { x: x(t), y: h - 8, class: "tick", "text-anchor": "middle" }, svg).textContent = hm(t);
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

  window.Charts = { sparkline, line, bars, svg: s };
})();
