// The ledger's admin page: enterprises (with their devices and points), streets and users:
// create, edit, retire, each error shown beside its field; onboarding details, import (dry run
// first) and export. Talks to /api/v1/admin/*.
"use strict";

(() => {
  const { $, t } = window.W;
  const FIELDS = ["name", "credit_code", "address", "street", "industry", "dust_workers", "contact_name",
    "contact_phone", "risk_grade"];
  let csrf = "";
  let ledger = null;
  let editing = null;  // the enterprise record being edited ({} with isNew for a new one)
  let street = null;
  let user = null;

  function say(text, bad) {
    const m = $("msg");
    m.hidden = false;
    m.textContent = text;
    m.className = bad ? "msg error" : "msg";
  }

  async function call(method, url, body, type) {
    const headers = { "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = type || "application/json";
    const r = await fetch(url, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : (type ? body : JSON.stringify(body)) });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, data };
  }

  function clearErrors(form) {
    for (const s of form.querySelectorAll(".field-error")) s.textContent = "";
  }

  // Every error beside its field (devices[1].points[0] beside the devices table); the list in the message.
  function showErrors(form, status, errors) {
    clearErrors(form);
    for (const e of errors) {
      const name = String(e.field || "").startsWith("devices") ? "devices" : String(e.field || "").replace(/\[\d+\]$/, "");
      const span = form.querySelector(`.field-error[data-field="${name}"]`);
      if (span) span.textContent = (span.textContent ? span.textContent + "; " : "") + e.message;
    }
    say(t("Not saved ({status}): {errors}", { status,
      errors: errors.map((e) => `${e.field}: ${e.message}`).join("; ") }), true);
  }

  // A device's points as one text: "dp=TNM01, temp2@hopper_temp" (name, =code, @kind).
  function pointsText(d) {
    return (d.points || []).map((p) => p + ((d.kinds || {})[p] ? "@" + d.kinds[p] : "")
      + ((d.codes || {})[p] ? "=" + d.codes[p] : "")).join(", ");
  }

  function parsePoints(text, before) {
    const dev = { points: [] };
    const kinds = {};
    const codes = {};
    for (const spec of text.split(/[,，]/).map((x) => x.trim()).filter(Boolean)) {
      const [left, code] = spec.split("=", 2).map((x) => x.trim());
      const [name, kind] = left.split("@", 2).map((x) => x.trim());
      dev.points.push(name);
      if (kind) kinds[name] = kind;
      if (code) codes[name] = code;
    }
    if (Object.keys(kinds).length) dev.kinds = kinds;
    if (Object.keys(codes).length) dev.codes = codes;
    const kept = {};
    for (const [p, o] of Object.entries((before && before.overrides) || {})) if (dev.points.includes(p)) kept[p] = o;
    if (Object.keys(kept).length) dev.overrides = kept;  // detector overrides are not edited here: kept
    return dev;
  }

  function deviceRow(d) {
    const tr = document.createElement("tr");
    tr.className = "device-row";
    for (const [cls, value] of [["d-id", d.id || ""], ["d-type", d.type || ""], ["d-points", pointsText(d)]]) {
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.className = cls;
      input.value = value;
      td.appendChild(input);
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    const rm = document.createElement("button");
    rm.type = "button";
    rm.className = "d-remove";
    rm.textContent = t("Remove");
    rm.addEventListener("click", () => tr.remove());
    td.appendChild(rm);
    tr.appendChild(td);
    return tr;
  }

  function devicesOf(before) {
    const old = Object.fromEntries(((before && before.devices) || []).map((d) => [d.id, d]));
    return [...document.querySelectorAll("#devices tr.device-row")].map((tr) => {
      const id = tr.querySelector(".d-id").value.trim();
      const dev = { id, ...parsePoints(tr.querySelector(".d-points").value, old[id]) };
      const type = tr.querySelector(".d-type").value.trim();
      if (type) dev.type = type;
      return dev;
    });
  }

  function row(e) {
    const tr = document.createElement("tr");
    const street = ledger.streets.find((s) => s.id === e.street);
    for (const v of [e.id, e.name, street ? street.name : (e.street || "—"), e.credit_code || "—",
      e.risk_grade || "—", String((e.devices || []).length)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.dataset.id = e.id;
    tr.className = "clickable";
    tr.addEventListener("click", () => edit(e.id));
    return tr;
  }

  async function load() {
    const r = await call("GET", "/api/v1/admin/ledger");
    if (r.status !== 200) { say(t("Cannot read the ledger ({status})", { status: r.status }), true); return; }
    ledger = r.data;
    $("version").textContent = t("Version {version}", { version: ledger.version });
    const body = $("enterprises");
    body.replaceChildren(...ledger.enterprises.map(row));
    const sel = $("f-street");
    const none = document.createElement("option");
    none.value = "";
    none.textContent = t("Not set");
    sel.replaceChildren(none, ...ledger.streets.map((s) => {
      const o = document.createElement("option");
      o.value = s.id;
      o.textContent = s.name;
      return o;
    }));
    $("streets").replaceChildren(...ledger.streets.map((s) => clickable([s.id, s.name], s.id, () => editStreet(s.id))));
    $("users").replaceChildren(...ledger.users.map((u) => clickable(
      [u.name, u.role, u.enterprise || "—", (u.streets || []).join(", ") || "—"], u.name, () => editUser(u.name))));
    const ents = $("u-enterprise");
    const blank = document.createElement("option");
    blank.value = "";
    blank.textContent = t("Not set");
    ents.replaceChildren(blank, ...ledger.enterprises.map((e) => {
      const o = document.createElement("option");
      o.value = e.id;
      o.textContent = `${e.id} ${e.name}`;
      return o;
    }));
  }

  function clickable(cells, id, onClick) {
    const tr = document.createElement("tr");
    for (const v of cells) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.dataset.id = id;
    tr.className = "clickable";
    tr.addEventListener("click", onClick);
    return tr;
  }

  // -- streets ----------------------------------------------------------------------------------
  function editStreet(id) {
    street = ledger.streets.find((s) => s.id === id) || null;
    $("s-id").value = street ? street.id : "";
    $("s-id").readOnly = !!street;
    $("s-name").value = street ? street.name : "";
    clearErrors($("street-form"));
  }

  async function saveStreet(ev) {
    ev.preventDefault();
    const doc = { id: $("s-id").value.trim(), name: $("s-name").value.trim() };
    const r = street ? await call("PUT", `/api/v1/admin/streets/${encodeURIComponent(street.id)}`, doc)
      : await call("POST", "/api/v1/admin/streets", doc);
    await after(r, $("street-form"), doc.id, () => editStreet(doc.id));
  }

  async function retire(kind, id, form, then) {
    const r = await call("DELETE", `/api/v1/admin/${kind}/${encodeURIComponent(id)}`);
    await after(r, form, id, then);
  }

  // The answer to a write: saved (live, or committed and being applied), or every error by its field.
  async function after(r, form, id, then) {
    if (r.status === 200 || r.status === 201 || r.status === 202) {
      say(t("Saved: {id} (version {version})", { id, version: r.data.version })
        + (r.data.live === false ? " · " + t("being applied to the running system") : ""));
      clearErrors(form);
      await load();
      if (then) await then();
      return true;
    }
    showErrors(form, r.status, (r.data && r.data.errors) || [{ field: "", message: (r.data && r.data.error) || "" }]);
    return false;
  }

  // -- users ------------------------------------------------------------------------------------
  function editUser(name) {
    user = ledger.users.find((u) => u.name === name) || null;
    $("u-name").value = user ? user.name : "";
    $("u-name").readOnly = !!user;
    $("u-role").value = user ? user.role : "officer";
    $("u-enterprise").value = user && user.enterprise ? user.enterprise : "";
    $("u-streets").value = user ? (user.streets || []).join(", ") : "";
    $("u-password").value = "";
    clearErrors($("user-form"));
  }

  async function saveUser(ev) {
    ev.preventDefault();
    const doc = { name: $("u-name").value.trim(), role: $("u-role").value };
    if ($("u-enterprise").value) doc.enterprise = $("u-enterprise").value;
    const streets = $("u-streets").value.split(/[,，]/).map((x) => x.trim()).filter(Boolean);
    if (streets.length) doc.streets = streets;
    if ($("u-password").value) doc.password = $("u-password").value;
    const r = user ? await call("PUT", `/api/v1/admin/users/${encodeURIComponent(user.name)}`, doc)
      : await call("POST", "/api/v1/admin/users", doc);
    await after(r, $("user-form"), doc.name, () => editUser(doc.name));
  }

  async function edit(id) {
    editing = id === null ? { isNew: true, devices: [] } : ledger.enterprises.find((e) => e.id === id);
    if (!editing) return;
    $("editor").hidden = false;
    $("edit-id").textContent = id || "";
    $("f-id-row").hidden = !editing.isNew;
    $("f-id").value = "";
    for (const f of FIELDS) $(`f-${f}`).value = editing[f] == null ? "" : String(editing[f]);
    $("devices").replaceChildren(...(editing.devices || []).map(deviceRow));
    clearErrors($("edit-form"));
    $("onboarding").textContent = "";
    if (editing.isNew) return;
    const r = await call("GET", `/api/v1/admin/enterprises/${encodeURIComponent(id)}/onboarding`);
    $("onboarding").textContent = r.status === 200 ? JSON.stringify(r.data, null, 2) : "";
  }

  async function save(ev) {
    ev.preventDefault();
    if (!editing) return;
    const doc = { ...editing };
    delete doc.isNew;
    for (const f of FIELDS) {
      const v = $(`f-${f}`).value.trim();
      if (v === "") delete doc[f]; else doc[f] = v;
    }
    doc.devices = devicesOf(editing);
    if (editing.isNew) {
      doc.id = $("f-id").value.trim();
      const r = await call("POST", "/api/v1/admin/enterprises", doc);
      if (await after(r, $("edit-form"), doc.id, () => edit(doc.id))) {
        const box = $("new-token");  // shown this once; only its digest is kept
        box.hidden = false;
        box.textContent = t("Token for {id} (shown only this once): {token}", { id: doc.id, token: r.data.token });
      }
      return;
    }
    const r = await call("PUT", `/api/v1/admin/enterprises/${encodeURIComponent(editing.id)}`, doc);
    const id = editing.id;
    await after(r, $("edit-form"), id, () => edit(id));
  }

  async function importFile(ev) {
    ev.preventDefault();
    const file = $("import-file").files[0];
    if (!file) return;
    const xlsx = file.name.toLowerCase().endsWith(".xlsx");
    const type = xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
    const dry = $("import-dry").checked ? "?dry_run=1" : "";
    const r = await call("POST", `/api/v1/admin/import${dry}`, await file.arrayBuffer(), type);
    const d = r.data || {};
    const lines = [`${r.status} ${d.applied ? t("Applied") : t("Not applied")}`,
      t("Created {create} · updated {update}", { create: d.summary ? d.summary.create : 0,
        update: d.summary ? d.summary.update : 0 })];
    for (const e of d.errors || []) lines.push(t("Row {row} · {id} · {field}: {message}", e));
    if (d.error && !(d.errors || []).length) lines.push(d.error);
    $("import-result").textContent = lines.join("\n");
    if (d.applied) await load();
  }

  async function start() {
    const me = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (me.status !== 200) { location.href = "/login"; return; }
    const m = await me.json();
    csrf = m.csrf || "";
    $("user").textContent = m.name;
    $("edit-form").addEventListener("submit", save);
    $("add-device").addEventListener("click", () => $("devices").appendChild(deviceRow({ points: [] })));
    $("new-enterprise").addEventListener("click", () => edit(null));
    $("retire-enterprise").addEventListener("click", async () => {
      if (!editing || editing.isNew) return;
      await retire("enterprises", editing.id, $("edit-form"), () => { $("editor").hidden = true; });
    });
    $("street-form").addEventListener("submit", saveStreet);
    $("street-new").addEventListener("click", () => editStreet(null));
    $("street-retire").addEventListener("click", () => street && retire("streets", street.id, $("street-form"),
      () => editStreet(null)));
    $("user-form").addEventListener("submit", saveUser);
    $("user-new").addEventListener("click", () => editUser(null));
    $("user-retire").addEventListener("click", () => user && retire("users", user.name, $("user-form"),
      () => editUser(null)));
    $("import-form").addEventListener("submit", importFile);
    await load();
  }
  window.W.start(start);
})();
