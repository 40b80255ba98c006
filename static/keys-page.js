// The Digital IDs page: import a .p12 into this browser's key store, list, publish, remove.
import * as keystore from './keystore.js';
import { el, formatDate, postJson, toBase64 } from './ui.js';

export async function start(engine, owner) {
  const form = document.getElementById('import-id');
  const status = document.getElementById('import-status');
  await render(owner);

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
}

/** Why an identity must not be stored, or null. */
function refuse(info) {
  const now = Date.now() / 1000;
  if (info.notAfter < now) return `its certificate expired on ${formatDate(info.notAfter)}.`;
  if (info.notBefore > now) return `its certificate is not valid until ${formatDate(info.notBefore)}.`;
  return null;
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
  const remove = el('button', { type: 'button', text: 'Remove' });
  remove.setAttribute('aria-label', `Remove ${info.subject}`);
  remove.addEventListener('click', async () => {
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
      ...row('Protection', record.strong ? 'Passphrase asked every time' : 'Passphrase asked once per session'),
      ...row('Fingerprint (SHA-256)', info.fingerprint)),
    forMe ? null : el('p', { class: 'error', text: `This digital ID is not issued for ${owner}: it can decrypt, but not sign your mail.` }),
    el('p', { class: 'buttons' }, publish, remove),
    status);
}
