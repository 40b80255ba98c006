// Keyboard shortcuts as people know them from Gmail and Roundcube. A key presses a control the
// page already has (the templates mark each with data-shortcut), so a shortcut does exactly what
// the button or link does, with the same rules; only moving through the message list is new.
import { el } from './ui.js';

const KEYS = [
  ['j', 'Next message in the list'],
  ['k', 'Previous message in the list'],
  ['o', 'Open the message (Enter too)'],
  ['u', 'Back to the list'],
  ['c', 'New message'],
  ['r', 'Reply'],
  ['a', 'Reply all'],
  ['f', 'Forward'],
  ['#', 'Delete'],
  ['/', 'Search'],
  ['?', 'Show these shortcuts'],
];

// Typing goes to whatever takes text; Enter and Space keep their own meaning on controls.
const TYPING = 'input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit]):not([type=reset]), textarea, select, [contenteditable]:not([contenteditable="false"])';
const CONTROL = 'a[href], button, input, select, textarea, summary, [contenteditable]:not([contenteditable="false"])';

// A row is a message in the list, or a conversation (its summary opens it, as Enter does).
const rows = () => [...document.querySelectorAll('table.messages tbody tr, ul.conversations > li')];
const rowLink = (row) => row.querySelector('summary, a[href]');
let current = -1;

function currentRow() {
  const all = rows();
  const focused = all.findIndex((row) => row.contains(document.activeElement));
  if (focused >= 0) current = focused;
  return all[current] || null;
}

/** Moves the selection `step` rows (focus goes to the row's subject link: visible, and Enter opens it). */
function move(step) {
  const all = rows();
  if (!all.length) return false;
  currentRow();
  current = current < 0 ? 0 : Math.min(all.length - 1, Math.max(0, current + step));
  for (const row of all) row.classList.toggle('current', row === all[current]);
  rowLink(all[current])?.focus();
  return true;
}

function press(key) {
  const control = document.querySelector(`[data-shortcut="${CSS.escape(key)}"]`);
  if (!control || control.disabled) return false;
  if (control.matches(TYPING)) {
    control.focus();
    control.select?.();
    return true;
  }
  // Delete in a folder's list acts on the ticked messages; with none ticked, on the selected row
  // (every message of a conversation).
  const boxes = control.form ? [...control.form.elements].filter((e) => e.name === 'uid' && e.type === 'checkbox') : [];
  if (boxes.length && !boxes.some((box) => box.checked)) {
    for (const box of currentRow()?.querySelectorAll('input[type=checkbox][name=uid]') || []) box.checked = true;
  }
  control.click();
  return true;
}

let help = null;
function showHelp() {
  if (!help) {
    const list = el('dl', { class: 'shortcut-list' });
    for (const [key, what] of KEYS) list.append(el('dt', {}, el('kbd', { text: key })), el('dd', { text: what }));
    help = el('dialog', { class: 'modal shortcuts', 'aria-labelledby': 'shortcuts-title' },
      el('form', { method: 'dialog' },
        el('h2', { id: 'shortcuts-title', text: 'Keyboard shortcuts' }),
        list,
        el('p', { class: 'hint', text: 'Shortcuts do nothing while you type in a field.' }),
        el('p', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary', text: 'Close' }))));
    document.body.append(help);
  }
  if (!help.open) help.showModal();
  return true;
}

function handle(event) {
  if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return false;
  const target = event.target instanceof Element ? event.target : null;
  if (target?.closest(TYPING)) return false;
  if (document.querySelector('dialog[open]')) return false;
  switch (event.key) {
    case 'j': return move(1);
    case 'k': return move(-1);
    case 'o':
    case 'Enter': {
      // Enter on a link or button is that control's own business.
      if (event.key === 'Enter' && target?.closest(CONTROL)) return false;
      const link = currentRow() && rowLink(currentRow());
      if (!link) return false;
      link.click();
      return true;
    }
    case '?': return showHelp();
    case 'u': case 'c': case 'r': case 'a': case 'f': case '#': case '/':
      return press(event.key);
    default: return false;
  }
}

document.addEventListener('keydown', (event) => {
  if (handle(event)) event.preventDefault();
});

// Screen readers announce the shortcut with the control it presses.
for (const control of document.querySelectorAll('[data-shortcut]')) {
  control.setAttribute('aria-keyshortcuts', control.dataset.shortcut);
}
