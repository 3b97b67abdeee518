// Risk warnings panel (风险预警) on the enterprise page: warnings first, each with why, its timeline
// and the step it waits for: sign (签收) and reply (回复) for the enterprise, review (审核销号/退回) for officers.
"use strict";
W.start(async () => {
  const panel = document.getElementById("risk-panel");
  if (!panel) return;
  const parts = location.pathname.split("/");
  const enterprise = parts[1] === "e" ? decodeURIComponent(parts[2]) : null;
  const me = await (await fetch("/api/v1/me", {cache: "no-store"})).json();
  const post = (url, body, raw) => fetch(url, {
    method: "POST", body: raw ? body : JSON.stringify(body),
    headers: {"X-CSRF-Token": me.csrf || "", "Content-Type": raw ? raw : "application/json"}});
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "class") e.className = v; else e.setAttribute(k, v); });
    kids.forEach(k => e.append(k));
    return e;
  };
  const when = s => new Date(s * 1000).toLocaleString(W.i18n.locale, {hour12: false});
  async function act(id, what, body, msg) {
    const r = await post(`/api/v1/warnings/${id}/${what}`, body);
    if (!r.ok) msg.textContent = `${W.t("Failed")}: ${(await r.json()).error}`;
    document.dispatchEvent(new Event("warning:changed")); // the page's badge follows the warning
    await render();
  }
  function replyForm(item, msg) {
    const f = el("form", {class: "risk-form", "data-role": "reply"});
    const cause = el("textarea", {name: "cause", rows: "2", required: ""});
    const measures = el("textarea", {name: "measures", rows: "2", required: ""});
    const verdict = el("select", {name: "verdict"});
    ["true", "false_alarm", "maintenance"].forEach(v => verdict.append(el("option", {value: v}, rt(v))));
    const photo = el("input", {type: "file", name: "photo", accept: "image/jpeg,image/png,image/webp"});
    f.append(el("label", {}, W.t("Cause"), cause), el("label", {}, W.t("Measures taken"), measures),
             el("label", {}, W.t("Verdict"), verdict), el("label", {}, W.t("Photos"), photo),
             el("button", {type: "submit"}, W.t("Reply")));
    f.addEventListener("submit", async ev => {
      ev.preventDefault();
      const photos = [];
      if (photo.files[0]) {
        const up = await post(`/api/v1/photos?enterprise=${encodeURIComponent(item.enterprise)}`, photo.files[0],
                              photo.files[0].type || "application/octet-stream");
        if (!up.ok) { msg.textContent = `${W.t("Failed")}: ${(await up.json()).error}`; return; }
        photos.push((await up.json()).id);
      }
      await act(item.id, "reply", {cause: cause.value, measures: measures.value, verdict: verdict.value, photos}, msg);
    });
    return f;
  }
  function reviewForm(item, msg) {
    const f = el("form", {class: "risk-form", "data-role": "review"});
    const note = el("input", {type: "text", name: "note", maxlength: "2000"});
    const close = el("button", {type: "button", "data-do": "close"}, W.t("Review and close"));
    const back = el("button", {type: "button", "data-do": "return"}, W.t("Return"));
    close.addEventListener("click", () => act(item.id, "review", {close: true, note: note.value || null}, msg));
    back.addEventListener("click", () => act(item.id, "review", {close: false, note: note.value}, msg));
    f.append(el("label", {}, W.t("Note"), note), close, back);
    return f;
  }
  async function render() {
    const q = `/api/v1/warnings?state=all${enterprise ? `&enterprise=${encodeURIComponent(enterprise)}` : ""}`;
    const rows = (await (await fetch(q, {cache: "no-store"})).json())
      .filter(w => !enterprise || w.enterprise === enterprise).slice(0, 20);
    panel.replaceChildren(el("h2", {}, W.t("Risk warnings")));
    if (!rows.length) panel.append(el("p", {class: "muted"}, W.t("No risk warnings")));
    for (const w of rows) {
      const item = await (await fetch(`/api/v1/warnings/${w.id}`, {cache: "no-store"})).json();
      const lv = item.kind === "report" ? "report" : item.level;
      const box = el("article", {class: `risk-item risk-${lv}`, "data-id": item.id, "data-state": item.state});
      box.append(el("h3", {}, el("span", {class: `risk-badge risk-${lv}`}, rt(lv)), " ", rt(item.kind), " · ",
                    el("span", {class: "risk-state"}, rt(item.state)), " · ", when(item.opened_at)));
      if (item.factors && item.factors.length) {
        const ul = el("ul", {class: "risk-why"});
        item.factors.slice(0, 6).forEach(f => ul.append(el("li", {}, factorText(f))));
        box.append(el("div", {}, W.t("Why"), ul));
      }
      const ol = el("ol", {class: "risk-timeline"});
      item.steps.forEach(s => {
        let text = `${when(s.at)} ${rt(s.action)} · ${s.actor || W.t("system")}`;
        if (s.data && s.data.verdict_zh) text += ` · ${rt(s.data.verdict)} · ${s.data.cause} / ${s.data.measures}`;
        if (s.data && s.data.tier_name) text += ` → ${s.data.tier_name}`;
        if (s.note) text += ` · ${s.note}`;
        const li = el("li", {"data-action": s.action}, text);
        ((s.data && s.data.photos) || []).forEach(p => li.append(" ", el("a", {href: `/api/v1/photos/${p.id}`, target: "_blank"}, W.t("Photos"))));
        ol.append(li);
      });
      box.append(el("div", {}, W.t("Timeline"), ol));
      const msg = el("p", {class: "risk-msg", role: "status"});
      const actions = el("div", {class: "risk-actions"});
      const mayAnswer = me.role === "enterprise" || me.can_act;
      if (item.state === "open" && mayAnswer) {
        const b = el("button", {type: "button", "data-do": "sign"}, W.t("Sign for it"));
        b.addEventListener("click", () => act(item.id, "sign", {}, msg));
        actions.append(b);
      } else if ((item.state === "signed" || item.state === "returned") && mayAnswer) {
        actions.append(replyForm(item, msg));
      } else if (item.state === "replied" && me.can_act) {
        actions.append(reviewForm(item, msg));
      }
      box.append(actions, msg);
      panel.append(box);
    }
  }
  await render();
  setInterval(() => { if (!panel.querySelector("form:focus-within")) render(); }, 15000);
});
