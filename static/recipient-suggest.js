// Recipient suggestions under To, Cc and Bcc: as the user types, the server suggests people
// from their contacts, the directory and addresses they recently wrote to
// (GET /api/suggest), each marked whether mail to them can be encrypted. An ARIA combobox
// with a listbox (arrow keys, Enter, Escape, click). Choosing one puts `"Name" <address>, `
// in place of what was typed. Without script the fields are plain text and work as before.
import { csrfToken } from './ui.js';

const DELAY_MS = 150;

/** Where the recipient being typed starts: after the last comma or semicolon before the
 * caret that is not inside quotes or angle brackets. */
function tokenStart(text) {
  let quoted = false;
  let angle = false;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '\\' && quoted) { i += 1; continue; }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') angle = true;
    else if (!quoted && c === '>') angle = false;
    else if (!quoted && !angle && (c === ',' || c === ';')) start = i + 1;
  }
  return start;
}

/** A recipient as it goes into the field (recipient-tokens.js writes the field this way too). */
export function recipientText({ name, address }) {
  if (!name || name.toLowerCase() === address.toLowerCase()) return `${address}, `;
  return `"${name.replace(/[\\"]/g, '\\$&')}" <${address}>, `;
}

function wire(input, status) {
  const list = document.createElement('ul');
  list.id = `${input.id}-suggestions`;
  list.className = 'suggestions';
  list.setAttribute('role', 'listbox');
  list.setAttribute('aria-label', `Suggestions for ${input.labels?.[0]?.textContent || input.name}`);
  list.hidden = true;
  input.insertAdjacentElement('afterend', list);
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-expanded', 'false');
  input.setAttribute('aria-controls', list.id);

  let items = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };
  const highlight = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === index)));
    if (index >= 0) {
      input.setAttribute('aria-activedescendant', list.children[index].id);
      list.children[index].scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };
  const choose = (index) => {
    const chosen = items[index];
    if (!chosen) return;
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret);
    const start = tokenStart(before);
    const lead = start > 0 ? ' ' : '';
    const after = input.value.slice(caret).replace(/^[^,;]*[,;]?\s*/, '');
    const head = `${before.slice(0, start).trimEnd()}${lead}`;
    const inserted = recipientText(chosen);
    input.value = `${head}${inserted}${after}`;
    const at = head.length + inserted.length;
    input.setSelectionRange(at, at);
    close();
    input.focus();
    input.dispatchEvent(new Event('change', { bubbles: true })); // its token shows now
  };
  const show = (found) => {
    items = found;
    list.replaceChildren(...found.map((s, i) => {
      const li = document.createElement('li');
      li.id = `${list.id}-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = s.name && s.name.toLowerCase() !== s.address ? `${s.name} <${s.address}>` : s.address;
      const mark = document.createElement('span');
      mark.className = s.can_encrypt ? 'can-encrypt' : 'no-certificate';
      mark.textContent = s.can_encrypt ? 'can encrypt' : 'no certificate';
      li.append(who, ' — ', mark);
      // mousedown would take focus from the field before the click lands.
      li.addEventListener('mousedown', (event) => event.preventDefault());
      li.addEventListener('click', () => choose(i));
      return li;
    }));
    if (found.length === 0) { close(); status.textContent = ''; return; }
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    highlight(-1);
    status.textContent = `${found.length} suggestion${found.length === 1 ? '' : 's'}; use the arrow keys to choose.`;
  };
  const ask = async () => {
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret);
    const query = before.slice(tokenStart(before)).trim();
    if (!query || query.includes('<')) { close(); return; }
    const ticket = ++asked;
    try {
      const response = await fetch(`/api/suggest?q=${encodeURIComponent(query)}`, {
        headers: { 'X-CSRF-Token': csrfToken() },
      });
      if (!response.ok) return;
      const answer = await response.json();
      // A slower answer to an earlier keystroke must not replace a newer one.
      if (ticket === asked && document.activeElement === input) show(answer.suggestions || []);
    } catch {
      // No suggestions; the field works as plain text.
    }
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(ask, DELAY_MS);
  });
  input.addEventListener('keydown', (event) => {
    const open = !list.hidden && items.length > 0;
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      if (!open) { ask(); return; }
      highlight((active + 1) % items.length);
    } else if (event.key === 'ArrowUp' && open) {
      event.preventDefault();
      highlight(active <= 0 ? items.length - 1 : active - 1);
    } else if (event.key === 'Enter' && open && active >= 0) {
      // Choosing a suggestion must not submit the message.
      event.preventDefault();
      choose(active);
    } else if (event.key === 'Escape' && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener('blur', close);
}

const status = document.createElement('p');
status.className = 'visually-hidden';
status.setAttribute('role', 'status');
status.setAttribute('aria-live', 'polite');
const form = document.querySelector('form.compose');
if (form) {
  form.append(status);
  for (const id of ['to', 'cc', 'bcc']) {
    const input = document.getElementById(id);
    if (input) wire(input, status);
  }
}
