// The ledger's admin page: list enterprises, edit one (field errors shown beside the fields),
// onboarding details, import (dry run first) and export. Talks to /api/v1/admin/*.
"use strict";

(() => {
  const { $, t } = window.W;
  const FIELDS = ["name", "credit_code", "address", "street", "industry", "dust_workers", "contact_name",
    "contact_phone", "risk_grade"];
  let csrf = "";
  let ledger = null;
  let editing = null;

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
  }

  async function edit(id) {
    editing = ledger.enterprises.find((e) => e.id === id);
    if (!editing) return;
    $("editor").hidden = false;
    $("edit-id").textContent = id;
    for (const f of FIELDS) $(`f-${f}`).value = editing[f] == null ? "" : String(editing[f]);
    for (const s of document.querySelectorAll(".field-error")) s.textContent = "";
    const r = await call("GET", `/api/v1/admin/enterprises/${encodeURIComponent(id)}/onboarding`);
    $("onboarding").textContent = r.status === 200 ? JSON.stringify(r.data, null, 2) : "";
  }

  async function save(ev) {
    ev.preventDefault();
    if (!editing) return;
    const doc = { ...editing };
    for (const f of FIELDS) {
      const v = $(`f-${f}`).value.trim();
      if (v === "") delete doc[f]; else doc[f] = v;
    }
    for (const s of document.querySelectorAll(".field-error")) s.textContent = "";
    const r = await call("PUT", `/api/v1/admin/enterprises/${encodeURIComponent(editing.id)}`, doc);
    if (r.status === 200) {
      say(t("Saved: {id} (version {version})", { id: editing.id, version: r.data.version }));
      const id = editing.id;
      await load();
      await edit(id);
      return;
    }
    const errors = (r.data && r.data.errors) || [];
    for (const e of errors) {
      const span = document.querySelector(`.field-error[data-field="${e.field}"]`);
      if (span) span.textContent = e.message;
    }
    say(t("Not saved ({status}): {errors}", { status: r.status,
      errors: errors.map((e) => `${e.field}: ${e.message}`).join("; ") }), true);
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
    $("import-form").addEventListener("submit", importFile);
    await load();
  }
  window.W.start(start);
})();
