// Small pieces of page furniture the S/MIME scripts share: modal questions and signature banners.
// Everything is built with DOM calls (textContent), never HTML strings, so no message content can
// become markup here.

/** SmartCardOnly: what the user is told when a key held in the browser may not be used. */
export const SMART_CARD_ONLY = 'Your organization allows only digital IDs on a smart card, and smart cards cannot be used in this browser.';

/** SmartCardOnly in a browser that can reach a card, with none connected. */
export const INSERT_CARD = 'Your organization allows only digital IDs on a smart card. Insert your card and connect it on the Digital IDs page.';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}
export { el };

let dialogCounter = 0;

/**
 * A modal asking for one secret (a passphrase, a PIN): `lines` are the paragraphs above the
 * field. Resolves to the text, or null if cancelled; the field is emptied either way.
 */
function askSecret({ kind, title, lines, label, field = {}, ok, className = 'modal' }) {
  dialogCounter += 1;
  const id = `${kind}-${dialogCounter}`;
  const input = el('input', { id, type: 'password', autocomplete: 'off', required: true, ...field });
  const form = el('form', { method: 'dialog' },
    el('h2', { id: `${id}-title`, text: title }),
    ...lines,
    el('p', {}, el('label', { for: id, text: label }), input),
    el('p', { class: 'buttons' },
      el('button', { type: 'submit', value: 'ok', class: 'primary', text: ok }),
      el('button', { type: 'submit', value: 'cancel', formnovalidate: true, text: 'Cancel' })));
  const dialog = el('dialog', { class: className, 'aria-labelledby': `${id}-title` }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue === 'ok' ? input.value : null;
      input.value = '';
      dialog.remove();
      resolve(value);
    });
    dialog.showModal();
    input.focus();
  });
}

/** Asks for the passphrase of a digital ID. Resolves to the text, or null if cancelled. */
export function askPassphrase(subject, problem = '') {
  return askSecret({
    kind: 'passphrase',
    title: 'Unlock your digital ID',
    lines: [el('p', { text: subject }), problem ? el('p', { class: 'error', role: 'alert', text: problem }) : null],
    label: 'Passphrase',
    ok: 'Unlock',
  });
}

/**
 * Asks for the smart card's PIN, with the tries left (a warning before the last one). Resolves
 * to the PIN, or null if cancelled.
 */
export function askPin(triesLeft, problem = '') {
  const tries = triesLeft === null ? null
    : triesLeft === 1 ? el('p', { class: 'error', role: 'alert', text: 'This is your last try: a wrong PIN now locks the card.' })
      : el('p', { class: 'hint', text: `${triesLeft} tries left.` });
  return askSecret({
    kind: 'pin',
    title: 'Enter your smart card PIN',
    lines: [problem ? el('p', { class: 'error', role: 'alert', text: problem }) : null, tries],
    label: 'PIN',
    field: { inputmode: 'numeric', minlength: '6', maxlength: '8' },
    ok: 'OK',
    className: 'modal pin',
  });
}

/**
 * Asks a question with several answers. `choices` is [{ value, label, primary }]; resolves to the
 * chosen value (null on Escape).
 */
export function choose(title, lines, choices) {
  dialogCounter += 1;
  const titleId = `choice-${dialogCounter}`;
  const form = el('form', { method: 'dialog' },
    el('h2', { id: titleId, text: title }),
    ...lines.map((line) => el('p', { text: line })),
    el('p', { class: 'buttons' }, ...choices.map((c) => el('button', {
      type: 'submit', value: c.value, class: c.primary ? 'primary' : null, text: c.label,
    }))));
  const dialog = el('dialog', { class: 'modal', 'aria-labelledby': titleId }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue || null;
      dialog.remove();
      resolve(choices.some((c) => c.value === value) ? value : null);
    });
    dialog.showModal();
  });
}

let reportCounter = 0;

/**
 * The banner for one signature the browser found, from the page's <template> of the banner the
 * server renders for mail it verified (templates/signature_banner.html): one markup for both.
 */
export function signatureBanner(report) {
  const banner = document.getElementById('signature-banner').content.firstElementChild.cloneNode(true);
  banner.classList.add(report.state);
  if (report.certificates?.[0]) banner.dataset.signer = report.certificates[0];
  for (const slot of banner.querySelectorAll('[data-field]')) {
    const value = report[slot.dataset.field];
    slot.textContent = Array.isArray(value) ? value.join(' → ') : (value || '');
  }
  reportCounter += 1;
  const detailsId = `browser-signature-${reportCounter}`;
  banner.querySelector('.signature-details').id = detailsId;
  const disclose = banner.querySelector('button.disclose');
  disclose.setAttribute('aria-controls', detailsId);
  wireDisclosure(disclose);
  const add = banner.querySelector('button.add-contact');
  if (report.state !== 'invalid' && report.certificates?.length) {
    add.dataset.certificates = report.certificates.join(' ');
    wireAddContact(add);
  } else {
    add.remove();
  }
  return banner;
}

/**
 * "Add sender's certificate to contacts": one click, and mail to the sender can be encrypted
 * (the server checks the certificate again before keeping it).
 */
export function wireAddContact(button) {
  button.hidden = false;
  button.addEventListener('click', async () => {
    const note = button.nextElementSibling?.classList.contains('contact-result')
      ? button.nextElementSibling
      : button.insertAdjacentElement('afterend', el('span', { class: 'contact-result', role: 'status' }));
    try {
      const answer = await postJson('/api/contacts/certificates', { certificates: button.dataset.certificates.split(' ') });
      note.textContent = answer.added.length
        ? ` Added to your contacts: ${[...new Set(answer.added.map((a) => a.address))].join(', ')}.`
        : ` Not added: ${answer.refused.join('; ')}`;
      if (answer.added.length) button.disabled = true;
    } catch (err) {
      note.textContent = ` Not added: ${err.message}`;
    }
  });
}

/** A button that shows and hides the element its aria-controls names. */
export function wireDisclosure(button) {
  button.addEventListener('click', () => {
    const target = document.getElementById(button.getAttribute('aria-controls'));
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    if (target) target.hidden = !open;
  });
}

export function csrfToken() {
  return document.querySelector('input[name="csrf"]')?.value || '';
}

/** GETs one of the server's /api endpoints; rejects with the server's sentence. */
export async function getJson(url) {
  const response = await fetch(url, { headers: { 'X-CSRF-Token': csrfToken() } });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
  return answer;
}

/** POSTs JSON to one of the server's /api endpoints; rejects with the server's sentence. */
export async function postJson(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
  return answer;
}

/**
 * The compose page's progress bar: `text` names the step; `fraction` (0–1) fills the bar, and
 * null shows a step whose length is unknown (signing, encrypting, the server's answer).
 * `progress(null)` hides it.
 */
export function progress(text, fraction = null) {
  const bar = document.getElementById('send-progress');
  if (!bar) return;
  const holder = bar.closest('p');
  if (text === null) {
    holder.hidden = true;
    return;
  }
  document.getElementById('send-progress-label').textContent = text;
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
  holder.hidden = false;
}

/** A file size as people read it: bytes, KB or MB. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function formatDate(unixSeconds) {
  if (!unixSeconds && unixSeconds !== 0) return '';
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function toBase64(bytes) {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}
