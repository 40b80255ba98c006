// Signing and encrypting on the compose page. The message body and attachments are sealed here,
// in the browser, and only the finished S/MIME entity goes to the server, which adds the header
// fields and submits it (POST /compose/sealed). Plain messages keep the ordinary form post.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import { INSERT_CARD, SMART_CARD_ONLY, choose, csrfToken, postJson, toBase64 } from './ui.js';

const NO_SIGNING_ID = 'A digital ID that allows you to sign this message is missing.';

export function start(engine, owner) {
  const form = document.querySelector('form.compose');
  if (!form) return;
  smartcard.attach(engine);
  const group = form.querySelector('.security');
  const signToggle = document.getElementById('toggle-sign');
  const encryptToggle = document.getElementById('toggle-encrypt');
  const status = document.getElementById('seal-status');
  group.hidden = false;
  // The admin's policy (server policy::ClientPolicy); the server checks the result again.
  const policy = JSON.parse(form.dataset.policy || '{}');
  for (const toggle of [signToggle, encryptToggle]) {
    toggle.addEventListener('click', () => {
      if (toggle.getAttribute('aria-disabled') === 'true') return; // forced by policy
      toggle.setAttribute('aria-pressed', String(toggle.getAttribute('aria-pressed') !== 'true'));
    });
  }
  const pressed = (toggle) => toggle.getAttribute('aria-pressed') === 'true';

  form.addEventListener('submit', async (event) => {
    const action = event.submitter?.value;
    if (action !== 'send' && action !== 'send-new') return;
    if (!pressed(signToggle) && !pressed(encryptToggle)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (form.dataset.busy) return;
    form.dataset.busy = '1';
    const button = event.submitter;
    const label = button.textContent;
    button.textContent = 'Sending…';
    say(status, '');
    try {
      await sealAndSend(engine, owner, form, policy, { sign: pressed(signToggle), encrypt: pressed(encryptToggle), action }, status);
    } catch (err) {
      say(status, err.message || String(err), true);
    } finally {
      delete form.dataset.busy;
      button.textContent = label;
    }
  }, { capture: true });
}

/**
 * The digital ID to sign with. A key on a smart card comes first (architecture §3: hardware keys
 * are preferred); SmartCardOnly allows nothing else.
 */
async function signingIdentity(owner, policy) {
  await smartcard.connect().catch(() => null);
  const onCard = smartcard.identities(keystore.fits, 'sign', owner)[0];
  if (onCard) return onCard;
  if (policy.smartCardOnly) throw new Error(smartcard.support() ? INSERT_CARD : SMART_CARD_ONLY);
  const soft = await keystore.signingIdentity(owner);
  if (!soft) throw new Error(NO_SIGNING_ID);
  return soft;
}

function say(status, text, alert = false) {
  status.textContent = text;
  status.className = alert ? 'error' : '';
  status.setAttribute('role', alert ? 'alert' : 'status');
}

/** The addr-specs typed into a recipient field. */
function addresses(text) {
  return text.split(/[,;]/).map((part) => {
    const angle = part.match(/<([^>]+)>/);
    return (angle ? angle[1] : part).trim();
  }).filter(Boolean);
}

async function sealAndSend(engine, owner, form, policy, wanted, status) {
  const field = (name) => form.elements[name]?.value ?? '';
  const recipients = [...new Set(['to', 'cc', 'bcc'].flatMap((f) => addresses(field(f))))];
  if (recipients.length === 0) throw new Error('Your message was not sent: add at least one recipient in To, Cc or Bcc.');
  let { sign, encrypt } = wanted;

  let signer = null;
  let chain = [];
  if (sign) {
    signer = await signingIdentity(owner, policy);
    if (policy.chain && policy.chain !== 'none') chain = await signingChain(signer);
  }

  let senderCerts = [];
  let answer = null;
  if (encrypt) {
    say(status, 'Finding the recipients\' certificates…');
    answer = await postJson('/api/recipients', { recipients });
    // A recipient whose software reads none of the ciphers the admin allows counts as having no
    // certificate (the policy's EncryptionAlgorithms).
    for (const r of answer.recipients) {
      if (r.certificate && readable(r, policy).length === 0) {
        r.certificate = null;
        r.reason = 'their e-mail program reads none of the encryption algorithms your organization allows';
      }
    }
    const missing = answer.recipients.filter((r) => !r.certificate);
    if (missing.length) {
      const lines = missing.map((r) => `${r.address}: ${r.reason}`);
      if (policy.alwaysEncrypt) {
        throw new Error(`Your message was not sent: your organization requires encryption, and ${lines.join('; ')}.`);
      }
      const choice = await choose('Some recipients cannot receive encrypted mail', [
        ...lines,
        'They would not be able to read an encrypted message.',
      ], [
        { value: 'plain', label: 'Send unencrypted' },
        { value: 'anyway', label: 'Encrypt anyway' },
        { value: 'cancel', label: 'Cancel', primary: true },
      ]);
      if (choice === 'plain') encrypt = false;
      else if (choice !== 'anyway') throw new Error('Your message was not sent. It is still here.');
    }
    if (encrypt) {
      // Encrypt to the sender too, so Sent stays readable: the directory's certificate and the
      // one this browser holds a key for (they differ right after a renewal).
      if (answer.sender?.certificate) senderCerts.push(fromBase64(answer.sender.certificate));
      const own = smartcard.identities(keystore.fits, 'encrypt', owner)[0]
        || (policy.smartCardOnly ? null : (await keystore.list(owner)).find((r) => keystore.fits(r, 'encrypt', owner)));
      if (own) senderCerts.push(own.certificate);
      if (!answer.recipients.some((r) => r.certificate) && senderCerts.length === 0) throw new Error('Your message was not sent: no recipient has a certificate to encrypt to.');
    }
  }
  if (!sign && !encrypt) {
    // The user chose to send it unencrypted and unsigned: the ordinary form post.
    for (const t of form.querySelectorAll('.security [aria-pressed]')) t.setAttribute('aria-pressed', 'false');
    const send = form.querySelector('button[value="send"]');
    form.dataset.busy = '';
    HTMLFormElement.prototype.requestSubmit.call(form, send);
    return;
  }

  // Encrypted mail names its recipients in RecipientInfos, so Bcc recipients get their own
  // message (SecurityFlags): one for To and Cc, and one per Bcc recipient or one for all of them.
  const bcc = new Set(addresses(field('bcc')).map((a) => a.toLowerCase()));
  const groups = encrypt ? splitForBcc(answer.recipients, bcc, policy.bcc) : [{ to: null, certs: [], answers: [] }];
  for (const group of groups) {
    group.algorithm = encrypt ? commonAlgorithm(group.answers, policy) : undefined;
    if (encrypt && !group.algorithm) {
      throw new Error('Your message was not sent: its recipients\' e-mail programs have no encryption algorithm in common that your organization allows.');
    }
  }

  say(status, 'Reading attachments…');
  const attachments = await collectAttachments(form);
  let pkcs8 = null;
  const sealed = [];
  try {
    if (sign && signer.cardSlot === undefined) pkcs8 = await keystore.unlock(signer);
    say(status, sign && encrypt ? 'Signing and encrypting…' : sign ? 'Signing…' : 'Encrypting…');
    for (const group of groups) {
      const entity = await engine.seal({
        text: field('body'),
        attachments,
        sign,
        encrypt,
        opaque: policy.clearSign === false,
        tripleWrap: policy.tripleWrap !== false,
        pkcs8: pkcs8 || undefined,
        cardSlot: signer?.cardSlot,
        certificate: signer?.certificate,
        chain,
        chainWithoutRoot: policy.chain === 'without-root',
        capabilities: policy.capabilities !== false,
        keyIdentifier: Boolean(policy.keyIdentifier),
        digest: policy.digest,
        contentEncryption: group.algorithm,
        protectedHeaders: sign && policy.protectHeaders ? {
          from: owner,
          to: addresses(field('to')),
          cc: addresses(field('cc')),
          subject: field('subject'),
        } : undefined,
        recipients: [...group.certs, ...senderCerts],
        time: Math.floor(Date.now() / 1000),
      });
      sealed.push({ to: group.to, entity });
    }
  } finally {
    pkcs8?.fill(0);
    await smartcard.finish();
  }

  say(status, 'Sending…');
  const body = new FormData();
  for (const name of ['send_id', 'to', 'cc', 'bcc', 'subject', 'in_reply_to', 'references', 'draft_uid']) {
    if (form.elements[name]) body.append(name, field(name));
  }
  body.append('action', wanted.action || 'send');
  body.append('entity', new Blob([sealed[0].entity], { type: 'application/octet-stream' }), 'entity');
  for (const fork of sealed.slice(1)) {
    body.append('fork_to', fork.to.join(', '));
    body.append('fork_entity', new Blob([fork.entity], { type: 'application/octet-stream' }), 'fork_entity');
  }
  const response = await fetch('/compose/sealed', { method: 'POST', body, headers: { 'X-CSRF-Token': csrfToken() } });
  const reply = await response.json().catch(() => ({}));
  if (reply.uncertain) form.querySelector('#send-new')?.removeAttribute('hidden');
  if (!response.ok) throw new Error(reply.error || `Your message was not sent: the server answered ${response.status}.`);
  window.location.assign(reply.location);
}

/**
 * The messages an encrypted send becomes: first the one for To and Cc (`to: null`: the server
 * knows them), then per the policy's Bcc mode one per Bcc recipient, one for all of them, or
 * none (everyone in the first). `answers` are /api/recipients' entries; a distribution list's
 * members belong with the list they came through.
 */
function splitForBcc(answers, bcc, mode) {
  const usable = answers.filter((r) => r.certificate);
  const certOf = (r) => [fromBase64(r.certificate)];
  const bccOf = (r) => [r.address, r.via].find((a) => a && bcc.has(a.toLowerCase()));
  if (mode === 'with-everyone' || bcc.size === 0) {
    return [{ to: null, certs: usable.flatMap(certOf), answers: usable }];
  }
  const shown = usable.filter((r) => !bccOf(r));
  const visible = { to: null, certs: shown.flatMap(certOf), answers: shown };
  const hidden = new Map();
  for (const r of answers) {
    const address = bccOf(r);
    if (!address) continue;
    const key = mode === 'together' ? '*' : address.toLowerCase();
    const group = hidden.get(key) || { to: [], certs: [], answers: [] };
    if (!group.to.includes(address)) group.to.push(address);
    if (r.certificate) {
      group.certs.push(...certOf(r));
      group.answers.push(r);
    }
    hidden.set(key, group);
  }
  if (mode === 'together' && hidden.has('*')) hidden.get('*').to = [...bcc];
  return [visible, ...hidden.values()];
}

/**
 * The admin's algorithms a recipient's software reads: what its signatures announced, or, when
 * none was ever seen, the CBC modes every S/MIME client reads (RFC 8551 §2.7.1).
 */
const SAFE_DEFAULT = ['aes256-cbc', 'aes128-cbc'];
function readable(answer, policy) {
  const known = answer.capabilities || SAFE_DEFAULT;
  return (policy.encryptionAlgorithms || []).filter((a) => known.includes(a));
}

/** The first of the admin's algorithms every recipient in the group reads (we read them all). */
function commonAlgorithm(answers, policy) {
  return (policy.encryptionAlgorithms || []).find((a) => answers.every((r) => readable(r, policy).includes(a)));
}

/**
 * The certificates to carry with the signature: the path the server validates for the signing
 * certificate (which reaches the trust anchor even when the .p12 held no chain), or the .p12's
 * own chain if the server cannot say.
 */
async function signingChain(signer) {
  try {
    const answer = await postJson('/api/chain', { certificates: [signer.certificate, ...signer.chain].map(toBase64) });
    return answer.chain.map(fromBase64);
  } catch {
    return [...signer.chain];
  }
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** New files, plus attachments kept from the message being forwarded or edited. */
async function collectAttachments(form) {
  const out = [];
  for (const file of form.elements.attachments?.files || []) {
    out.push({ name: file.name, contentType: file.type || 'application/octet-stream', data: new Uint8Array(await file.arrayBuffer()) });
  }
  const folder = form.elements.source_folder?.value;
  const uid = form.elements.source_uid?.value;
  for (const box of form.querySelectorAll('input[name="keep_part"]:checked')) {
    const url = `/attachment?folder=${encodeURIComponent(folder)}&uid=${encodeURIComponent(uid)}&part=${encodeURIComponent(box.value)}`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`Your message was not sent: the attachment ${box.dataset.name} could not be read.`);
    out.push({ name: box.dataset.name || 'attachment', contentType: box.dataset.type || 'application/octet-stream', data: new Uint8Array(await response.arrayBuffer()) });
  }
  return out;
}
