// Autosave on the compose page: a few seconds after the last change the draft is saved
// (POST /compose/draft), replacing the copy saved before, so closing the tab loses at most those
// seconds. A draft of a message that will be encrypted is encrypted first, in this browser, to
// the user's own certificate (compose-secure.js provides the sealer); without one it is not saved
// in the clear unless the user says so.
import { csrfToken, el } from './ui.js';

const DELAY_MS = 3000;
/** The most a `keepalive` request may carry (the Fetch standard's limit, with room for the form). */
const KEEPALIVE_BYTES = 60 * 1024;

/** Thrown by a sealer that finds no digital ID to encrypt the draft to. */
export class NoEncryptionId extends Error {}

const form = document.querySelector('form.compose');
const status = document.getElementById('draft-status');
let sealer = null;
let timer = null;
let saving = null;
let dirty = false;
// Nothing is saved while the page's encrypted draft is not decrypted yet (that would replace it
// with an empty one), nor once Send was pressed until the user changes something again (the
// send failed, or never started). A draft that cannot be encrypted waits for the user's answer
// (`unencrypted`: 'asking', 'no', 'yes').
let unopened = Boolean(form?.dataset.sealedDraft);
let sending = false;
let unencrypted = null;
const blocked = () => unopened || sending || (encrypting() && (unencrypted === 'asking' || unencrypted === 'no'));

if (form && status) {
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  // After the toggle's own handler, so the change sees its new state.
  for (const toggle of form.querySelectorAll('.security button.toggle')) toggle.addEventListener('click', () => setTimeout(changed));
  form.addEventListener('submit', (event) => {
    const action = event.submitter?.value;
    if (action === 'send' || action === 'send-new') {
      // Sending removes the draft: no autosave may write it again behind the send.
      clearTimeout(timer);
      timer = null;
      sending = true;
    }
  }, { capture: true });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  window.addEventListener('pagehide', flush);
}

/** compose-secure.js hands over how to encrypt a draft: `(form) => Promise<Uint8Array>`. */
export function setSealer(seal) {
  sealer = seal;
}

/** The page's encrypted draft is decrypted into the form: saving may replace it now. */
export function opened() {
  unopened = false;
  form.elements.sealed_draft?.remove();
}

/** A send failed and the message stays on the page: autosave goes on. */
export function resume() {
  sending = false;
  if (dirty) schedule();
}

/** Whether the draft is to be encrypted: the Encrypt toggle, pressed by the user or the policy. */
function encrypting() {
  return document.getElementById('toggle-encrypt')?.getAttribute('aria-pressed') === 'true';
}

function changed() {
  // "Saved at" no longer describes the page; the next save says it again.
  if (!dirty && !status.classList.contains('error')) status.textContent = '';
  dirty = true;
  sending = false;
  if (!blocked()) schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => { timer = null; save(); }, DELAY_MS);
}

function flush() {
  if (timer === null || blocked()) return;
  clearTimeout(timer);
  timer = null;
  save({ closing: true });
}

/**
 * Saves now (the "Save draft" button of an encrypted draft comes here too). One save at a time:
 * a change made meanwhile is saved after it.
 */
export async function save({ closing = false, asked = false } = {}) {
  if (unopened) {
    say('This encrypted draft is not open in this browser yet, so it was not saved.', true);
    return;
  }
  if (blocked() && !asked) return;
  if (saving) {
    dirty = true;
    return saving;
  }
  dirty = false;
  saving = saveOnce(closing).catch((err) => {
    dirty = true;
    say(err.message || String(err), true);
  }).finally(() => {
    saving = null;
    if (dirty && !blocked()) schedule();
  });
  return saving;
}

async function saveOnce(closing) {
  const body = new FormData();
  const field = (name) => form.elements[name]?.value ?? '';
  for (const name of ['send_id', 'from', 'to', 'cc', 'bcc', 'subject', 'in_reply_to', 'references', 'draft_uid', 'source_folder', 'source_uid', 'sealed_draft']) {
    if (form.elements[name]) body.append(name, field(name));
  }
  let size = 0;
  let sentFiles = null;
  const encrypted = encrypting() && unencrypted !== 'yes';
  if (encrypted) {
    if (!sealer) {
      if (document.documentElement.dataset.engine === 'unavailable') return noEncryptionId('this browser could not load its security module');
      // The module is still starting: try again shortly.
      dirty = true;
      return;
    }
    let entity;
    try {
      entity = await sealer(form);
    } catch (err) {
      if (err instanceof NoEncryptionId) return noEncryptionId(err.message);
      throw err;
    }
    body.append('entity', new Blob([entity], { type: 'application/octet-stream' }), 'entity');
    size += entity.length;
  } else {
    body.append('body', field('body'));
    if (field('format') === 'html') {
      body.append('format', 'html');
      body.append('body_html', field('body_html'));
      size += field('body_html').length * 3;
    }
    for (const box of form.querySelectorAll('input[name="keep_part"]:checked')) body.append('keep_part', box.value);
    sentFiles = form.elements.attachments?.files || null;
    for (const file of sentFiles || []) {
      body.append('attachments', file, file.name);
      size += file.size;
    }
    size += field('body').length * 3;
  }
  const response = await fetch('/compose/draft', {
    method: 'POST',
    body,
    headers: { 'X-CSRF-Token': csrfToken() },
    // As the page closes, only a keepalive request outlives it (and only a small one may).
    keepalive: closing && size < KEEPALIVE_BYTES,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `Your draft was not saved: the server answered ${response.status}.`);
  remember(answer, encrypted ? null : sentFiles);
  const at = new Date(answer.saved_at * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  say(encrypted ? `Encrypted draft saved at ${at}` : `Draft saved at ${at}`);
}

/** The page now stands for the saved draft: the next save replaces it. */
function remember(answer, sentFiles) {
  setHidden('draft_uid', answer.draft_uid);
  if (sentFiles === null) return;
  // A plain draft holds its attachments: from now on they are kept parts of it, as when a saved
  // draft is reopened, so the next save copies them over instead of uploading them again.
  setHidden('source_folder', answer.folder);
  setHidden('source_uid', answer.draft_uid);
  const input = form.elements.attachments;
  if (input && input.files === sentFiles) {
    input.value = '';
    input.dispatchEvent(new Event('change')); // the list of files to attach (attachments.js)
  }
  form.querySelector('fieldset.kept')?.remove();
  if (!answer.kept?.length) return;
  const fieldset = el('fieldset', { class: 'kept' }, el('legend', { text: 'Attachments' }));
  for (const k of answer.kept) {
    const id = `keep-${k.part}`;
    fieldset.append(el('p', {},
      el('input', { type: 'checkbox', id, name: 'keep_part', value: String(k.part), 'data-name': k.name, 'data-type': k.content_type, checked: true }),
      ' ',
      el('label', { for: id, text: `${k.name} (${k.size})` })));
  }
  input?.closest('p')?.before(fieldset);
}

function setHidden(name, value) {
  let input = form.elements[name];
  if (!input) {
    input = el('input', { type: 'hidden', name });
    form.prepend(input);
  }
  input.value = String(value);
}

/**
 * The draft is to be encrypted and cannot be: it is not saved in the clear behind the user's
 * back. They choose to save it unencrypted, or not at all.
 */
function noEncryptionId(why) {
  dirty = true;
  unencrypted = 'asking';
  const yes = el('button', { type: 'button', text: 'Save it unencrypted' });
  const no = el('button', { type: 'button', text: 'Don\'t save it' });
  yes.addEventListener('click', () => {
    unencrypted = 'yes';
    save({ asked: true });
  });
  no.addEventListener('click', () => {
    unencrypted = 'no';
    clearTimeout(timer);
    say('This draft is not being saved. It stays on this page until you close it.');
  });
  status.replaceChildren(
    el('span', { text: `This draft can't be saved encrypted: ${why.replace(/\.$/, '')}. It has not been saved. ` }),
    yes, ' ', no);
  status.className = 'error';
}

function say(text, alert = false) {
  status.textContent = text;
  status.className = alert ? 'error' : '';
}
