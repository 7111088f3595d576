/* Approvals that pipeline runs wait for, with Approve and Reject and a comment (approvers
   only; the API refuses anyone else anyway). Shared by the Overview, Pipelines and
   pipeline run pages; loaded before keel.js, so Keel is only used when called. */
"use strict";

const KeelApprovals = (() => {
  /** Who decided what and why, for a decided approval. */
  function verdict(a) {
    const { badge, h, time } = Keel;
    if (a.status === "pending") return h("span", { class: "badge" }, "pending");
    const ok = a.status === "approved";
    return h("span", {}, badge(ok, a.status, a.status),
      a.decided_by ? ` by ${a.decided_by}` : "", a.decided_at ? ` at ${time(a.decided_at)}` : "",
      a.comment ? [": ", h("q", {}, a.comment)] : "");
  }

  /** One approval as a list item; ``approver`` adds a comment field and the buttons. */
  function item(a, approver, { onDecided } = {}) {
    const { api, h, time, url } = Keel;
    const run = h("a", {
      href: url(`pipelines/${encodeURIComponent(a.pipeline)}/runs/${encodeURIComponent(a.pipeline_run_id)}`),
    }, `${a.pipeline} run ${a.pipeline_run_id.slice(0, 12)}`);
    const li = h("li", { class: `approval ${a.status}`, dataset: { approval: a.id } });
    const outcome = h("span", { class: "verdict", "aria-live": "polite" }, verdict(a));
    const head = [h("strong", {}, a.title), " · ", run, ` · step ${a.step} · asked ${time(a.requested_at)}`,
      a.timeout_at && a.status === "pending" ? ` · expires ${time(a.timeout_at)}` : "", " ", outcome];
    li.append(h("div", {}, head));
    if (approver && a.status === "pending") {
      const id = `comment-${a.id}`;
      const comment = h("input", { type: "text", id, maxlength: 2000, class: "comment", placeholder: "why (optional)" });
      const form = h("div", { class: "toolbar decide" });
      const decide = async (verb) => {
        form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        try {
          const text = comment.value.trim();
          const decided = await api(`/approvals/${encodeURIComponent(a.id)}/${verb}`,
            { method: "POST", json: { comment: text || null } });
          Keel.status(`${a.title}: ${decided.status}.`);
          form.remove();
          li.className = `approval ${decided.status}`;
          Keel.fill(outcome, verdict(decided));
          if (onDecided) await onDecided(decided);
        } catch (err) {
          Keel.status(err.message);
          if (err.status === 409) {  // decided (or expired) meanwhile: show what it is now
            const now = await api(`/approvals/${encodeURIComponent(a.id)}`);
            form.remove();
            li.className = `approval ${now.status}`;
            Keel.fill(outcome, verdict(now));
            return;
          }
          form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
        }
      };
      form.append(
        h("label", { for: id, class: "grow" }, "Comment", comment),
        h("button", { type: "button", class: "ok", "aria-label": `Approve ${a.title}`, onclick: () => decide("approve") }, "Approve"),
        h("button", { type: "button", class: "danger", "aria-label": `Reject ${a.title}`, onclick: () => decide("reject") }, "Reject"));
      li.append(form);
    }
    return li;
  }

  /** Fill ``id`` with ``approvals`` (a list); ``empty`` when there are none. */
  async function render(id, approvals, { empty = "Nothing is waiting for approval.", onDecided } = {}) {
    const { can, fill, h } = Keel;
    const approver = await can("approver");
    if (!approvals.length) return fill(id, h("p", { class: "muted" }, empty));
    return fill(id, h("ul", { class: "approvals-list" },
      approvals.map((a) => item(a, approver, { onDecided }))));
  }

  return { render, verdict };
})();
