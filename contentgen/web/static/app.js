// Keyboard shortcuts for reviewing and live batch counts. No build step, no libraries.
"use strict";

function typingIn(target) {
  const tag = target && target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
}

function follow(id) {
  const link = document.getElementById(id);
  if (link) window.location.assign(link.href);
}

// Draft page: a approve, r reject (focus the reason), e edit, n/j next, p/k previous.
// Ctrl+Enter (or Cmd+Enter) submits the form whose field has the focus.
function draftShortcuts(event) {
  if (event.altKey) return;
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && typingIn(event.target)) {
    event.preventDefault();
    event.target.form.requestSubmit();
    return;
  }
  if (event.ctrlKey || event.metaKey) return;
  if (event.key === "Escape" && typingIn(event.target)) {
    event.target.blur();
    return;
  }
  if (typingIn(event.target)) return;
  const actions = {
    // Text that cannot be approved as it is has no approve form: a goes to the edit box.
    a: () => {
      const form = document.getElementById("approve-form");
      const field = document.getElementById("edit-text");
      if (form) form.requestSubmit();
      else if (document.getElementById("approve-blocked") && field) field.focus();
    },
    r: () => { const field = document.getElementById("reject-reason"); if (field) field.focus(); },
    e: () => { const field = document.getElementById("edit-text"); if (field) field.focus(); },
    n: () => follow("next-link"),
    j: () => follow("next-link"),
    p: () => follow("previous-link"),
    k: () => follow("previous-link"),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// Draft page: save what the reviewer types into the decision forms in sessionStorage, under
// the user's id and the draft's id and version, and restore it when the same user opens the
// same version again. A save made after the login expired goes through the login page and
// would come back to empty forms.
function keepTypedText() {
  const section = document.getElementById("decision");
  if (!section) return;
  const user = `contentgen.draft.${section.dataset.user}.`;
  const draft = `${user}${section.dataset.draft}.`;
  const current = `${draft}${section.dataset.version}.`;
  const key = (field) => `${current}${field.form.id}.${field.name}`;
  const fields = Array.from(section.querySelectorAll("form textarea, form input[name=note]"));

  let storage;
  try {
    storage = window.sessionStorage;
    // Text that another user typed in this tab is never shown to this one, and every
    // decision raises the draft's version, so text saved for an older version is stale.
    for (let index = storage.length - 1; index >= 0; index -= 1) {
      const name = storage.key(index);
      const otherUser = name.startsWith("contentgen.draft.") && !name.startsWith(user);
      const olderVersion = name.startsWith(draft) && !name.startsWith(current);
      if (otherUser || olderVersion) storage.removeItem(name);
    }
  } catch (error) {
    return;  // The browser does not allow storage for this site.
  }

  let restored = false;
  for (const field of fields) {
    const saved = storage.getItem(key(field));
    if (saved !== null && saved !== field.value) {
      field.value = saved;
      restored = true;
    }
    field.addEventListener("input", () => {
      if (field.value === field.defaultValue) storage.removeItem(key(field));
      else storage.setItem(key(field), field.value);
    });
  }

  const notice = document.getElementById("restored-text");
  if (!restored || !notice) return;
  notice.hidden = false;
  document.getElementById("discard-restored").addEventListener("click", () => {
    for (const field of fields) {
      field.value = field.defaultValue;
      storage.removeItem(key(field));
    }
    notice.hidden = true;
  });
}

// Queue page: j/k move the focused row, x selects it, o or Enter opens it.
function queueShortcuts(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
  const rows = Array.from(document.querySelectorAll("tr[data-draft]"));
  if (!rows.length) return;
  let index = rows.findIndex((row) => row.classList.contains("focused"));
  const focus = (next) => {
    if (index >= 0) rows[index].classList.remove("focused");
    index = Math.max(0, Math.min(rows.length - 1, next));
    rows[index].classList.add("focused");
    rows[index].scrollIntoView({ block: "nearest" });
  };
  if (event.key === "j") focus(index + 1);
  else if (event.key === "k") focus(index - 1);
  else if (event.key === "x" && index >= 0) {
    // Only reviewers see the checkboxes.
    const box = rows[index].querySelector("input[type=checkbox]");
    if (!box) return;
    box.checked = !box.checked;
  } else if ((event.key === "o" || event.key === "Enter") && index >= 0) {
    window.location.assign(rows[index].dataset.href);
  } else return;
  event.preventDefault();
}

function selectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll("input[name=draft]").forEach((box) => { box.checked = all.checked; });
  });
}

// Batches pages: fetch the counts every few seconds and write them into the cells marked
// data-field="requests.done" and so on. The batches page fetches a list of the newest
// batches. A batch's page fetches that batch alone, with the hint on what runs it, and shows
// the data-run-hint element that matches. It hides the data-while-pending elements once no
// request is pending or the batch is neither pending nor running, and shows the
// data-failed-at-load element once the number of failed requests differs from the page's
// own. Fetches less often when no batch is pending or running, and stops when the login
// has ended (401) until the page is loaded again.
function liveCounts() {
  const table = document.querySelector("[data-live]");
  if (!table) return;
  const url = table.dataset.live;
  // Batch states in the page's language, from the server.
  const labels = JSON.parse(table.dataset.statusLabels || "{}");

  async function refresh() {
    let batches;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401) return null;
      if (!response.ok) return true;
      const body = await response.json();
      batches = Array.isArray(body) ? body : [body];
    } catch (error) {
      return true;  // the server restarted or the network blinked: try again later
    }
    let active = false;
    for (const batch of batches) {
      const running = batch.status === "pending" || batch.status === "running";
      if (running) active = true;
      if ("run_hint" in batch) {
        document.querySelectorAll("[data-run-hint]").forEach((hint) => {
          hint.hidden = hint.dataset.runHint !== batch.run_hint;
        });
        document.querySelectorAll("[data-while-pending]").forEach((element) => {
          element.hidden = !(batch.requests.pending && running);
        });
        document.querySelectorAll("[data-failed-at-load]").forEach((element) => {
          element.hidden = Number(element.dataset.failedAtLoad) === batch.requests.failed;
        });
      }
      document.querySelectorAll(`[data-batch="${batch.id}"] [data-field]`).forEach((cell) => {
        const [group, key] = cell.dataset.field.split(".");
        if (group === "status") {
          cell.textContent = labels[batch.status] || batch.status;
          return;
        }
        const value = key ? (batch[group][key] || 0) : batch[group];
        const target = cell.querySelector("a") || cell;
        if (target.textContent !== String(value)) target.textContent = String(value);
      });
    }
    return active;
  }

  async function loop() {
    const active = await refresh();
    if (active === null) return;
    window.setTimeout(loop, active ? 2000 : 10000);
  }
  window.setTimeout(loop, 2000);
}

// Every page: show each <time> in the reader's time zone, with the zone's name; the
// server's UTC text stays as the tooltip.
function localTimes() {
  const locale = document.documentElement.lang || undefined;
  const format = new Intl.DateTimeFormat(locale, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  // The zone's name goes after the time: some languages put it between date and time.
  const zone = new Intl.DateTimeFormat(locale, { timeZoneName: "short" });
  document.querySelectorAll("time[datetime]").forEach((element) => {
    const instant = new Date(element.dateTime);
    if (Number.isNaN(instant.getTime())) return;
    const zoneName = zone.formatToParts(instant).find((part) => part.type === "timeZoneName");
    element.title = element.textContent;
    element.textContent = `${format.format(instant)} ${zoneName ? zoneName.value : ""}`.trim();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  const page = document.body.dataset.page;
  if (page === "draft") {
    document.addEventListener("keydown", draftShortcuts);
    keepTypedText();
  }
  if (page === "queue") {
    document.addEventListener("keydown", queueShortcuts);
    selectAll();
  }
  if (page === "batches" || page === "batch") liveCounts();
});
