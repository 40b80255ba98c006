// Loads the browser module and starts the page's S/MIME script. Reading and writing plain mail
// never depends on it: every page works without script.
const status = document.getElementById('engine-status');
const owner = document.querySelector('.who strong')?.textContent.trim() || '';

async function loadEngine() {
  try {
    const { startEngine } = await import('./engine.js');
    const engine = await startEngine();
    if (status) status.textContent = `Browser security module ${engine.version} ready`;
    document.documentElement.dataset.engine = 'ready';
    return engine;
  } catch (err) {
    if (status) status.textContent = 'Browser security module unavailable';
    document.documentElement.dataset.engine = 'unavailable';
    console.warn('Sealmail browser module failed to load', err);
    return null;
  }
}

// A digital ID in this browser that runs out soon is announced on every page, as far ahead as
// the server says (the same days `sealmail cert expiring` uses for admins).
const renewal = document.getElementById('renewal-notice');
if (renewal && owner) {
  announceRenewals(renewal).catch((err) => console.warn('Sealmail could not read the digital IDs', err));
}

async function announceRenewals(notice) {
  const [{ list }, { formatDate }] = await Promise.all([import('./keystore.js'), import('./ui.js')]);
  const now = Date.now() / 1000;
  const ahead = Number(notice.dataset.days) * 86400;
  const soon = (await list(owner)).filter(({ info }) => info.notAfter > now && info.notAfter - now < ahead);
  if (soon.length === 0) return;
  notice.textContent = soon.map(({ info }) => {
    const days = Math.ceil((info.notAfter - now) / 86400);
    const who = info.emails[0] || info.subject;
    return `Your digital ID for ${who} expires on ${formatDate(info.notAfter)}, in ${days} day${days === 1 ? '' : 's'}. `
      + 'Get a new one before then and import it under Digital IDs; keep this one to read mail already encrypted to it.';
  }).join(' ');
  notice.hidden = false;
}

// Attachments over the server's limit are caught here, before anything is uploaded, so the
// message stays on the page as typed (the server would refuse it too, with the same words).
for (const form of document.querySelectorAll('form.compose[data-max-bytes]')) {
  form.addEventListener('submit', (event) => {
    const limit = Number(form.dataset.maxBytes);
    const files = [...(form.elements.attachments?.files || [])];
    const total = files.reduce((sum, file) => sum + file.size, 0);
    if (!limit || total <= limit) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const note = document.getElementById('seal-status');
    const mb = (bytes) => `${Math.round(bytes / (1024 * 1024))} MB`;
    note.textContent = `Your message was not sent: its attachments come to ${mb(total)}, more than the ${mb(limit)} this server accepts. Remove an attachment, or send the files in several messages.`;
    note.className = 'error';
    note.setAttribute('role', 'alert');
  }, { capture: true });
}

// Sending a large message takes a moment: say so, and stop a second click sending twice.
// (The server would refuse the duplicate anyway; this spares the user the question.)
for (const form of document.querySelectorAll('form.compose')) {
  form.addEventListener('submit', (event) => {
    const button = event.submitter;
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = '1';
    if (button && button.value === 'send') {
      button.textContent = 'Sending…';
      // A browser tells a page nothing of a form's upload, so the bar can only say it is going.
      import('./ui.js').then(({ progress }) => progress('Sending…'));
    }
  });
}

// "Select all on this page" in a folder's list. Without script the form still works box by box,
// and a link reloads the page with every box ticked.
const selectAll = document.getElementById('select-all');
if (selectAll) {
  const boxes = [...document.querySelectorAll('input[type=checkbox][name=uid][form=selected]')];
  const sync = () => {
    const ticked = boxes.filter((box) => box.checked).length;
    selectAll.checked = ticked > 0 && ticked === boxes.length;
    selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
  };
  selectAll.addEventListener('change', () => {
    for (const box of boxes) box.checked = selectAll.checked;
    sync();
  });
  for (const box of boxes) box.addEventListener('change', sync);
  selectAll.hidden = false;
  sync();
}

// On a phone the folder list folds away behind a "Folders" button (style.css hides it only when
// script runs, so without script the list simply stays open).
const menuToggle = document.querySelector('button.menu-toggle');
const menu = menuToggle && document.getElementById(menuToggle.getAttribute('aria-controls'));
if (menu) {
  menuToggle.addEventListener('click', () => {
    const open = menuToggle.getAttribute('aria-expanded') !== 'true';
    menuToggle.setAttribute('aria-expanded', String(open));
    menu.classList.toggle('open', open);
  });
}

// Keyboard shortcuts (j/k, r, # …, ? lists them) on the pages of a signed-in user.
if (owner) import('./shortcuts.js');

// "Verify signature" and other disclosure buttons the server rendered.
import('./ui.js').then(({ wireDisclosure, wireAddContact }) => {
  for (const button of document.querySelectorAll('button.disclose')) wireDisclosure(button);
  for (const button of document.querySelectorAll('button.add-contact')) wireAddContact(button);
});

// Kiosks: pulling the smart card out signs the user out (the admin's card_removal_signs_out).
const kiosk = document.querySelector('form.signout[data-card-removal="sign-out"]');
if (kiosk) import('./smartcard.js').then(({ signOutOnRemoval }) => signOutOnRemoval(kiosk));

// Signing out locks every digital ID this session unlocked.
for (const form of document.querySelectorAll('form.signout')) {
  form.addEventListener('submit', async (event) => {
    if (form.dataset.locked) return;
    event.preventDefault();
    try {
      const keystore = await import('./keystore.js');
      await keystore.lockAll();
    } finally {
      form.dataset.locked = '1';
      form.submit();
    }
  });
}

async function startSecurity() {
  const engine = await loadEngine();
  if (!owner) return;
  const keystore = await import('./keystore.js');
  await keystore.forgetOtherSessions().catch(() => {});
  const pages = [
    ['#import-id', './keys-page.js'],
    ['form.compose', './compose-secure.js'],
    ['#sealed-message', './read-secure.js'],
    ['#encrypted-search', './encrypted-search.js'],
    ['.smime-banner[data-signer]', './signer-continuity.js'],
  ];
  for (const [selector, module] of pages) {
    if (!document.querySelector(selector)) continue;
    if (!engine) {
      const why = 'S/MIME is not available: this browser could not load Sealmail\'s security module (it needs WebAssembly).';
      const target = document.getElementById('keys-unavailable') || document.getElementById('sealed-message');
      if (target) { target.hidden = false; target.textContent = why; }
      continue;
    }
    (await import(module)).start(engine, owner);
  }
}

startSecurity();
