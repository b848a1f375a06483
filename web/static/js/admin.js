// Admin pages: copy join links to the clipboard, and ask before what cannot be undone.
// Everything else is plain HTML forms. Strings come from the server-rendered page (data-*
// attributes), so there is no catalogue here.

const status = document.getElementById("copy-status");

async function write(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!fallbackInput) return false;
    fallbackInput.focus();
    fallbackInput.select();
    return Boolean(document.execCommand && document.execCommand("copy"));
  }
}

function confirmDone(button) {
  const label = button.textContent;
  button.textContent = button.dataset.copied || label;
  if (status) status.textContent = button.dataset.copied || "";
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copy);
    if (input && (await write(input.value, input))) confirmDone(button);
  });
}
for (const button of document.querySelectorAll("button[data-copy-all]")) {
  button.addEventListener("click", async () => {
    if (await write(button.dataset.copyAll, null)) confirmDone(button);
  });
}
for (const input of document.querySelectorAll("input.link-input")) {
  input.addEventListener("focus", () => input.select());
}

// A form with data-confirm asks first, in an accessible <dialog> (focus starts on "No",
// Escape cancels); without dialog support the form is sent as before.
const dialog = document.getElementById("confirm-dialog");
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.confirmed === "yes" || !dialog || typeof dialog.showModal !== "function") {
      return;
    }
    event.preventDefault();
    dialog.querySelector("#confirm-text").textContent = form.dataset.confirm;
    const yes = dialog.querySelector("#confirm-yes");
    yes.textContent = form.dataset.confirmYes || yes.textContent;
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue === "yes") {
          form.dataset.confirmed = "yes";
          form.requestSubmit();
        }
      },
      { once: true },
    );
  });
}
