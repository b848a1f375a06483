// Admin pages: copy a join link to the clipboard. Everything else is plain HTML forms.
// Strings come from the server-rendered page (data-copied), so there is no catalogue here.

const status = document.getElementById("copy-status");

async function copy(button) {
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  let done = false;
  try {
    await navigator.clipboard.writeText(input.value);
    done = true;
  } catch {
    input.focus();
    input.select();
    done = document.execCommand && document.execCommand("copy");
  }
  if (!done) return;
  const label = button.textContent;
  button.textContent = button.dataset.copied || label;
  if (status) status.textContent = button.dataset.copied || "";
  setTimeout(() => {
    button.textContent = label;
  }, 2000);
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copy(button));
}
for (const input of document.querySelectorAll("input.link-input")) {
  input.addEventListener("focus", () => input.select());
}
