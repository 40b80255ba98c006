// The Digital IDs page: import a .p12 into this browser's key store, list, publish, remove.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import { el, formatDate, postJson, toBase64 } from './ui.js';

export async function start(engine, owner) {
  const form = document.getElementById('import-id');
  const status = document.getElementById('import-status');
  // The card does not need this browser's key store, which a kiosk's framed page may lack
  // (the browser can refuse storage to a page framed by another site).
  startSmartCard(owner);
  try {
    await render(owner);
  } catch (err) {
    const unavailable = document.getElementById('keys-unavailable');
    unavailable.hidden = false;
    unavailable.textContent = err.message || String(err);
    form.querySelector('button[type="submit"]')?.setAttribute('disabled', '');
    return;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = document.getElementById('p12-file').files[0];
    const password = document.getElementById('p12-password').value;
    const passphrase = document.getElementById('store-passphrase').value;
    const strong = document.getElementById('strong-protection').checked;
    status.className = '';
    status.textContent = 'Importing…';
    try {
      if (!file) throw new Error('Choose a digital ID file first.');
      const bytes = new Uint8Array(await file.arrayBuffer());
      let identity;
      try {
        identity = await engine.inspect_p12(bytes, password);
      } finally {
        bytes.fill(0);
      }
      const refusal = refuse(identity.info);
      if (refusal) {
        identity.pkcs8.fill(0);
        throw new Error(refusal);
      }
      await keystore.add(owner, identity, passphrase, strong);
      form.reset();
      status.textContent = `Imported ${identity.info.subject}.`;
      await render(owner);
    } catch (err) {
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = `The digital ID was not imported: ${err.message || err}`;
    }
  });
  // Importing needs this script: the button works from now on (see keys.html).
  form.querySelector('button[type="submit"]').disabled = false;
}

/** Why an identity must not be stored, or null. */
function refuse(info) {
  const now = Date.now() / 1000;
  if (info.notAfter < now) return `its certificate expired on ${formatDate(info.notAfter)}.`;
  if (info.notBefore > now) return `its certificate is not valid until ${formatDate(info.notBefore)}.`;
  return null;
}

const SLOT_NAMES = { 0x9a: 'PIV Authentication (9A)', 0x9c: 'Digital Signature (9C)', 0x9d: 'Key Management (9D)' };

function slotName(slot) {
  return SLOT_NAMES[slot] || `Retired Key Management ${slot - 0x81} (${slot.toString(16).toUpperCase()})`;
}

/** The smart card section: connect a reader, list the card's certificates, publish them. */
async function startSmartCard(owner) {
  const button = document.getElementById('connect-card');
  const status = document.getElementById('card-status');
  const list = document.getElementById('card-ids');
  const show = (found) => {
    list.replaceChildren(...(found?.identities || []).map((identity) => item({
      info: identity.info,
      certificate: identity.certificate,
      chain: [],
      cardSlot: identity.cardSlot,
    }, owner)));
    status.className = '';
    status.textContent = found ? `Smart card connected: ${found.identities.length} certificate(s).` : '';
    button.hidden = Boolean(found);
  };
  smartcard.onRemoved(() => {
    show(null);
    status.textContent = 'The smart card was removed; its digital IDs are locked.';
  });
  if (!smartcard.support()) {
    button.hidden = true;
    status.textContent = smartcard.NO_SMART_CARDS;
    return;
  }
  // Enabled only once it works (the page is usable before this script has loaded).
  button.disabled = false;
  button.addEventListener('click', async () => {
    status.textContent = 'Connecting…';
    try {
      show(await smartcard.connect({ ask: true }));
    } catch (err) {
      status.className = 'error';
      status.textContent = `The smart card could not be used: ${err.message || err}`;
    }
  });
  show(await smartcard.connect().catch(() => null));
}

async function render(owner) {
  const list = document.getElementById('ids');
  const records = await keystore.list(owner);
  document.getElementById('ids-empty').hidden = records.length > 0;
  list.replaceChildren(...records.map((r) => item(r, owner)));
}

function item(record, owner) {
  const { info } = record;
  const row = (term, value) => [el('dt', { text: term }), el('dd', { text: value })];
  const status = el('p', { role: 'status', 'aria-live': 'polite' });
  const publish = el('button', { type: 'button', text: 'Publish my certificate' });
  publish.addEventListener('click', async () => {
    try {
      const certificates = [record.certificate, ...record.chain].map(toBase64);
      await postJson('/api/certificates/publish', { certificates });
      status.textContent = 'Published: others can now encrypt mail to you with this certificate.';
    } catch (err) {
      status.textContent = `Not published: ${err.message}`;
    }
  });
  const onCard = record.cardSlot !== undefined;
  const remove = onCard ? null : el('button', { type: 'button', text: 'Remove' });
  remove?.setAttribute('aria-label', `Remove ${info.subject}`);
  remove?.addEventListener('click', async () => {
    await keystore.remove(record.id);
    await render(owner);
  });
  const forMe = info.emails.includes(owner.toLowerCase());
  return el('li', { class: 'identity' },
    el('h3', { text: info.subject }),
    el('dl', { class: 'headers' },
      ...row('E-mail', info.emails.join(', ') || '(none)'),
      ...row('Issued by', info.issuer),
      ...row('Valid', `from ${formatDate(info.notBefore)} to ${formatDate(info.notAfter)}`),
      ...row('Key', info.keyType),
      ...row('Usage', info.keyUsage.join(', ') || 'any'),
      ...row('Protection', onCard ? `On the smart card, slot ${slotName(record.cardSlot)}; PIN asked when used`
        : record.strong ? 'Passphrase asked every time' : 'Passphrase asked once per session'),
      ...row('Fingerprint (SHA-256)', info.fingerprint)),
    forMe ? null : el('p', { class: 'error', text: `This digital ID is not issued for ${owner}: it can decrypt, but not sign your mail.` }),
    el('p', { class: 'buttons' }, publish, remove),
    status);
}
