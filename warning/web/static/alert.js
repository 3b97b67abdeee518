// 报警详情 One alert: facts, a chart of its point around the alert (limits, events with their
// values), the timeline of every event with who did what, and the officers' forms
// (ack, feedback, resolve, silence). The forms POST JSON with the session's CSRF token and
// show the server's error as it is (e.g. 404/405 where an API is not deployed).
"use strict";

W.start(() => {
  const { $, el, t, sevName, nowSevOf, stateName, kindName, clearedUnsigned, entName, timeText, fmtValue, sevOf, where } = W;
  const aid = decodeURIComponent(location.pathname.split("/")[2] || "");
  const BEFORE_S = 900; // chart from 15 min before the alert
  let alert = null;
  let reloadTimer = null;

  function fact(dl, k, v) {
    dl.appendChild(el("dt", null, k));
    dl.appendChild(el("dd", null, v == null || v === "" ? "—" : String(v)));
  }

  function render() {
    const a = alert;
    const sev = sevOf(a);
    document.title = `[${sevName(sev)}] ${where(a)} · ${t("Alert")}`;
    $("summary").className = `panel summary sev-${sev} state-${a.state}`;
    const title = $("a-title");
    title.replaceChildren(el("span", `chip sev-${sev}`, sevName(sev)), document.createTextNode(` ${a.message}`));
    const dl = $("a-facts");
    dl.replaceChildren();
    const ent = el("a", null, entName(a) === a.enterprise ? a.enterprise : `${entName(a)} (${a.enterprise})`);
    ent.href = `/e/${encodeURIComponent(a.enterprise)}`;
    dl.appendChild(el("dt", null, t("Enterprise")));
    dl.appendChild(el("dd")).appendChild(ent);
    fact(dl, t("Device · point"), `${a.device} · ${a.point || "—"}${a.point_info ? ` (${a.point_info.title})` : ""}`);
    fact(dl, t("Rule"), a.rule);
    fact(dl, t("Peak level"), `${sevName(sev)}${nowSevOf(a) !== sev ? ` · ${t("now {level}", { level: sevName(nowSevOf(a)) })}` : ""}`);
    fact(dl, t("State"), clearedUnsigned(a) ? t("Cleared, not signed for")
      : `${stateName(a.state)}${a.condition_active === false ? ` · ${t("condition cleared")}` : ""}`);
    fact(dl, t("Value"), `${fmtValue(a.value)} ${a.point_info ? a.point_info.unit : ""}`);
    fact(dl, t("Opened"), timeText(a.opened_at));
    fact(dl, t("Signed for"), a.acknowledged_by ? `${a.acknowledged_by} · ${timeText(a.acknowledged_at)}${a.ack_note ? ` · ${a.ack_note}` : ""}` : "");
    fact(dl, t("Lifted"), a.resolved_at ? `${a.resolved_by || t("system")} · ${timeText(a.resolved_at)}${a.resolve_note ? ` · ${a.resolve_note}` : ""}` : "");

    const ol = $("timeline");
    ol.replaceChildren();
    for (const e of a.events) {
      const li = el("li", `ev ev-${e.kind} sev-${sevOf(e)}`);
      li.dataset.kind = e.kind;
      li.appendChild(el("time", "num", timeText(e.at)));
      li.appendChild(el("strong", null, kindName(e.kind)));
      li.appendChild(el("span", "ev-actor", e.actor ? t("by {name}", { name: e.actor }) : t("system")));
      li.appendChild(el("span", "muted", `${sevName(nowSevOf(e))} · ${fmtValue(e.value)}`));
      if (e.note) li.appendChild(el("span", "ev-note", e.note));
      ol.appendChild(li);
    }
    const open = a.state !== "resolved";
    $("f-ack").hidden = a.state !== "active";
    $("f-handle").hidden = a.state !== "acknowledged";
    $("f-feedback").hidden = !open || a.state === "active";
    $("f-resolve").hidden = !open;
    $("f-silence").hidden = false;
  }

  let historyChart = null;
  async function chart() {
    const a = alert;
    if (!a.point) { $("chart").replaceChildren(el("p", "muted", t("A device-level alert: no point to chart"))); return; }
    const t0 = a.opened_at - BEFORE_S;
    const end = a.resolved_at || Date.now() / 1000;
    const t1 = Math.min(Math.max(end + 120, a.opened_at + 300), Date.now() / 1000 + 1);
    const range = historyChart ? historyChart.range() : [t0, t1]; // a reload keeps the officer's zoom
    historyChart = Charts.history($("chart"), {
      t, t0: range[0], t1: range[1], unit: a.point_info ? a.point_info.unit : "",
      limits: a.point_info ? a.point_info.limits : [],
      band: [a.opened_at, a.resolved_at || Date.now() / 1000], bandSeverity: sevOf(a), noData: t("no data"),
      async load(f, to) {
        const q = new URLSearchParams({ enterprise: a.enterprise, device: a.device, point: a.point, from: f, to, max: 600 });
        const r = await W.getJSON(`/api/v1/dash/series?${q}`);
        return { points: r.series[`${a.device}/${a.point}`] || [], resolution: r.resolution };
      },
      markers: () => a.events.map((e) => ({ t: e.at, severity: nowSevOf(e), value: e.value, label: kindName(e.kind) })),
    });
  }

  async function load() {
    try {
      alert = await W.getJSON(`/api/v1/dash/alerts/${encodeURIComponent(aid)}`);
    } catch (e) {
      $("a-title").textContent = t("Alert not found: {error}", { error: e.message });
      $("actions").hidden = true;
      return;
    }
    render();
    chart();
  }
  const reloadSoon = () => { clearTimeout(reloadTimer); reloadTimer = setTimeout(load, 200); };

  // What each form sends; see docs/dashboard.md.
  const ACTIONS = {
    ack: () => [`/api/v1/alerts/${encodeURIComponent(aid)}/ack`, { note: $("ack-note").value.trim() }],
    resolve: () => [`/api/v1/alerts/${encodeURIComponent(aid)}/resolve`, { note: $("res-note").value.trim() }],
    handle: () => [`/api/v1/alerts/${encodeURIComponent(aid)}/handle`, { note: $("handle-note").value.trim() }],
    feedback: () => { // the verdict also leads the note, so the timeline shows it whatever the API keeps
      const v = $("fb-verdict");
      return [`/api/v1/alerts/${encodeURIComponent(aid)}/feedback`,
        { verdict: v.value, note: `[${v.options[v.selectedIndex].text}] ${$("fb-note").value.trim()}` }];
    },
    silence: () => {
      const now = Date.now() / 1000;
      const matchers = { enterprise: alert.enterprise, device: alert.device };
      if ($("sil-scope").value === "point") { matchers.point = alert.point; matchers.rule = alert.rule; }
      return ["/api/v1/silences", { matchers, starts_at: now, ends_at: now + Number($("sil-minutes").value) * 60,
        reason: $("sil-reason").value.trim(), alert_id: aid }];
    },
  };
  const { N_ } = W;
  const DONE = { handle: N_("Being handled"), ack: N_("Signed for"), resolve: N_("Lifted"), feedback: N_("Feedback sent"),
    silence: N_("Silenced") };
  const FAILED = { handle: N_("Taking it in hand failed"), ack: N_("Signing for it failed"), resolve: N_("Lifting it failed"),
    feedback: N_("Sending the feedback failed"), silence: N_("Silencing failed") };

  document.querySelectorAll(".act-form").forEach((f) => f.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!alert) return;
    const name = f.dataset.action;
    const btn = f.querySelector("button[type=submit]");
    btn.disabled = true;
    $("act-error").hidden = true;
    const [url, body] = ACTIONS[name]();
    const r = await W.postJSON(url, body);
    btn.disabled = false;
    if (!r.ok) {
      $("act-error").textContent = `${t(FAILED[name])} (${r.status}): ${r.error}`;
      $("act-error").hidden = false;
      return;
    }
    f.reset();
    W.showMsg(t(DONE[name]));
    reloadSoon();
  }));

  W.feed({
    snapshot() { reloadSoon(); },
    missed() { reloadSoon(); },
    event(ev) { if (ev.alert && ev.alert.id === aid) reloadSoon(); },
    status() {
      const home = $("home-link");
      if (W.me.enterprise) home.href = `/e/${encodeURIComponent(W.me.enterprise)}`;
    },
  });
});
