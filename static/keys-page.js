// The Digital IDs page: import a .p12 into this browser's key store, list, publish, export as a
// .p12 (a download made here: the key never goes to the server), remove; request a new digital
// ID (key pair made here, request downloaded) and install the certificate the CA sends back.
// With key archival on, an encryption key's copy for the recovery agents is made here too.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import { el, formatDate, getJson, postJson, toBase64, wireDisclosure } from './ui.js';

const policy = JSON.parse(document.getElementById('new-id')?.dataset.policy || '{}');

export async function start(engine, owner) {
  const form = document.getElementById('import-id');
  const status = document.getElementById('import-status');
  // The card does not need this browser's key store, which a kiosk's framed page may lack
  // (the browser can refuse storage to a page framed by another site).
  startSmartCard(owner);
  document.getElementById('archival-notice').hidden = !policy.keyArchival;
  try {
    await render(owner, engine);
    await startRequests(owner, engine);
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
      let deposited = '';
      try {
        if (await needsCopy(engine, identity.certificate)) deposited = await depositCopy(engine, owner, identity, status);
      } catch (err) {
        identity.pkcs8.fill(0);
        throw err;
      }
      await keystore.add(owner, identity, passphrase, strong);
      form.reset();
      status.textContent = `Imported ${identity.info.subject}.${deposited}`;
      await render(owner, engine);
    } catch (err) {
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = `The digital ID was not imported: ${err.message || err}`;
    }
  });
  // Importing needs this script: the button works from now on (see keys.html).
  form.querySelector('button[type="submit"]').disabled = false;
}

/** Whether the key of `certificate` gets a copy for the recovery agents: archival is on and mail is encrypted to it. */
async function needsCopy(engine, certificate) {
  return Boolean(policy.keyArchival) && engine.needs_archival(certificate);
}

/**
 * Encrypts a copy of `pkcs8` to the recovery agents (checked in the module against this
 * browser's anchors) and deposits it. Returns a sentence naming the agents. The caller zeroes
 * pkcs8.
 */
async function depositCopy(engine, owner, { pkcs8, certificate, chain }, status) {
  status.textContent = 'Making the copy of your encryption key for your organization\'s recovery agents…';
  const { agents } = await getJson('/api/recovery-agents');
  const held = await keystore.list(owner);
  const own = [...held, { certificate, chain }]
    .map((r) => ({ certificate: toBase64(r.certificate), chain: r.chain.map(toBase64) }));
  const made = await engine.archive_key({
    pkcs8, certificate, chain, agents, own, time: Math.floor(Date.now() / 1000),
  });
  await postJson('/api/key-archive', { certificate: toBase64(certificate), archive: toBase64(made.archive) });
  const names = made.agents.map((a) => `${a.subject} (SHA-256 ${a.fingerprint})`).join(', ');
  return ` A copy of its key, encrypted to your organization's recovery agent ${names}, was deposited.`;
}

/** A new key pair made by the browser's WebCrypto, as PKCS#8 DER. */
async function generateKey(kind) {
  const algorithm = kind === 'p-256'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  // Extractable once, to hand the key to the module and to seal it under the passphrase.
  const pair = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  return new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
}

const PURPOSE_WORDS = { signing: 'for signing', encryption: 'for encryption', both: 'for signing and encryption' };

/** The "Request a new digital ID" section: make requests, list waiting keys, install certificates. */
async function startRequests(owner, engine) {
  const form = document.getElementById('request-id');
  const status = document.getElementById('request-status');
  document.getElementById('request-dual').hidden = !policy.dualKeys;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.className = '';
    status.removeAttribute('role');
    const name = document.getElementById('request-name').value;
    const kind = document.getElementById('request-key-type').value;
    const passphrase = document.getElementById('request-passphrase').value;
    const purposes = policy.dualKeys ? ['signing', 'encryption'] : ['both'];
    try {
      const files = [];
      for (const purpose of purposes) {
        status.textContent = `Making a new key ${PURPOSE_WORDS[purpose]}…`;
        const pkcs8 = await generateKey(kind);
        try {
          const made = await engine.certificate_request({ pkcs8, name, email: owner, purpose });
          await keystore.addWaiting(owner, { pkcs8, ...made, purpose }, passphrase);
          files.push(requestFile(owner, purpose));
        } finally {
          pkcs8.fill(0);
        }
      }
      form.reset();
      status.textContent = files.length > 1
        ? `Requests made: download ${files.join(' and ')} below and send them to your certification authority, then install the certificates it sends back.`
        : `Request made: download ${files[0]} below and send it to your certification authority, then install the certificate it sends back.`;
    } catch (err) {
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = `No request was made: ${err.message || err}`;
    }
    await renderWaiting(owner);
  });
  form.querySelector('button[type="submit"]').disabled = false;

  const install = document.getElementById('install-id');
  const installStatus = document.getElementById('install-status');
  install.addEventListener('submit', async (event) => {
    event.preventDefault();
    installStatus.className = '';
    installStatus.removeAttribute('role');
    installStatus.textContent = 'Installing…';
    try {
      const file = document.getElementById('issued-file').files[0];
      if (!file) throw new Error('Choose the certificate file first.');
      const waiting = await keystore.listWaiting(owner);
      if (!waiting.length) throw new Error('no key in this browser is waiting for a certificate: make a request first.');
      const issued = await engine.install_issued({
        file: new Uint8Array(await file.arrayBuffer()),
        waiting: waiting.map((w) => ({ id: w.id, publicKey: w.publicKey })),
      });
      const refusal = refuse(issued.info);
      if (refusal) throw new Error(refusal);
      const record = waiting.find((w) => w.id === issued.id);
      let deposited = '';
      if (await needsCopy(engine, issued.certificate)) {
        const pkcs8 = await keystore.unlock(record);
        try {
          deposited = await depositCopy(engine, owner, { pkcs8, ...issued }, installStatus);
        } finally {
          pkcs8.fill(0);
        }
      }
      await keystore.install(record, issued);
      install.reset();
      installStatus.textContent = `Installed ${issued.info.subject}: the digital ID is ready. Publish it so others can encrypt mail to you.${deposited}`;
      await render(owner, engine);
      await renderWaiting(owner);
    } catch (err) {
      installStatus.className = 'error';
      installStatus.setAttribute('role', 'alert');
      installStatus.textContent = `The certificate was not installed: ${err.message || err}`;
    }
  });
  install.querySelector('button[type="submit"]').disabled = false;
  await renderWaiting(owner);
}

/** The request's file name: the address's local part, and the key's purpose with dual keys. */
function requestFile(owner, purpose) {
  const local = owner.split('@')[0];
  return purpose === 'both' ? `${local}.csr` : `${local}-${purpose}.csr`;
}

async function renderWaiting(owner) {
  const list = document.getElementById('waiting');
  const waiting = await keystore.listWaiting(owner);
  document.getElementById('waiting-empty').hidden = waiting.length > 0;
  list.replaceChildren(...waiting.map((record) => {
    const what = `${record.keyType} key ${PURPOSE_WORDS[record.purpose]}, requested ${formatDate(record.requestedAt / 1000)}`;
    // A click per file: browsers hold back a second download a page starts by itself.
    const file = requestFile(owner, record.purpose);
    const again = el('button', { type: 'button', text: `Download ${file}` });
    again.addEventListener('click', () => download(record.pem, file, 'application/pkcs10'));
    const remove = el('button', { type: 'button', text: 'Remove' });
    remove.setAttribute('aria-label', `Remove the ${what}`);
    remove.addEventListener('click', async () => {
      await keystore.removeWaiting(record.id);
      await renderWaiting(owner);
    });
    return el('li', { class: 'identity' }, el('p', { text: what }), el('p', { class: 'buttons' }, again, remove));
  }));
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

async function render(owner, engine) {
  const list = document.getElementById('ids');
  const records = await keystore.list(owner);
  document.getElementById('ids-empty').hidden = records.length > 0;
  list.replaceChildren(...records.map((r) => item(r, owner, engine)));
}

/** Why the two typed file passwords cannot be used, or null. */
function refusePasswords(password, again) {
  if (!password) return 'Type a password for the file: it protects your private key once the file leaves this browser.';
  if (password !== again) return 'The two passwords differ. Type the same password twice.';
  return null;
}

/**
 * "Export…" of a digital ID held in this browser: a new file password typed twice, then the key
 * is unlocked (the browser passphrase is asked if need be) and the module writes the .p12, which
 * the browser saves as a download. Card IDs have none: their key cannot leave the card.
 */
function exportSection(record, owner, engine) {
  const { info } = record;
  const id = record.id.replace(/[^A-Za-z0-9]/g, '-');
  const address = info.emails.includes(owner.toLowerCase()) ? owner : info.emails[0] || 'digital-id';
  const password = el('input', { id: `${id}-file-password`, type: 'password', autocomplete: 'new-password' });
  const again = el('input', { id: `${id}-file-password-again`, type: 'password', autocomplete: 'new-password' });
  const gnupg = el('input', { id: `${id}-gnupg22`, type: 'checkbox' });
  const status = el('p', { role: 'status', 'aria-live': 'polite' });
  const form = el('form', { class: 'stacked', autocomplete: 'off' },
    el('p', { class: 'hint', text: 'The file holds your private key: anyone who has it and its password can read your encrypted mail and sign as you. Keep it somewhere safe, and choose a password you do not use elsewhere.' }),
    el('p', {}, el('label', { for: password.id, text: 'Password for the file' }), password),
    el('p', {}, el('label', { for: again.id, text: 'Type the password again' }), again),
    el('p', {}, gnupg, el('label', { for: gnupg.id, class: 'inline', text: ' For GnuPG 2.2 (gpgsm), which cannot read the stronger default encryption' })),
    el('p', {}, el('button', { type: 'submit', class: 'primary', text: `Download ${address}.p12` })),
    status);
  const panel = el('div', { id: `${id}-export`, hidden: true }, form);
  const toggle = el('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': panel.id, text: 'Export…' });
  toggle.setAttribute('aria-label', `Export ${info.subject} as a .p12 file`);
  wireDisclosure(toggle);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.className = '';
    status.removeAttribute('role');
    const refusal = refusePasswords(password.value, again.value);
    if (refusal) {
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = `Not exported: ${refusal}`;
      return;
    }
    status.setAttribute('role', 'status');
    status.textContent = 'Exporting…';
    try {
      const pkcs8 = await keystore.unlock(record);
      let file;
      try {
        file = await engine.export_p12({
          pkcs8,
          certificate: record.certificate,
          chain: record.chain,
          password: password.value,
          friendlyName: address,
          forGnupg22: gnupg.checked,
        });
      } finally {
        pkcs8.fill(0);
      }
      download(file, `${address}.p12`, 'application/x-pkcs12');
      form.reset();
      status.textContent = `Exported: your browser saved ${address}.p12.`;
    } catch (err) {
      status.className = 'error';
      status.setAttribute('role', 'alert');
      status.textContent = `Not exported: ${err.message || err}`;
    }
  });
  return { toggle, panel };
}

/** Saves `bytes` as a file the browser downloads: made here, never fetched from the server. */
function download(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later, not at once: the browser may start the download after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function item(record, owner, engine) {
  const { info } = record;
  const row = (term, value) => [el('dt', { text: term }), el('dd', { text: value })];
  const status = el('p', { role: 'status', 'aria-live': 'polite' });
  const publish = el('button', { type: 'button', text: 'Publish my certificate' });
  publish.addEventListener('click', async () => {
    try {
      // Publishing replaces what the directory holds, so every digital ID of the user's in this
      // browser goes along: with dual keys, the signing and the encryption certificate.
      const mine = (await keystore.list(owner))
        .filter((r) => r.info.emails.includes(owner.toLowerCase()) && refuse(r.info) === null);
      const chosen = mine.some((r) => r.id === record.id) ? mine : [record];
      const certificates = chosen.flatMap((r) => [r.certificate, ...r.chain]).map(toBase64);
      await postJson('/api/certificates/publish', { certificates });
      status.textContent = chosen.length > 1
        ? `Published: others can now encrypt mail to you with these ${chosen.length} certificates.`
        : 'Published: others can now encrypt mail to you with this certificate.';
    } catch (err) {
      status.textContent = `Not published: ${err.message}`;
    }
  });
  const onCard = record.cardSlot !== undefined;
  const remove = onCard ? null : el('button', { type: 'button', text: 'Remove' });
  remove?.setAttribute('aria-label', `Remove ${info.subject}`);
  remove?.addEventListener('click', async () => {
    await keystore.remove(record.id);
    await render(owner, engine);
  });
  const exporting = onCard ? null : exportSection(record, owner, engine);
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
    el('p', { class: 'buttons' }, publish, exporting?.toggle, remove),
    exporting?.panel,
    status);
}
