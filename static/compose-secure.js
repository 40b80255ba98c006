// Signing and encrypting on the compose page. The message body and attachments are sealed here,
// in the browser, and only the finished S/MIME entity goes to the server, which adds the header
// fields and submits it (POST /compose/sealed). Plain messages keep the ordinary form post.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import * as correspondents from './correspondents.js';
import * as autosave from './autosave.js';
import * as richText from './rich-text.js';
import * as recipientTokens from './recipient-tokens.js';
import { openWithOwnKeys } from './read-secure.js';
import { INSERT_CARD, SMART_CARD_ONLY, choose, csrfToken, formatDate, formatSize, fromBase64, postJson, progress, toBase64 } from './ui.js';

const NO_SIGNING_ID = 'A digital ID that allows you to sign this message is missing.';

export function start(engine, owner) {
  const form = document.querySelector('form.compose');
  if (!form) return;
  smartcard.attach(engine);
  recipientTokens.start(engine);
  const group = form.querySelector('.security');
  const signToggle = document.getElementById('toggle-sign');
  const encryptToggle = document.getElementById('toggle-encrypt');
  const status = document.getElementById('seal-status');
  group.hidden = false;
  // The admin's policy (server policy::ClientPolicy); the server checks the result again.
  const policy = JSON.parse(form.dataset.policy || '{}');
  const subjectNote = document.getElementById('subject-note');
  for (const toggle of [signToggle, encryptToggle]) {
    toggle.addEventListener('click', () => {
      if (toggle.getAttribute('aria-disabled') === 'true') return; // forced by policy
      toggle.setAttribute('aria-pressed', String(toggle.getAttribute('aria-pressed') !== 'true'));
      // S/MIME encrypts the body and attachments; the subject travels (and is kept) in the clear.
      if (subjectNote) subjectNote.hidden = !pressed(encryptToggle);
    });
  }
  const pressed = (toggle) => toggle.getAttribute('aria-pressed') === 'true';
  if (policy.chooseSigner) offerSigners(engine, owner, form, policy);
  autosave.setSealer(() => sealDraft(engine, owner, form, policy));
  if (form.dataset.sealedDraft) openDraft(engine, owner, form, policy);

  form.addEventListener('submit', async (event) => {
    const action = event.submitter?.value;
    if (action === 'save' && pressed(encryptToggle)) {
      // A draft of an encrypted message is saved encrypted to the user alone, never posted plain.
      event.preventDefault();
      event.stopImmediatePropagation();
      await autosave.save({ asked: true });
      return;
    }
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
      autosave.resume();
    } finally {
      progress(null);
      delete form.dataset.busy;
      button.textContent = label;
    }
  }, { capture: true });
}

/**
 * The digital IDs that may sign as `from`, best first: those whose certificate names the From
 * address chosen, else (an identity without a digital ID of its own) the sign-in address's, as
 * before identities. Keys on a smart card come first (architecture §3: hardware keys are
 * preferred); SmartCardOnly allows nothing else.
 */
async function signers(engine, owner, policy, from) {
  await smartcard.connect().catch(() => null);
  const addresses = from && from.toLowerCase() !== owner.toLowerCase() ? [from, owner] : [owner];
  const soft = policy.smartCardOnly ? [] : await keystore.list(owner);
  for (const address of addresses) {
    const found = [
      ...await keystore.fitting(engine, smartcard.identities(), 'sign', address),
      ...await keystore.fitting(engine, soft, 'sign', address),
    ];
    if (found.length) return found;
  }
  return [];
}

/** The digital ID to sign with: the one the user chose (when the policy lets them), or the best. */
async function signingIdentity(engine, owner, policy, from) {
  const found = await signers(engine, owner, policy, from);
  const chosen = policy.chooseSigner ? document.getElementById('signer')?.value : '';
  const signer = found.find((r) => r.info.fingerprint === chosen) || found[0];
  if (signer) return signer;
  if (policy.smartCardOnly) throw new Error(smartcard.support() ? INSERT_CARD : SMART_CARD_ONLY);
  throw new Error(NO_SIGNING_ID);
}

/**
 * AllowUserChoiceOfSigningCertificate: with several digital IDs that may sign as the chosen From,
 * a "Sign with" list names each (who issued it, until when, and where the key is).
 */
function offerSigners(engine, owner, form, policy) {
  const choice = form.querySelector('.signer-choice');
  const select = document.getElementById('signer');
  const fill = async () => {
    const found = await signers(engine, owner, policy, form.elements.from?.value || owner);
    const onCard = smartcard.identities();
    const previous = select.value;
    select.replaceChildren(...found.map((r) => {
      const where = onCard.includes(r) ? 'smart card' : 'this browser';
      const label = `${r.info.subject} — issued by ${r.info.issuer}, valid until ${formatDate(r.info.notAfter)} (${where})`;
      return new Option(label, r.info.fingerprint, false, r.info.fingerprint === previous);
    }));
    choice.hidden = found.length < 2;
  };
  fill();
  form.elements.from?.addEventListener?.('change', fill);
}

function say(status, text, alert = false) {
  status.textContent = text;
  status.className = alert ? 'error' : '';
  status.setAttribute('role', alert ? 'alert' : 'status');
}

async function sealAndSend(engine, owner, form, policy, wanted, status) {
  const field = (name) => form.elements[name]?.value ?? '';
  // Read by the same rules the server checks with (send_rules): a quoted name may hold a comma.
  const typed = await engine.read_recipients(field('to'), field('cc'), field('bcc'));
  if (typed.all.length === 0) throw new Error('Your message was not sent: add at least one recipient in To, Cc or Bcc.');
  let { sign, encrypt } = wanted;
  // The identity chosen in From (the sign-in address when the page offers no choice).
  const from = field('from') || owner;

  let signer = null;
  let chain = [];
  if (sign) {
    signer = await signingIdentity(engine, owner, policy, from);
    if (policy.chain && policy.chain !== 'none') chain = await signingChain(signer);
  }

  let senderCerts = [];
  let messages = [{ to: null, certificates: [], algorithm: undefined }];
  let used = [];
  if (encrypt) {
    say(status, 'Finding the recipients\' certificates…');
    const answer = await postJson('/api/recipients', { recipients: typed.all });
    const plan = await planEncryption(engine, owner, policy, field('bcc'), answer.recipients);
    if (!plan) throw new Error('Your message was not sent. It is still here.');
    const missing = plan.missing;
    // A directory that could not be reached, a list that could not be expanded: the user
    // decides knowing it.
    const problems = answer.problems ?? [];
    if (missing.length) {
      const lines = missing.map((r) => `${r.address}: ${r.reason}`);
      if (policy.alwaysEncrypt) {
        throw new Error(`Your message was not sent: your organization requires encryption, and ${[...lines, ...problems].join('; ')}.`);
      }
      const choice = await choose('Some recipients cannot receive encrypted mail', [
        ...lines,
        'They would not be able to read an encrypted message.',
        ...problems,
      ], [
        { value: 'plain', label: 'Send unencrypted' },
        { value: 'anyway', label: 'Encrypt anyway' },
        { value: 'cancel', label: 'Cancel', primary: true },
      ]);
      if (choice === 'plain') encrypt = false;
      else if (choice !== 'anyway') throw new Error('Your message was not sent. It is still here.');
    } else if (problems.length) {
      const choice = await choose('Not every recipient could be looked up', problems, [
        { value: 'send', label: 'Send' },
        { value: 'cancel', label: 'Cancel', primary: true },
      ]);
      if (choice !== 'send') throw new Error('Your message was not sent. It is still here.');
    }
    if (encrypt) {
      // Encrypt to the sender too, so Sent stays readable: the certificate of a key this
      // browser holds, never one the server supplies.
      const own = await ownEncryptionIdentity(engine, owner, policy);
      if (own) senderCerts.push(own.certificate);
      if (plan.used.length === 0 && senderCerts.length === 0) throw new Error('Your message was not sent: no recipient has a certificate to encrypt to.');
      ({ messages, used } = plan);
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

  say(status, 'Reading attachments…');
  const attachments = await collectAttachments(form);
  let pkcs8 = null;
  const sealed = [];
  try {
    if (sign && signer.cardSlot === undefined) pkcs8 = await keystore.unlock(signer);
    const step = sign && encrypt ? 'Signing and encrypting…' : sign ? 'Signing…' : 'Encrypting…';
    say(status, step);
    progress(step);
    for (const message of messages) {
      const entity = await engine.seal({
        text: field('body'),
        html: richText.formatted() ?? undefined,
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
        contentEncryption: encrypt ? message.algorithm : undefined,
        protectedHeaders: sign && policy.protectHeaders ? {
          from,
          to: typed.to.map((m) => m.email),
          cc: typed.cc.map((m) => m.email),
          subject: field('subject'),
        } : undefined,
        recipients: encrypt ? [...message.certificates.map(fromBase64), ...senderCerts] : [],
        time: Math.floor(Date.now() / 1000),
      });
      sealed.push({ to: message.to, entity });
    }
  } finally {
    pkcs8?.fill(0);
    await smartcard.finish();
  }

  say(status, 'Sending…');
  const body = new FormData();
  for (const name of ['send_id', 'from', 'to', 'cc', 'bcc', 'subject', 'in_reply_to', 'references', 'draft_uid']) {
    if (form.elements[name]) body.append(name, field(name));
  }
  body.append('action', wanted.action || 'send');
  body.append('entity', new Blob([sealed[0].entity], { type: 'application/octet-stream' }), 'entity');
  for (const fork of sealed.slice(1)) {
    body.append('fork_to', fork.to.join(', '));
    body.append('fork_entity', new Blob([fork.entity], { type: 'application/octet-stream' }), 'fork_entity');
  }
  const response = await upload('/compose/sealed', body);
  const reply = response.json;
  if (reply.uncertain) form.querySelector('#send-new')?.removeAttribute('hidden');
  if (!response.ok) throw new Error(reply.error || `Your message was not sent: the server answered ${response.status}.`);
  await correspondents.remember(owner, used).catch(() => {});
  window.location.assign(reply.location);
}

/**
 * Posts `body` with the progress bar following the upload (fetch cannot report it, XHR can),
 * then waiting for the server's answer. Resolves `{ ok, status, json }`; rejects only when the
 * request could not be made, in words.
 */
function upload(url, body) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', url);
    request.setRequestHeader('X-CSRF-Token', csrfToken());
    request.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      progress(`Uploading ${formatSize(event.loaded)} of ${formatSize(event.total)}…`, event.loaded / event.total);
    });
    request.upload.addEventListener('load', () => progress('Waiting for the mail server…'));
    request.addEventListener('load', () => {
      let json = {};
      try { json = JSON.parse(request.responseText); } catch { /* not JSON: the status says it */ }
      resolve({ ok: request.status >= 200 && request.status < 300, status: request.status, json });
    });
    request.addEventListener('error', () => reject(new Error('The connection to the server was lost, so this page cannot tell whether your message was sent. Look in Sent Items before sending it again; the message is still here.')));
    request.send(body);
  });
}

/**
 * The module's plan for an encrypted send (send_rules::plan): it encrypts only to certificates
 * that chain to an anchor this browser holds and have not changed issuer since the user last
 * wrote to that person. Any it doubts are shown, with who, why and the fingerprint, and used
 * only if the user says so. `null` when the user cancels.
 */
async function planEncryption(engine, owner, policy, bcc, offers) {
  const request = {
    bcc,
    offers,
    own: await ownIdentities(owner, policy),
    // Where the browser keeps nothing (the kiosk app's frame has no IndexedDB), every send
    // checks against the anchors alone and asks again.
    remembered: await correspondents.remembered(owner).catch(() => []),
    accepted: await correspondents.accepted(owner).catch(() => []),
    encryptionAlgorithms: policy.encryptionAlgorithms || [],
    bccMode: policy.bcc || 'separate',
    time: Math.floor(Date.now() / 1000),
  };
  let plan = await engine.plan_send(request);
  if (plan.doubts.length === 0) return plan;
  const lines = plan.doubts.map((d) => `${d.address}: ${d.reasons.join(' ')} Issued to ${d.subject} by ${d.issuer}. Fingerprint (SHA-256): ${grouped(d.fingerprint)}.`);
  const choice = await choose('Check these digital IDs before encrypting to them', [
    ...lines,
    'Encrypt to them only if you have checked the fingerprint with the person, for example by phone.',
  ], [
    { value: 'trust', label: 'Trust and encrypt to them' },
    { value: 'leave', label: 'Don\'t encrypt to them' },
    { value: 'cancel', label: 'Cancel', primary: true },
  ]);
  if (choice === 'trust') {
    const fingerprints = plan.doubts.map((d) => d.fingerprint);
    await correspondents.accept(owner, fingerprints).catch(() => {});
    request.accepted = [...request.accepted, ...fingerprints];
    return engine.plan_send(request);
  }
  if (choice !== 'leave') return null;
  plan = { ...plan };
  plan.missing = [...plan.missing, ...plan.doubts.map((d) => ({ address: d.address, reason: 'you chose not to use the digital ID offered for them' }))];
  return plan;
}

/**
 * The user's own digital IDs, whose issuers the module trusts. A card holds no chain, so the
 * server is asked for the path of each card certificate; the module keeps only issuers that
 * really issued it.
 */
async function ownIdentities(owner, policy) {
  const out = [];
  for (const id of smartcard.identities()) {
    const chain = await postJson('/api/chain', { certificates: [toBase64(id.certificate)] })
      .then((answer) => answer.chain, () => []);
    out.push({ certificate: toBase64(id.certificate), chain });
  }
  if (!policy.smartCardOnly) {
    for (const r of await keystore.list(owner)) {
      out.push({ certificate: toBase64(r.certificate), chain: (r.chain || []).map(toBase64) });
    }
  }
  return out;
}

/**
 * The draft's body and attachments as an entity encrypted to the user's own certificate only: not
 * signed (nothing to unlock while typing), no recipient can read it, and the server never holds
 * its text. Attachments kept from a message (forwarded, or the draft this replaces) are taken
 * into the page's file field, since the message they came from may be gone after the save.
 */
async function sealDraft(engine, owner, form, policy) {
  const own = await ownEncryptionIdentity(engine, owner, policy);
  if (!own) {
    throw new autosave.NoEncryptionId(policy.smartCardOnly
      ? 'no smart card with your digital ID for encryption is connected'
      : 'there is no digital ID for encryption in this browser (import yours on the Digital IDs page)');
  }
  const chosen = form.elements.attachments?.files;
  const attachments = await collectAttachments(form);
  const entity = await engine.seal({
    text: form.elements.body.value,
    html: richText.formatted() ?? undefined,
    attachments,
    sign: false,
    encrypt: true,
    contentEncryption: (policy.encryptionAlgorithms || [])[0],
    keyIdentifier: Boolean(policy.keyIdentifier),
    recipients: [own.certificate],
    time: Math.floor(Date.now() / 1000),
  });
  // Unless the user picked other files meanwhile (the next save takes those, and the kept ones).
  if (form.elements.attachments?.files === chosen) keepInFileField(form, attachments);
  return entity;
}

/** Puts `attachments` ({name, contentType, data}) in the form's file field, in place of what it held. */
function keepInFileField(form, attachments) {
  const input = form.elements.attachments;
  if (!input) return;
  const files = new DataTransfer();
  for (const a of attachments) files.items.add(new File([a.data], a.name, { type: a.contentType }));
  input.files = files.files;
  input.dispatchEvent(new Event('change')); // the list of files to attach (attachments.js)
  form.querySelector('fieldset.kept')?.remove();
}

/**
 * Opens the encrypted draft this page was opened from: the server filled the header fields, and
 * the body and attachments come from decrypting the draft here. Until then nothing is saved.
 */
async function openDraft(engine, owner, form, policy) {
  const note = document.getElementById('sealed-draft-status');
  const tell = (text, alert = false) => {
    note.textContent = text;
    note.className = alert ? 'error' : '';
  };
  try {
    const response = await fetch(form.dataset.sealedDraft);
    if (!response.ok) throw new Error(`the draft could not be fetched (the server answered ${response.status})`);
    const raw = new Uint8Array(await response.arrayBuffer());
    tell('Opening the encrypted draft…');
    const { opened, missing } = await openWithOwnKeys(engine, owner, raw, Boolean(policy.smartCardOnly));
    if (missing) {
      throw new Error(missing === 'card'
        ? 'insert the smart card with your digital ID and open the draft again'
        : 'there is no digital ID in this browser to decrypt it with (import yours on the Digital IDs page)');
    }
    const message = opened.message;
    form.elements.body.value = message.text || '';
    form.elements.body.readOnly = false;
    richText.fill(message.text || '', message.html ? await engine.sanitize_formatted(message.html) : '');
    keepInFileField(form, message.attachments || []);
    autosave.opened();
    tell(`Encrypted draft opened${message.attachments?.length ? `, with ${message.attachments.length} attachment(s)` : ''}. It is saved encrypted.`);
  } catch (err) {
    const why = (err.message || String(err)).replace(/\.$/, '');
    tell(`This encrypted draft could not be opened: ${why}. It is not changed, and nothing typed here is saved over it.`, true);
  }
}

/** A digital ID of the sender's that this browser (or the card in it) can decrypt with. */
async function ownEncryptionIdentity(engine, owner, policy) {
  const [onCard] = await keystore.fitting(engine, smartcard.identities(), 'encrypt', owner);
  if (onCard) return onCard;
  if (policy.smartCardOnly) return null;
  return (await keystore.fitting(engine, await keystore.list(owner), 'encrypt', owner))[0] || null;
}

/** A fingerprint as people read it aloud: pairs of hex digits in groups. */
function grouped(hex) {
  return hex.toUpperCase().match(/.{1,2}/g).join(':');
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
