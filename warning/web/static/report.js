// 一码发现: the QR code's public page. Reads what may be public and posts a hazard report.
"use strict";
W.start(async () => {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  const $ = s => document.getElementById(s);
  async function load() {
    const r = await fetch(`/api/v1/public/${encodeURIComponent(id)}`, {cache: "no-store"});
    if (!r.ok) { $("r-name").textContent = W.t("Failed"); return; }
    const d = await r.json();
    $("r-name").textContent = d.name;
    $("r-street").textContent = d.street || "-";
    const level = d.risk || "none";
    $("r-risk").textContent = rt(level);
    $("r-risk").className = `risk-badge risk-${level}`;
    $("r-challenge").textContent = d.challenge;
    $("r-token").value = d.token;
  }
  function base64(file) {
    return new Promise((ok, fail) => {
      const fr = new FileReader();
      fr.onload = () => ok(String(fr.result).split(",")[1]);
      fr.onerror = fail;
      fr.readAsDataURL(file);
    });
  }
  $("r-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    $("r-send").disabled = true;
    const body = {text: $("r-text").value, token: $("r-token").value, answer: $("r-answer").value};
    if ($("r-contact").value.trim()) body.contact = $("r-contact").value.trim();
    const file = $("r-photo").files[0];
    if (file) body.photo = await base64(file);
    const r = await fetch(`/api/v1/public/${encodeURIComponent(id)}/report`, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (r.status === 201) {
      $("r-result").textContent = W.t("Sent, thank you: the street will follow it up.");
      $("r-form").reset();
    } else {
      let msg = r.status;
      try { msg = (await r.json()).error; } catch (e) { /* not JSON */ }
      $("r-result").textContent = `${W.t("Failed")}: ${msg}`;
    }
    $("r-send").disabled = false;
    await load();  // a new token and question: each form is good once
  });
  await load();
});
