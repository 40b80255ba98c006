// Formatted text on the compose page: a format choice, a toolbar over the browser's own editing
// commands, and an editable area. Whatever the editor holds is untrusted until it is cleaned:
// the server (mail it can read) and the browser module (mail it signs or encrypts) keep only
// what this toolbar can make and derive the plain-text part from it (the rich-text crate), so
// nothing here decides what a sent message may contain.
//
// The plain text area stays in the form: without scripts it is the message; with the editor it
// mirrors the editor's text, so drafts and size checks see what was typed.

const form = document.querySelector('form.compose');
const area = form?.elements.body;

// [label, command, value]: the commands every current browser implements for contenteditable.
const BUTTONS = [
  ['Bold', 'bold'],
  ['Italic', 'italic'],
  ['Underline', 'underline'],
  ['Bulleted list', 'insertUnorderedList'],
  ['Numbered list', 'insertOrderedList'],
  ['Quote', 'formatBlock', 'blockquote'],
  ['Link', 'createLink'],
  ['Remove formatting', 'removeFormat'],
];
// Buttons that show whether the selection already has their formatting.
const STATEFUL = new Set(['bold', 'italic', 'underline', 'insertUnorderedList', 'insertOrderedList']);

let editor;
let toolbar;
let html;
let format;

if (area instanceof HTMLTextAreaElement) start();

function start() {
  format = el('select', { id: 'format', name: 'format' });
  format.append(new Option('Plain text', 'plain'), new Option('Formatted text', 'html'));
  const choice = el('p', { class: 'format-choice' });
  const label = el('label', { for: 'format' });
  label.textContent = 'Format';
  choice.append(label, ' ', format);
  area.closest('p').before(choice);

  toolbar = el('div', { role: 'toolbar', 'aria-label': 'Formatting', 'aria-controls': 'body-editor', class: 'format-bar' });
  for (const [text, command, value] of BUTTONS) {
    const button = el('button', { type: 'button', 'data-command': command });
    if (STATEFUL.has(command)) button.setAttribute('aria-pressed', 'false');
    button.textContent = text;
    button.addEventListener('mousedown', (event) => event.preventDefault()); // keep the selection
    button.addEventListener('click', () => run(command, value));
    toolbar.append(button);
  }
  editor = el('div', { id: 'body-editor', class: 'editor', contenteditable: 'true', role: 'textbox', 'aria-multiline': 'true', 'aria-label': 'Formatted message' });
  html = el('input', { type: 'hidden', name: 'body_html' });
  area.after(toolbar, editor, html);

  editor.innerHTML = area.dataset.html || '';
  editor.addEventListener('input', mirror);
  document.addEventListener('selectionchange', showState);
  format.addEventListener('change', () => show(format.value === 'html', true));
  show(area.dataset.format === 'html', false);
  // A draft that is still encrypted opens read-only until the browser has decrypted it.
  if (area.readOnly) editor.contentEditable = 'false';
}

/** Switches between the editor and the plain text area, carrying the text across. */
function show(formatted, switching) {
  format.value = formatted ? 'html' : 'plain';
  if (switching && formatted) editor.innerText = area.value;
  if (switching && !formatted) area.value = editor.innerText;
  area.hidden = formatted;
  area.labels.forEach((l) => { l.hidden = formatted; });
  toolbar.hidden = !formatted;
  editor.hidden = !formatted;
  html.value = formatted ? editor.innerHTML : '';
  if (switching) {
    (formatted ? editor : area).focus();
    form.dispatchEvent(new Event('input', { bubbles: true })); // the draft changed
  }
}

function run(command, value) {
  if (editor.contentEditable !== 'true') return;
  editor.focus();
  if (command === 'createLink') {
    value = window.prompt('Link address (https://…, or mailto:…)');
    if (!value) return;
  }
  if (command === 'formatBlock' && document.queryCommandValue('formatBlock') === value) value = 'p';
  document.execCommand(command, false, value);
  mirror();
}

function mirror() {
  html.value = editor.innerHTML;
  area.value = editor.innerText;
  showState();
}

function showState() {
  if (toolbar.hidden || !editor.contains(document.getSelection()?.anchorNode)) return;
  for (const button of toolbar.querySelectorAll('[aria-pressed]')) {
    button.setAttribute('aria-pressed', String(document.queryCommandState(button.dataset.command)));
  }
}

/** The formatted text to send, or null when the message is plain text. */
export function formatted() {
  return format?.value === 'html' ? editor.innerHTML : null;
}

/**
 * Puts a decrypted draft into the page: `cleanHtml` (already sanitised by the module) into the
 * editor when the draft was formatted, otherwise `text` into the plain text area.
 */
export function fill(text, cleanHtml) {
  if (!format) return;
  area.value = text;
  editor.innerHTML = cleanHtml || '';
  editor.contentEditable = 'true';
  show(Boolean(cleanHtml), false);
}

/**
 * Replaces the signature `before` with `after` (plain text) in the editor, as the From selector
 * does in the text area; false when the editor does not hold `before` word for word.
 */
export function swapSignature(before, after) {
  if (formatted() === null) return false;
  const asHtml = (text) => text.split('\n').map(escape).join('<br>');
  const current = editor.innerHTML;
  const old = asHtml(`-- \n${before}`);
  if (!before || !current.includes(old)) return false;
  editor.innerHTML = current.replace(old, after ? asHtml(`-- \n${after}`) : '');
  mirror();
  return true;
}

function escape(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;');
}

function el(tag, attributes) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}
