// The programme page (/admin/cohorts/{cid}/programme): a saved plan's rounds as rows of
// group cards, edited by drag and drop or from the keyboard (focus a person, left/right
// arrow; or the "Move" form under each round). After every move the plan is scored by the
// server without saving (POST /admin/api/v1/cohorts/{cid}/plan-score); "Save" stores it
// (PUT .../plans/{pid}). Calls carry the admin login cookie (its path is /admin) and the
// page's CSRF token.
// Everything the page shows comes from its #programme-data JSON; strings too.

const data = JSON.parse(document.getElementById("programme-data").textContent);
const S = data.strings;
const plan = data.plan;
const cohort = encodeURIComponent(data.cohort_id);
const rounds = plan.rounds.map((r) => r.groups.map((g) => [...g]));
let constraints = {
  pins: data.constraints.pins.map((p) => ({ ...p })),
  apart: data.constraints.apart.map((p) => [...p]),
};
let broken = [];
let scoreSeq = 0;

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

const nameOf = (id) => data.members[id]?.name || id;
const departmentOf = (id) => data.members[id]?.department || "";

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      [data.csrf_header]: data.csrf,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error(answer?.error?.message || `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return answer;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function brokenIn(ri, memberId) {
  return broken.some((v) => v.round === ri && v.member_ids.includes(memberId));
}

// -- the groups -------------------------------------------------------------------------------

function renderRound(ri) {
  const row = document.getElementById(`round-${ri}-groups`);
  row.replaceChildren();
  rounds[ri].forEach((members, gi) => {
    const headingId = `round-${ri}-group-${gi}`;
    const card = el("div", {
      class: "group-card",
      role: "group",
      "aria-labelledby": headingId,
      "data-round": ri,
      "data-group": gi,
    });
    card.append(el("h4", { id: headingId, text: fill(S["programme.group"], { n: gi + 1 }) }));
    const list = el("ul", { class: "chips" });
    for (const m of members) {
      const bad = brokenIn(ri, m);
      const chip = el(
        "li",
        {
          class: bad ? "chip chip-broken" : "chip",
          tabindex: "0",
          draggable: "true",
          "data-member": m,
          "data-round": ri,
          "data-group": gi,
          "aria-keyshortcuts": "ArrowLeft ArrowRight",
        },
        el("span", { class: "chip-name", text: nameOf(m) }),
        departmentOf(m) ? el("span", { class: "chip-department", text: departmentOf(m) }) : null,
        bad ? el("span", { class: "chip-flag", text: `⚠ ${S["programme.breaks"]}` }) : null,
      );
      list.append(chip);
    }
    card.append(list);
    row.append(card);
  });
  renderMoveForm(ri);
}

function renderMoveForm(ri) {
  const form = document.querySelector(`.move-form[data-round="${ri}"]`);
  const who = form.querySelector(".move-who");
  const to = form.querySelector(".move-to");
  const chosen = who.value;
  who.replaceChildren(
    ...rounds[ri]
      .flat()
      .sort((a, b) => nameOf(a).localeCompare(nameOf(b)))
      .map((m) => el("option", { value: m, text: nameOf(m) })),
  );
  if (chosen) who.value = chosen;
  const target = to.value;
  to.replaceChildren(
    ...rounds[ri].map((_, gi) =>
      el("option", { value: gi, text: fill(S["programme.group"], { n: gi + 1 }) }),
    ),
  );
  if (target) to.value = target;
}

function renderAll() {
  rounds.forEach((_, ri) => renderRound(ri));
}

function groupOf(ri, memberId) {
  return rounds[ri].findIndex((g) => g.includes(memberId));
}

function move(ri, memberId, to, { focus = false } = {}) {
  const from = groupOf(ri, memberId);
  if (from < 0 || to < 0 || to >= rounds[ri].length || from === to) return false;
  rounds[ri][from] = rounds[ri][from].filter((m) => m !== memberId);
  rounds[ri][to].push(memberId);
  renderRound(ri);
  say("programme-status", `${fill(S["programme.moved"], { name: nameOf(memberId), n: to + 1 })} ${S["programme.unsaved"]}`);
  if (focus) {
    document.querySelector(`#round-${ri}-groups .chip[data-member="${memberId}"]`)?.focus();
  }
  rescore();
  return true;
}

function say(id, text) {
  document.getElementById(id).textContent = text;
}

// -- drag and drop, keyboard ----------------------------------------------------------------

const programme = document.getElementById("programme");

programme.addEventListener("dragstart", (event) => {
  const chip = event.target.closest?.(".chip");
  if (!chip) return;
  event.dataTransfer.setData("text/plain", `${chip.dataset.round}|${chip.dataset.member}`);
  event.dataTransfer.effectAllowed = "move";
  chip.classList.add("chip-dragging");
});

programme.addEventListener("dragend", (event) => {
  event.target.closest?.(".chip")?.classList.remove("chip-dragging");
});

programme.addEventListener("dragover", (event) => {
  const card = event.target.closest?.(".group-card");
  if (!card) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "move";
});

programme.addEventListener("drop", (event) => {
  const card = event.target.closest?.(".group-card");
  if (!card) return;
  event.preventDefault();
  const [round, memberId] = event.dataTransfer.getData("text/plain").split("|");
  if (Number(round) !== Number(card.dataset.round)) return; // groups of the same round only
  move(Number(round), memberId, Number(card.dataset.group));
});

programme.addEventListener("keydown", (event) => {
  const chip = event.target.closest?.(".chip");
  if (!chip || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) return;
  event.preventDefault();
  const step = event.key === "ArrowRight" ? 1 : -1;
  move(Number(chip.dataset.round), chip.dataset.member, Number(chip.dataset.group) + step, {
    focus: true,
  });
});

for (const form of document.querySelectorAll(".move-form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const ri = Number(form.dataset.round);
    move(ri, form.querySelector(".move-who").value, Number(form.querySelector(".move-to").value));
  });
}

// -- the score -----------------------------------------------------------------------------

function scoreText(s) {
  return fill(S["programme.score"], {
    new: s.new_pairs,
    repeated: s.repeated_pairs,
    same: s.same_department_pairs,
  });
}

function showBroken() {
  const box = document.getElementById("programme-broken");
  if (!broken.length) {
    box.replaceChildren(el("p", { class: "hint", text: S["programme.noBroken"] }));
    return;
  }
  box.replaceChildren(
    el(
      "ul",
      { class: "broken-list" },
      ...broken.map((v) =>
        el("li", {
          text:
            v.kind === "pin"
              ? fill(S["programme.broken.pin"], {
                  round: v.round + 1,
                  name: nameOf(v.member_ids[0]),
                  group: v.group + 1,
                })
              : fill(S["programme.broken.apart"], {
                  round: v.round + 1,
                  a: nameOf(v.member_ids[0]),
                  b: nameOf(v.member_ids[1]),
                  group: v.group + 1,
                }),
        }),
      ),
    ),
  );
}

async function rescore() {
  const seq = ++scoreSeq;
  const body = { rounds: rounds.map((groups) => ({ groups })) };
  let answer;
  try {
    answer = await call("POST", `${data.api}/cohorts/${cohort}/plan-score`, body);
  } catch (err) {
    say("programme-total", err.message);
    return;
  }
  if (seq !== scoreSeq) return; // a later move asked again
  const t = answer.total;
  const total = document.getElementById("programme-total");
  total.textContent = fill(S["programme.total"], {
    new: t.new_pairs,
    repeated: t.repeated_pairs,
    same: t.same_department_pairs,
    cross: t.new_cross_department_pairs,
    bound: t.upper_bound,
  });
  total.dataset.newPairs = t.new_pairs;
  total.dataset.repeatedPairs = t.repeated_pairs;
  total.dataset.sameDepartmentPairs = t.same_department_pairs;
  answer.rounds.forEach((s, ri) => {
    const line = document.getElementById(`round-${ri}-score`);
    line.textContent = scoreText(s);
    line.dataset.newPairs = s.new_pairs;
  });
  const before = JSON.stringify(broken);
  broken = answer.violations;
  showBroken();
  if (JSON.stringify(broken) !== before) {
    const focused = document.activeElement?.closest?.(".chip");
    renderAll();
    if (focused) {
      document
        .querySelector(`#round-${focused.dataset.round}-groups .chip[data-member="${focused.dataset.member}"]`)
        ?.focus();
    }
  }
  document.getElementById("programme").dataset.scored = String(seq);
}

// -- saving ----------------------------------------------------------------------------------

document.getElementById("programme-save").addEventListener("click", async () => {
  const body = { rounds: rounds.map((groups) => ({ groups })) };
  try {
    await call("PUT", `${data.api}/cohorts/${cohort}/plans/${encodeURIComponent(plan.id)}`, body);
    say("programme-status", S["programme.saved"]);
  } catch (err) {
    say("programme-status", fill(S["programme.saveFailed"], { message: err.message }));
  }
});

for (const form of document.querySelectorAll(".prepare-form")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ri = Number(form.dataset.round);
    const sid = encodeURIComponent(form.querySelector(".prepare-session").value);
    const groups = rounds[ri].filter((g) => g.length);
    try {
      await call("PUT", `${data.api}/sessions/${sid}/prepared-round`, { groups });
      say("programme-status", fill(S["programme.prepared"], { n: ri + 1 }));
    } catch (err) {
      say("programme-status", fill(S["programme.prepareFailed"], { message: err.message }));
    }
  });
}

// -- constraints -------------------------------------------------------------------------------

function renderConstraints() {
  const list = document.getElementById("constraint-list");
  const remove = (what, index) => {
    constraints[what].splice(index, 1);
    renderConstraints();
  };
  list.replaceChildren(
    ...constraints.pins.map((p, i) =>
      el(
        "li",
        {},
        `${fill(S["programme.pinned"], { name: nameOf(p.member_id), n: p.group + 1 })} `,
        removeButton(() => remove("pins", i)),
      ),
    ),
    ...constraints.apart.map(([a, b], i) =>
      el(
        "li",
        {},
        `${fill(S["programme.apart"], { a: nameOf(a), b: nameOf(b) })} `,
        removeButton(() => remove("apart", i)),
      ),
    ),
  );
}

function removeButton(onClick) {
  const button = el("button", { type: "button", class: "button button-small", text: S["programme.remove"] });
  button.addEventListener("click", onClick);
  return button;
}

document.getElementById("pin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const member_id = document.getElementById("pin-member").value;
  const group = Number(document.getElementById("pin-group").value);
  constraints.pins = constraints.pins.filter((p) => p.member_id !== member_id);
  constraints.pins.push({ member_id, group });
  renderConstraints();
});

document.getElementById("apart-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const a = document.getElementById("apart-a").value;
  const b = document.getElementById("apart-b").value;
  if (a === b) return;
  const pair = a < b ? [a, b] : [b, a];
  if (!constraints.apart.some(([x, y]) => x === pair[0] && y === pair[1])) {
    constraints.apart.push(pair);
  }
  renderConstraints();
});

document.getElementById("constraints-save").addEventListener("click", async () => {
  try {
    constraints = await call("PUT", `${data.api}/cohorts/${cohort}/plan-constraints`, constraints);
    say("constraints-status", S["programme.constraintsSaved"]);
    renderConstraints();
    rescore();
  } catch (err) {
    say("constraints-status", fill(S["programme.constraintsFailed"], { message: err.message }));
  }
});

renderAll();
renderConstraints();
rescore();
