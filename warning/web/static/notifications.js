// The outbox's deliveries (/notifications): every message to every channel, the platform above
// included (alerts, risk warnings, real-time data), with its state, tries and last error; newest
// first, refreshed every 5 s. Reads GET /api/v1/notifications (district roles).
"use strict";
W.start(async () => {
  if (!(await W.loadMe())) return;
  const N_ = W.N_;
  const STATE = {pending: N_("Delivery pending"), sent: N_("Delivered"), failed: N_("Dead letter (failed)"),
                 cancelled: N_("Delivery cancelled")};
  const channel = W.$("n-channel"), state = W.$("n-state"), body = W.$("n-table").querySelector("tbody");
  const when = (s) => (s == null ? "—" : new Date(s * 1000).toLocaleString(W.i18n.locale, {hour12: false}));
  try {
    for (const ch of (await W.getJSON("/api/v1/policies")).channels || []) {
      const o = W.el("option", null, `${ch.id} (${ch.type})`);
      o.value = ch.id;
      channel.append(o);
    }
  } catch (_) { /* the list still works unfiltered */ }
  async function render() {
    const q = new URLSearchParams({limit: "500"});
    if (channel.value) q.set("channel", channel.value);
    if (state.value) q.set("state", state.value);
    const rows = await W.getJSON(`/api/v1/notifications?${q}`);
    body.replaceChildren(...rows.map((n) => {
      const tr = W.el("tr", `n-${n.state}`);
      tr.dataset.id = n.notification_id;
      tr.dataset.state = n.state;
      tr.dataset.kind = n.kind;
      for (const v of [when(n.created_at), n.channel, n.kind, STATE[n.state] ? W.t(STATE[n.state]) : n.state,
                       String(n.attempts), n.state === "pending" ? when(n.next_attempt_at) : "—", when(n.sent_at),
                       n.last_error || "", n.notification_id]) tr.append(W.el("td", null, v));
      return tr;
    }));
    W.$("n-count").textContent = W.t("Deliveries shown: {n}", {n: rows.length});
  }
  channel.addEventListener("change", render);
  state.addEventListener("change", render);
  await render();
  setInterval(() => render().catch(() => {}), 5000);
});
