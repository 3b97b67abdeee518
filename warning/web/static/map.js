// 四色风险图 The four-colour risk map, drawn offline as SVG: the district's outline and its
// streets and towns (街镇) from the site's GeoJSON basemap (/api/v1/dash/map), enterprises
// as dots coloured by their risk warning (风险预警, one per enterprise: warnings first; the
// number in a dot counts its open alarms, a ring says one is not signed for, and the dot
// leads to the enterprise's page and its alarms), and labels placed so that none overlaps
// another label or a dot (greedy, most severe first; a label that finds no free place
// nearby gets a leader line, and one that finds none at all is left out, its name still
// in the dot's tooltip). No tiles, no outside sources (the CSP forbids them anyway).
// Exposes window.RiskMap.
"use strict";

(() => {
  const S = (tag, attrs, parent) => Charts.svg(tag, attrs, parent);
  // The map is drawn in the container's own pixels (1 unit = 1 CSS pixel), so the labels'
  // sizes are real and the placement is done for the screen it is on; rebuilt on resize.
  const R = 11; // dot radius
  const GAP = 3;
  const RANK = { red: 4, orange: 3, yellow: 2, blue: 1 };

  // "上海汇通木制品有限公司" -> "汇通木制品": what the room reads at a glance
  const shortName = (n) => String(n || "").replace(/^(上海市?|苏州市?)/, "").replace(/(股份)?有限(责任)?公司$/, "");

  function bounds(points) {
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [x, y] of points) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    return [x0, x1, y0, y1];
  }

  // Equirectangular with longitudes shrunk by cos(latitude): right for a district's size.
  function projection(points, margin, W_, fixedH) {
    const [lon0, lon1, lat0, lat1] = bounds(points);
    const k = Math.cos(((lat0 + lat1) / 2) * Math.PI / 180);
    const spanX = Math.max((lon1 - lon0) * k, 1e-6);
    const spanY = Math.max(lat1 - lat0, 1e-6);
    const H = fixedH || Math.round(Math.min(Math.max((W_ - 2 * margin) * spanY / spanX + 2 * margin, 240), 1.4 * W_));
    const scale = Math.min((W_ - 2 * margin) / spanX, (H - 2 * margin) / spanY);
    const ox = (W_ - spanX * scale) / 2;
    const oy = (H - spanY * scale) / 2;
    return { H, p: ([lon, lat]) => [ox + (lon - lon0) * k * scale, oy + (lat1 - lat) * scale] };
  }

  // Area-weighted centroid of a ring (screen units): where a street's name goes first.
  function centroid(ring) {
    let a = 0, cx = 0, cy = 0;
    for (let i = 0; i < ring.length - 1; i++) {
      const [x1, y1] = ring[i];
      const [x2, y2] = ring[i + 1];
      const c = x1 * y2 - x2 * y1;
      a += c; cx += (x1 + x2) * c; cy += (y1 + y2) * c;
    }
    if (Math.abs(a) < 1e-9) { const [x0, x1, y0, y1] = bounds(ring); return [(x0 + x1) / 2, (y0 + y1) / 2]; }
    return [cx / (3 * a), cy / (3 * a)];
  }
  const ringArea = (ring) => Math.abs(ring.slice(0, -1).reduce((s, [x1, y1], i) => s + x1 * ring[i + 1][1] - ring[i + 1][0] * y1, 0)) / 2;

  // Push apart dots that would overlap (enterprises next door to each other); a few rounds suffice.
  function spread(nodes) {
    for (let round = 0; round < 30; round++) {
      let moved = false;
      for (let i = 0; i < nodes.length; i++) {
        for (let j = i + 1; j < nodes.length; j++) {
          const a = nodes[i], b = nodes[j];
          let dx = b.x - a.x, dy = b.y - a.y;
          let d = Math.hypot(dx, dy);
          if (d >= 2 * R + 2) continue;
          if (d < 1e-6) { dx = 1; dy = 0; d = 1; }
          const push = (2 * R + 2 - d) / 2;
          a.x -= (dx / d) * push; a.y -= (dy / d) * push;
          b.x += (dx / d) * push; b.y += (dy / d) * push;
          moved = true;
        }
      }
      if (!moved) break;
    }
  }

  const hit = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

  // Placed boxes in a coarse grid of cells, so a candidate is checked only against its neighbours
  // (a district of 200 enterprises places its labels in a few milliseconds).
  const CELL = 64;
  function boxIndex() {
    const cells = new Map();
    const keys = (b) => {
      const out = [];
      for (let cx = Math.floor(b.x / CELL); cx <= Math.floor((b.x + b.w) / CELL); cx++) {
        for (let cy = Math.floor(b.y / CELL); cy <= Math.floor((b.y + b.h) / CELL); cy++) out.push(`${cx},${cy}`);
      }
      return out;
    };
    return {
      add(b) { for (const k of keys(b)) { if (!cells.has(k)) cells.set(k, []); cells.get(k).push(b); } },
      hits(b) { return keys(b).some((k) => (cells.get(k) || []).some((p) => hit(b, p))); },
    };
  }

  // Greedy placement. items: [{text, x, y, r, kind, leader}] in priority order; obstacles: boxes.
  // Each label takes the first candidate box inside the map that touches no placed box.
  function placeLabels(items, obstacles, W_, H, measure) {
    const placed = boxIndex();
    for (const o of obstacles) placed.add(o);
    const inside = (b) => b.x >= 2 && b.y >= 2 && b.x + b.w <= W_ - 2 && b.y + b.h <= H - 2;
    for (const it of items) {
      it.text.removeAttribute("visibility");
      if (measure || !it.bb) { // a label's text never changes: measure it once (again when the fonts arrive)
        it.text.setAttribute("x", 0);
        it.text.setAttribute("y", 0);
        it.bb = it.text.getBBox();
      }
      const bb = it.bb;
      const w = bb.width + 4;
      const h = bb.height + 2;
      const cands = [];
      if (it.kind === "street") {
        for (const [dx, dy] of [[0, 0], [0, -1], [0, 1], [-0.5, 0], [0.5, 0], [0, -2], [0, 2], [-0.5, -1], [0.5, 1]]) {
          cands.push({ x: it.x - w / 2 + dx * w, y: it.y - h / 2 + dy * h, far: false });
        }
      } else {
        const r = it.r + GAP;
        const near = [[r, -h / 2], [-r - w, -h / 2], [-w / 2, -r - h], [-w / 2, r],
          [r * 0.7, -r * 0.7 - h], [-r * 0.7 - w, -r * 0.7 - h], [r * 0.7, r * 0.7], [-r * 0.7 - w, r * 0.7]];
        if (it.below) near.unshift(near.splice(3, 1)[0]); // grid: the name under the dot reads best
        for (const [dx, dy] of near) cands.push({ x: it.x + dx, y: it.y + dy, far: false });
        for (const d of [2.2, 3.2, 4.4, 5.8]) { // further out, tied to the dot by a leader line
          for (let k = 0; k < 12; k++) {
            const a = (k / 12) * 2 * Math.PI;
            const cx = it.x + Math.cos(a) * d * it.r * 1.6;
            const cy = it.y + Math.sin(a) * d * it.r * 1.6;
            cands.push({ x: cx - (Math.cos(a) < -0.3 ? w : Math.cos(a) > 0.3 ? 0 : w / 2), y: cy - h / 2, far: true });
          }
        }
      }
      const spot = cands.map((c) => ({ x: c.x, y: c.y, w, h, far: c.far })).find((b) => inside(b) && !placed.hits(b));
      if (it.leader) it.leader.setAttribute("visibility", "hidden");
      if (!spot) { it.text.setAttribute("visibility", "hidden"); it.shown = false; continue; }
      it.text.setAttribute("x", (spot.x + 2 - bb.x).toFixed(1));
      it.text.setAttribute("y", (spot.y + 1 - bb.y).toFixed(1));
      placed.add(spot);
      it.shown = true;
      if (spot.far && it.leader) {
        const tx = Math.min(Math.max(it.x, spot.x), spot.x + w);
        const ty = Math.min(Math.max(it.y, spot.y), spot.y + h);
        const d = Math.hypot(tx - it.x, ty - it.y) || 1;
        it.leader.setAttribute("x1", (it.x + ((tx - it.x) / d) * it.r).toFixed(1));
        it.leader.setAttribute("y1", (it.y + ((ty - it.y) / d) * it.r).toFixed(1));
        it.leader.setAttribute("x2", tx.toFixed(1));
        it.leader.setAttribute("y2", ty.toFixed(1));
        it.leader.removeAttribute("visibility");
      }
    }
  }

  // enterprises: [{id, name, location, street}]; basemap: GeoJSON (may have no features).
  function build(box, enterprises, basemap, opts) {
    const { t, locale } = opts;
    const W_ = Math.max(box.clientWidth, 280);
    // The wall layout (style.css) gives the map its height; elsewhere the district's shape does.
    const wall = matchMedia("(min-width: 1280px) and (min-height: 640px)").matches;
    const fixedH = wall && box.clientHeight > 120 ? box.clientHeight : 0;
    const areas = [];
    for (const f of (basemap && basemap.features) || []) {
      const g = f.geometry || {};
      const polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      if (polys.length) areas.push({ props: f.properties || {}, polys });
    }
    let located = enterprises.filter((e) => Array.isArray(e.location) && e.location.length === 2);
    if (!areas.length && located.length < 3) located = []; // too few places for a map: a grid reads better
    const streetOf = new Map(areas.filter((a) => a.props.level !== "district").map((a) => [a.props.name, a]));
    const placedInStreet = enterprises.filter((e) => !located.includes(e) && streetOf.has(e.street));
    const gridded = enterprises.filter((e) => !located.includes(e) && !placedInStreet.includes(e));
    const geoPoints = areas.flatMap((a) => a.polys.flatMap((p) => p[0])).concat(located.map((e) => e.location));
    const gridCols = Math.max(1, Math.min(Math.floor(W_ / 90), Math.ceil(Math.sqrt(gridded.length * 2.5))));
    const gridRows = Math.ceil(gridded.length / gridCols);
    const gridH = gridRows * 64 + (gridRows ? 10 : 0);
    const geo = geoPoints.length ? projection(geoPoints, 30, W_, fixedH ? Math.max(fixedH - gridH, 120) : 0)
      : { H: 0, p: () => [0, 0] };
    const H = fixedH || Math.max(geo.H + gridH, 120);
    const svg = S("svg", { viewBox: `0 0 ${W_} ${H}`, class: "mapsvg", role: "img", "aria-label": t("Four-colour risk map"),
      preserveAspectRatio: "xMidYMid meet" });
    const gAreas = S("g", { class: "areas" }, svg);
    const gStreetLabels = S("g", { class: "street-labels" }, svg);
    const gLeaders = S("g", { class: "leaders" }, svg);
    const gDots = S("g", { class: "dots" }, svg);
    const gLabels = S("g", { class: "labels" }, svg);

    const streetLabels = [];
    const anchors = new Map(); // street -> [x, y]
    const ordered = areas.slice().sort((a, b) => (a.props.level === "district" ? 0 : 1) - (b.props.level === "district" ? 0 : 1));
    for (const a of ordered) {
      const district = a.props.level === "district";
      const screen = a.polys.map((poly) => poly.map((ring) => ring.map(geo.p)));
      const d = screen.map((poly) => poly.map((ring) => `M${ring.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join("L")}Z`).join("")).join("");
      const path = S("path", { d, class: `area ${district ? "district" : "street"}`, "fill-rule": "evenodd" }, gAreas);
      path.dataset.name = a.props.name || "";
      const label = locale !== "zh-CN" && a.props.name_en ? a.props.name_en : a.props.name;
      S("title", {}, path).textContent = label || "";
      if (district || !a.props.name) continue;
      const biggest = screen.map((poly) => poly[0]).sort((r1, r2) => ringArea(r2) - ringArea(r1))[0];
      const [cx, cy] = centroid(biggest);
      anchors.set(a.props.name, [cx, cy]);
      const text = S("text", { class: "map-label street-label" }, gStreetLabels);
      text.textContent = label;
      text.dataset.street = a.props.name;
      streetLabels.push({ text, x: cx, y: cy, r: 0, kind: "street" });
    }

    const nodes = [];
    for (const e of located) { const [x, y] = geo.p(e.location); nodes.push({ e, x, y }); }
    const perStreet = new Map();
    for (const e of placedInStreet) { // no coordinates, but a street: around its anchor
      const i = perStreet.get(e.street) || 0;
      perStreet.set(e.street, i + 1);
      const [ax, ay] = anchors.get(e.street);
      const a = i * 2.4;
      nodes.push({ e, x: ax + Math.cos(a) * (R * 2.5 + i * 4), y: ay + 28 + Math.sin(a) * (R * 2 + i * 3) });
    }
    const cw = W_ / gridCols;
    gridded.forEach((e, i) => nodes.push({ e, x: cw * (i % gridCols) + cw / 2, y: geo.H + 24 + Math.floor(i / gridCols) * 64, grid: true }));
    spread(nodes.filter((n) => !n.grid));

    const byId = new Map();
    for (const n of nodes) {
      const e = n.e;
      const a = S("a", { href: `/e/${encodeURIComponent(e.id)}`, class: "ent-node sev-none" }, gDots);
      a.dataset.enterprise = e.id;
      S("circle", { cx: n.x.toFixed(1), cy: n.y.toFixed(1), r: R, class: "ent-dot" }, a);
      const count = S("text", { x: n.x.toFixed(1), y: (n.y + 4.5).toFixed(1), "text-anchor": "middle", class: "ent-count" }, a);
      const title = S("title", {}, a);
      const text = S("text", { class: "map-label ent-label" }, gLabels);
      text.dataset.enterprise = e.id;
      text.textContent = shortName(e.name) || e.id;
      const leader = S("line", { class: "leader", visibility: "hidden" }, gLeaders);
      byId.set(e.id, { a, count, title, text, leader, x: n.x, y: n.y, r: R, kind: "ent", below: !!n.grid, e });
    }
    box.replaceChildren(svg);
    const mode = areas.length ? t("basemap: {name}", { name: (basemap && basemap.name) || "GeoJSON" })
      : located.length ? t("geographic") : t("grid");
    let lastOrder = null;

    let warns = new Map();
    const rank = (id, ents) => { // the warning first, then its alarms: most severe labelled first
      const w = warns.get(id), e = ents.get(id);
      return (w ? RANK[w.level] * 20 : 0) + (e ? RANK[e.top] * 2 + (e.unack ? 1 : 0) : 0);
    };
    function layout(ents, measure = false) {
      const items = [...byId.values()].sort((p, q) => (rank(q.e.id, ents) - rank(p.e.id, ents)) ||
          p.e.id.localeCompare(q.e.id));
      const key = items.map((i) => i.e.id).join(",");
      if (key === lastOrder && !measure) return;
      lastOrder = key;
      const dots = items.map((i) => ({ x: i.x - i.r - 1, y: i.y - i.r - 1, w: 2 * i.r + 2, h: 2 * i.r + 2 }));
      const t0 = performance.now();
      placeLabels(items.concat(streetLabels), dots, W_, H, measure);
      svg.dataset.layoutMs = (performance.now() - t0).toFixed(1); // read by the browser test
      for (const i of items.slice().reverse()) gDots.appendChild(i.a); // the most severe drawn last: on top
    }

    // ents: open alarms by enterprise (dashboard.js renderCounts); warnings: enterprise -> its
    // open risk warning. The colour is the warning's (none: normal), whatever its alarms.
    function paint(ents, sevName, warnings) {
      warns = warnings || new Map();
      for (const [id, n] of byId) {
        const e = ents.get(id);
        const w = warns.get(id);
        const sev = w ? w.level : "none";
        const cls = `ent-node sev-${sev}${e && e.unack ? " unacked" : ""}${e && e.cleared ? " cleared" : ""}${e ? " has-alarms" : ""}`;
        const count = e ? String(e.red + e.orange + e.yellow + e.blue) : "";
        const key = `${cls}|${count}|${e ? e.unack : ""}|${w ? w.state : ""}`;
        if (n.key === key) continue; // touch only what changed: 200 dots restyled per event cost a frame
        n.key = key;
        n.a.setAttribute("class", cls);
        n.a.dataset.warning = w ? w.level : "none";
        n.text.setAttribute("class", `map-label ent-label sev-${sev}`);
        n.count.textContent = count;
        const risk = w ? t("{level} risk warning", { level: sevName(w.level) }) : t("No risk warning");
        const alarms = e ? `${t("{n} open alarms", { n: count })} (${sevName(e.top)}) · ${t("{n} not signed for", { n: e.unack })}`
          : t("no open alarms");
        n.title.textContent = `${id} ${n.e.name || ""}${n.e.street ? ` · ${n.e.street}` : ""} · ${risk} · ${alarms}`;
      }
      // The colours now; the labels' places a moment later, off the path from an event to its row.
      clearTimeout(layoutTimer);
      layoutTimer = setTimeout(() => layout(ents), 0);
    }
    let layoutTimer = null;
    const relayout = (ents) => layout(ents, true);
    return { paint, relayout, mode, svg };
  }

  window.RiskMap = { build, shortName };
})();
