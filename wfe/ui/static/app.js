// wfe dashboard: the actions (with a confirmation, result shown in place) and the live counts.
// Plain browser JavaScript, no build step. Values from the server are set as text, never as HTML.
"use strict";

(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const root = meta("wfe-root");
  const csrf = meta("wfe-csrf");

  function show(text, ok) {
    const out = document.getElementById("action-result");
    if (!out) return;
    out.textContent = text;
    out.className = "result " + (ok ? "ok" : "failed");
  }

  async function post(path, body) {
    const response = await fetch(root + path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-WFE-CSRF": csrf},
      body: JSON.stringify(body || {}),
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {error: `HTTP ${response.status}`}; }
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  document.querySelectorAll(".actions").forEach((box) => {
    const workflow = box.dataset.workflow;
    box.querySelectorAll("button[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        if (!window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        try {
          const answer = await post(`/api/workflows/${encodeURIComponent(workflow)}/${button.dataset.action}`);
          show(answer.message, answer.changed);
          const status = document.getElementById("workflow-status");
          if (status) {
            status.textContent = answer.status;
            status.className = `status status-${answer.status}`;
          }
          box.querySelectorAll("button[data-applies]").forEach((other) => {
            other.hidden = !other.dataset.applies.split(" ").includes(answer.status);
          });
        } catch (error) {
          show(error.message, false);
        } finally {
          button.disabled = false;
        }
      });
    });
  });

  document.querySelectorAll("form[data-action=publish]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = new FormData(form);
      const body = {name: fields.get("name"), key: fields.get("key"), data: fields.get("data")};
      if (!window.confirm(`Publish event ${body.name} with key ${body.key}?`)) return;
      try {
        show((await post("/api/events", body)).message, true);
      } catch (error) {
        show(error.message, false);
      }
    });
  });

  // Live counts per status on the list: asked again every few seconds while the page is seen.
  const counts = document.getElementById("counts");
  if (counts) {
    const refresh = async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(`${root}/api/counts?${counts.dataset.query}`, {credentials: "same-origin"});
        if (!response.ok) return;
        const answer = await response.json();
        counts.querySelectorAll(".n[data-status]").forEach((n) => {
          const value = answer.counts[n.dataset.status];
          if (value !== undefined) n.textContent = String(value);
        });
        counts.dataset.updated = new Date().toISOString();
      } catch (e) { /* the server may be restarting; the next round tries again */ }
    };
    setInterval(refresh, 5000);
  }
})();
