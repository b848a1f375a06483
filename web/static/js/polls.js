// Quick polls: the facilitator asks a question with 2–6 options (the form in the side panel);
// everyone gets the poll card and answers once; the facilitator sees the results live, the
// others too if the facilitator chose to show them.

import { $, make, showText } from "./dom.js";
import { t, tn } from "./i18n.js";
import { placeOverlays } from "./panel.js";

export const MIN_OPTIONS = 2;
export const MAX_OPTIONS = 6;

export function setupPolls(state, panel) {
  const el = {
    card: $("#poll-card"),
    hide: $("#btn-poll-hide"),
    answerForm: $("#poll-answer-form"),
    question: $("#poll-question"),
    questionText: $("#poll-question-text"),
    options: $("#poll-options"),
    status: $("#poll-status"),
    results: $("#poll-results"),
    total: $("#poll-total"),
    private: $("#poll-private"),
    close: $("#btn-poll-close"),
    // The facilitator's form.
    form: $("#poll-form"),
    questionInput: $("#poll-question-input"),
    optionInputs: $("#poll-option-inputs"),
    addOption: $("#btn-poll-add-option"),
    showResults: $("#poll-show-results"),
    formError: $("#poll-form-error"),
  };
  let poll = null;
  let hiddenId = null; // the poll the user hid (a new one shows the card again)

  // ---- the card ------------------------------------------------------------------------

  function renderCard() {
    el.card.hidden = !poll || hiddenId === poll.id;
    if (!poll) return;
    el.card.dataset.pollId = poll.id;
    el.card.dataset.status = poll.status;
    // Leaders answer; the facilitator who asks (and observers) watch the results.
    const canAnswer =
      poll.status === "open" &&
      poll.answered == null &&
      state.self.role === "participant" &&
      Boolean(state.signaling);
    el.answerForm.hidden = !canAnswer;
    el.questionText.hidden = canAnswer;
    el.question.textContent = poll.question;
    el.questionText.textContent = poll.question;
    if (canAnswer && el.options.dataset.pollId !== poll.id) {
      el.options.dataset.pollId = poll.id;
      el.options.replaceChildren(
        ...poll.options.map((text, i) => {
          const row = make("div", { class: "poll-option" });
          const id = `poll-option-${i}`;
          const input = make("input", { type: "radio", name: "poll-option", id, value: String(i) });
          const label = make("label", { for: id }, text);
          row.append(input, label);
          return row;
        }),
      );
    }
    const notes = [];
    if (poll.answered != null) notes.push(t("polls.thanks", { option: poll.options[poll.answered] || "" }));
    if (poll.status === "closed") notes.push(t("polls.closed"));
    el.status.textContent = notes.join(" ");
    el.status.hidden = notes.length === 0;
    const results = poll.results;
    el.results.hidden = !results;
    el.total.hidden = !results;
    el.private.hidden = Boolean(results) || poll.answered == null;
    if (results) {
      el.results.replaceChildren(
        ...poll.options.map((text, i) => {
          const count = results.counts[i] || 0;
          const pct = results.total ? Math.round((100 * count) / results.total) : 0;
          const li = make("li", { class: "poll-result", "data-count": String(count) });
          const label = make("span", { class: "poll-result-label" }, text);
          const value = make("span", { class: "poll-result-value" }, t("polls.result", { count, pct }));
          const bar = make("span", { class: "poll-bar", "aria-hidden": "true" });
          bar.style.setProperty("--pct", `${pct}%`);
          li.append(label, value, bar);
          return li;
        }),
      );
      // "2 of 3 present": the answers against the participants in the room now.
      const others = state.ctx.participants().filter((p) => p.role === "participant" && p.participant_id !== state.self.participantId);
      const present = others.length + (state.self.role === "participant" ? 1 : 0);
      el.total.dataset.present = String(present);
      el.total.textContent =
        present >= results.total ? t("polls.present", { n: results.total, present }) : tn("polls.votes", results.total);
    }
    if (el.close) el.close.hidden = !(state.isFacilitator && poll.status === "open");
    placeOverlays();
  }

  function onPoll(next) {
    const isNew = !poll || poll.id !== next.id;
    poll = next;
    if (isNew && next.status === "open") {
      hiddenId = null;
      state.ctx.announce(t("polls.new", { question: next.question }));
    }
    renderCard();
    state.changed("poll");
  }

  el.answerForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = el.options.querySelector("input:checked");
    if (!chosen || !poll || !state.signaling) return;
    state.signaling.answerPoll(poll.id, Number(chosen.value));
  });
  el.hide.addEventListener("click", () => {
    if (poll) hiddenId = poll.id;
    renderCard();
  });
  if (el.close) {
    el.close.addEventListener("click", () => poll && state.signaling && state.signaling.closePoll(poll.id));
  }

  // ---- the facilitator's form -------------------------------------------------------------

  function optionRow(value = "") {
    const li = make("li", { class: "poll-option-input" });
    const label = make("label");
    const input = make("input", { type: "text", maxlength: "100", autocomplete: "off" });
    input.value = value;
    const remove = make("button", { type: "button", class: "button button-small" }, "×");
    remove.addEventListener("click", () => {
      const rows = [...el.optionInputs.children];
      if (rows.length <= MIN_OPTIONS) return;
      const i = rows.indexOf(li);
      li.remove();
      numberOptions();
      const next = el.optionInputs.children[Math.min(i, el.optionInputs.children.length - 1)];
      $("input", next).focus();
    });
    li.append(label, input, remove);
    return li;
  }

  function numberOptions() {
    const rows = [...el.optionInputs.children];
    rows.forEach((li, i) => {
      const input = $("input", li);
      input.id = `poll-option-input-${i}`;
      const label = $("label", li);
      label.htmlFor = input.id;
      label.textContent = t("polls.option", { n: i + 1 });
      const remove = $("button", li);
      remove.setAttribute("aria-label", t("polls.removeOption", { n: i + 1 }));
      remove.hidden = rows.length <= MIN_OPTIONS;
    });
    el.addOption.hidden = rows.length >= MAX_OPTIONS;
  }

  function resetForm() {
    el.questionInput.value = "";
    el.optionInputs.replaceChildren(optionRow(), optionRow());
    el.showResults.checked = false;
    numberOptions();
  }

  const formError = (text) => showText(el.formError, text);

  if (el.form) {
    resetForm();
    el.addOption.addEventListener("click", () => {
      if (el.optionInputs.children.length >= MAX_OPTIONS) return;
      const row = optionRow();
      el.optionInputs.append(row);
      numberOptions();
      $("input", row).focus();
    });
    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const question = el.questionInput.value.trim();
      const options = [...el.optionInputs.querySelectorAll("input")].map((i) => i.value.trim());
      const valid =
        question &&
        options.length >= MIN_OPTIONS &&
        options.every(Boolean) &&
        new Set(options).size === options.length;
      if (!valid) {
        formError(t("polls.errorOptions"));
        return;
      }
      if (!state.signaling || !state.signaling.createPoll(question, options, el.showResults.checked)) {
        formError(t("chat.offline"));
        return;
      }
      formError("");
      el.form.dataset.pending = "true";
    });
  }

  function onError(m) {
    if (m.ref === "poll_create") {
      delete el.form.dataset.pending;
      formError(m.code === "conflict" ? t("polls.errorOpen") : t("moderation.refused", { message: m.message || m.code }));
    } else if (m.ref === "poll_answer" || m.ref === "poll_close") {
      state.ctx.announce(t("moderation.refused", { message: m.message || m.code }));
    }
  }

  document.addEventListener("classroom:language", () => {
    if (el.form) numberOptions();
    if (el.options) delete el.options.dataset.pollId; // re-made in the new language's card
    renderCard();
  });

  return {
    attach(signaling, media, on) {
      on(signaling, "poll", (e) => {
        const next = e.detail.poll;
        if (el.form && el.form.dataset.pending && next.status === "open") {
          delete el.form.dataset.pending;
          resetForm();
          panel.close();
        }
        onPoll(next);
      });
      on(signaling, "error", (e) => onError(e.detail));
      on(signaling, "welcome", () => {
        poll = null; // an open poll is sent again after the welcome
        renderCard();
      });
    },
    detach() {
      poll = null;
      renderCard();
    },
    poll: () => (poll ? JSON.parse(JSON.stringify(poll)) : null),
  };
}
