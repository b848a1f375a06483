// The small DOM helpers every browser module uses (one copy, here). Texts always go in with
// textContent or setAttribute: nothing is ever parsed as HTML.

/** The first element under `root` that matches `selector`, or null. */
export const $ = (selector, root = document) => root.querySelector(selector);

/** Every element under `root` that matches `selector`, as an array. */
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** A new element: make("span", {class: "x", "data-id": id}, "text"); attributes with setAttribute. */
export function make(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/** A copy of a <template>'s first element. */
export function cloneTemplate(template) {
  return template.content.firstElementChild.cloneNode(true);
}

/** Show `text` in `node`, or hide the node when there is none (errors, notes, prompts). */
export function showText(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

/** Say `text` in a live region; emptied first so that a repeated message is read out too. */
export function speak(region, text) {
  if (!region) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}
