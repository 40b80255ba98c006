// Opening an encrypted message in the browser. The server sends the stored ciphertext; this page
// decrypts it with the user's digital IDs, verifies any signature inside (asking the server only
// to check the signer's certificate chain), and shows the result. The plaintext stays in this
// page: it is not stored and not sent anywhere.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import * as continuity from './signer-continuity.js';
import { indexOpened } from './encrypted-search.js';
import { INSERT_CARD, SMART_CARD_ONLY, el, formatSize, postJson, signatureBanner, toBase64 } from './ui.js';

const CANNOT_DECRYPT = "This message can't be decrypted. If you have a smart card-based digital ID, insert the card and try to open the message again.";

export async function start(engine, owner) {
  const region = document.getElementById('sealed-message');
  if (!region) return;
  const from = region.dataset.from || '';
  const opening = region.querySelector('.opening');
  try {
    const response = await fetch(region.dataset.rawHref);
    if (!response.ok) throw new Error(`The message could not be fetched (the server answered ${response.status}).`);
    const raw = new Uint8Array(await response.arrayBuffer());
    const smartCardOnly = region.dataset.smartCardOnly === 'true';
    // The search index of encrypted mail learns the message (only if the ID is still unlocked),
    // while a card that opened it still has its PIN, so a card's index needs no second one.
    const index = (opened) => indexOpened(engine, owner, {
      folder: region.dataset.folder,
      uid: Number(region.dataset.uid),
      subject: opened.message.subject || region.dataset.subject || '',
      from,
      date: Number(region.dataset.date) || 0,
    }, opened.message).catch((err) => console.warn('Sealmail could not index the message', err));
    const { opened, missing } = await openWithOwnKeys(engine, owner, raw, smartCardOnly, () => {
      opening.textContent = 'Opening the message…';
    }, index);
    if (missing === 'card') {
      // The seeds' sentence says what to do; the second line says why the browser's own IDs
      // are not tried.
      region.replaceChildren(el('div', { class: 'smime-banner invalid', role: 'alert' },
        el('p', { text: CANNOT_DECRYPT }), el('p', { text: smartcard.support() ? INSERT_CARD : SMART_CARD_ONLY })));
      region.dataset.state = 'failed';
      return;
    }
    if (missing) {
      region.replaceChildren(cannotDecrypt(true));
      region.dataset.state = 'failed';
      return;
    }
    region.replaceChildren(...await render(opened, from));
    for (const banner of region.querySelectorAll('.smime-banner[data-signer]')) {
      await continuity.checkBanner(engine, owner, banner).catch(() => {});
    }
    region.dataset.state = 'opened';
    region.dataset.indexed = 'done';
  } catch (err) {
    const message = err.message || String(err);
    region.replaceChildren(message === CANNOT_DECRYPT ? cannotDecrypt(false) : el('p', { class: 'smime-banner invalid', role: 'alert', text: message }));
    region.dataset.state = 'failed';
  }
}

/**
 * Decrypts `raw` with the user's own keys: a smart card's first (hardware keys are preferred),
 * then the IDs stored in this browser unless SmartCardOnly. `{ opened }` (the module's answer),
 * or `{ missing: 'card' | 'ids' }` when there is no key to try. `onOpening` is called once the
 * keys are unlocked, and `whileOpen(opened)` after opening, before the card forgets its PIN.
 * (The compose page opens encrypted drafts with it too.)
 */
export async function openWithOwnKeys(engine, owner, raw, smartCardOnly, onOpening = () => {}, whileOpen = null) {
  smartcard.attach(engine);
  await smartcard.connect().catch(() => null);
  // Every certificate on the card, expired ones too: old decryption keys (the retired slots)
  // are there to read old mail, and the engine tries only keys the message names.
  const onCard = smartcard.current()?.identities || [];
  // A browser that keeps no key store here (a kiosk's framed page may get none) simply has
  // no stored IDs: the card can still open the message.
  const identities = smartCardOnly ? [] : await keystore.list(owner).catch(() => []);
  if (onCard.length === 0 && smartCardOnly) return { missing: 'card' };
  if (identities.length === 0 && onCard.length === 0) return { missing: 'ids' };
  const keys = onCard.map((i) => ({ cardSlot: i.cardSlot, certificate: i.certificate }));
  try {
    for (const identity of identities) {
      keys.push({ pkcs8: await keystore.unlock(identity), certificate: identity.certificate });
    }
    onOpening();
    const opened = await engine.open(raw, keys);
    if (whileOpen) await whileOpen(opened);
    return { opened };
  } finally {
    for (const k of keys) k.pkcs8?.fill(0);
    await smartcard.finish();
  }
}

function cannotDecrypt(noIds) {
  return el('div', { class: 'smime-banner invalid', role: 'alert' },
    el('p', { text: CANNOT_DECRYPT }),
    noIds ? el('p', {}, 'No digital ID is stored in this browser. ', el('a', { href: '/keys', text: 'Import your digital ID' })) : null);
}

async function render(opened, from) {
  const parts = [];
  // A triple-wrapped message is signed twice by the same sender. What the reader needs is the
  // verdict on the content (the innermost signature), plus any other signature that fails.
  const signed = opened.layers.filter((l) => l.kind === 'signed');
  const inner = signed.slice(-1);
  const failing = signed.slice(0, -1).filter((l) => l.signers.some((s) => !s.valid));
  for (const layer of [...failing, ...inner]) {
    for (const signer of layer.signers) {
      parts.push(signatureBanner(await report(signer, layer.certificates, from)));
    }
  }
  const message = opened.message;
  const body = el('section', { class: 'body', 'aria-label': 'Message body' });
  if (message.html) {
    // No script, no plugins, no same-origin access, and (the page's CSP is inherited by srcdoc
    // frames) no network: remote images and styles simply do not load.
    const frame = el('iframe', { sandbox: '', class: 'html-frame', title: 'Message content', referrerpolicy: 'no-referrer' });
    frame.srcdoc = message.html;
    body.append(frame);
  } else {
    body.append(el('pre', { class: 'text-body', text: message.text || '' }));
  }
  parts.push(body);
  if (message.attachments.length) {
    const list = el('ul');
    for (const a of message.attachments) {
      const url = URL.createObjectURL(new Blob([a.data], { type: 'application/octet-stream' }));
      list.append(el('li', {},
        el('a', { href: url, download: a.name, text: `Download ${a.name}` }),
        el('span', { class: 'meta', text: ` (${formatSize(a.data.length)}, ${a.contentType})` })));
    }
    parts.push(el('section', { class: 'attachments', 'aria-labelledby': 'sealed-attachments' },
      el('h2', { id: 'sealed-attachments', text: 'Attachments' }), list));
  }
  return parts;
}

/** Asks the server to check the signer's certificate and word the verdict. */
async function report(signer, carried, from) {
  const facts = {
    digestOk: signer.digestOk,
    signatureOk: signer.signatureOk,
    matchesFrom: signer.matchesFrom ?? null,
    weak: signer.weak,
    signingTime: signer.signingTime ?? null,
    digestAlgorithm: signer.digestAlgorithm ?? null,
    signatureAlgorithm: signer.signatureAlgorithm ?? null,
    problem: signer.problem ?? null,
    capabilities: signer.capabilities ?? [],
  };
  const certificates = signer.certificate ? [signer.certificate, ...carried] : [];
  try {
    return await postJson('/api/signature/report', { certificates: certificates.map(toBase64), facts, from });
  } catch (err) {
    return {
      state: 'warning',
      headline: `The signature could not be checked by the server: ${err.message}`,
      chain: [],
    };
  }
}

