// Searching inside encrypted mail, in this browser. The server cannot read encrypted messages,
// so the page's worker keeps a full-text index of those the user's digital ID opens
// (search-index/, through the module's SearchIndex), and this file keeps that index in
// IndexedDB sealed with AES-256-GCM under a key derived (HKDF-SHA-256) from the ID's private key:
// what unlocks the ID unlocks its index, and removing the ID removes it (keystore.remove).
// A digital ID on a smart card has no key the browser could derive from: its index key is random,
// kept encrypted to the card's certificate (CMS, by the module) beside the index, and unwrapped
// by the card, once a session. Since each message costs a card operation, a card's index learns
// only the messages the user opens; there is no folder pass.
// Neither the index nor a query typed here is sent anywhere; the server only lists which
// messages of a folder are encrypted and hands over their ciphertext, as for reading them.
import * as keystore from './keystore.js';
import * as smartcard from './smartcard.js';
import { el, formatDate, fromBase64, toBase64 } from './ui.js';

const INFO = new TextEncoder().encode('Sealmail search index of encrypted mail, v1');
/** During a pass the sealed copy is renewed this often, so a closed tab loses little. */
const SAVE_EVERY = 50;

async function indexKey(pkcs8) {
  try {
    const material = await crypto.subtle.importKey('raw', pkcs8, 'HKDF', false, ['deriveKey']);
    return await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: INFO },
      material,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
  } finally {
    pkcs8.fill(0);
  }
}

/** The identity whose key seals the index: one that has an index already, else the newest. */
async function sealingIdentity(owner) {
  const identities = await keystore.list(owner);
  for (const identity of identities) {
    if (await keystore.sealedIndex(identity.id)) return identity;
  }
  return identities[0] || null;
}

/** The smart card's digital ID for encryption, when a card with one is connected. */
async function cardIdentity(engine, owner) {
  await smartcard.connect().catch(() => null);
  return (await keystore.fitting(engine, smartcard.identities(), 'encrypt', owner))[0] || null;
}

/**
 * The key of a card ID's index: kept for this session, or unwrapped by the card (`ask`, or
 * `cardUnlocked` when the caller's card operation has the PIN already), or made anew for an
 * index not stored yet. `{ key, wrappedKey }`, or null when the card would have to be asked.
 */
async function cardIndexKey(engine, card, id, stored, { ask, cardUnlocked }) {
  const kept = await keystore.keptForSession(`index-key:${id}`);
  if (kept) return { key: kept, wrappedKey: stored?.wrappedKey };
  let raw;
  let wrappedKey = stored?.wrappedKey;
  if (wrappedKey) {
    if (!ask && !cardUnlocked) return null;
    smartcard.attach(engine);
    try {
      const opened = await engine.open(wrappedKey, [{ cardSlot: card.cardSlot, certificate: card.certificate }]);
      raw = fromBase64((opened.message.text || '').trim());
    } finally {
      if (!cardUnlocked) await smartcard.finish();
    }
  } else {
    raw = crypto.getRandomValues(new Uint8Array(32));
    // Encrypted to the card's certificate only needs its public key: no card operation.
    wrappedKey = await engine.seal({
      text: toBase64(raw),
      sign: false,
      encrypt: true,
      recipients: [card.certificate],
      time: Math.floor(Date.now() / 1000),
    });
  }
  try {
    const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
    await keystore.keepForSession(`index-key:${id}`, key);
    return { key, wrappedKey };
  } finally {
    raw.fill(0);
  }
}

/**
 * Opens the user's index in the worker. With `ask`, the passphrase (or the card's PIN) is asked
 * for if the ID is locked; without, a locked ID gives `{ locked }`; `cardUnlocked` says the
 * caller's card operation may use the card without asking. `{ missing: true }` when there is no
 * ID here. Otherwise `{ handle, size, rebuilt }`: `rebuilt` when the stored index could not be
 * read; `handle.card` for a card's index.
 */
export async function openIndex(engine, owner, { ask, cardUnlocked = false }) {
  const identity = await sealingIdentity(owner);
  let key;
  let handle;
  let stored;
  if (identity) {
    const pkcs8 = ask ? await keystore.unlock(identity) : await keystore.unlockedAlready(identity);
    if (!pkcs8) return { locked: true };
    key = await indexKey(pkcs8);
    stored = await keystore.sealedIndex(identity.id);
    handle = { identity, key };
  } else {
    const card = await cardIdentity(engine, owner);
    if (!card) return { missing: true };
    const id = `${owner}/card/${card.info.fingerprint}`;
    stored = await keystore.sealedIndex(id);
    const unlocked = await cardIndexKey(engine, card, id, stored, { ask, cardUnlocked });
    if (!unlocked) return { locked: true, card: true };
    key = unlocked.key;
    handle = { identity: { id }, key, wrappedKey: unlocked.wrappedKey, card: true };
  }
  let rebuilt = false;
  let size;
  if (stored) {
    try {
      const bytes = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: stored.iv }, key, stored.sealed));
      size = await engine.index_open(bytes);
    } catch {
      rebuilt = true;
    }
  }
  if (size === undefined) size = await engine.index_open(null);
  return { handle, size, rebuilt };
}

/** Seals the worker's index and stores it under its identity (a card's with its wrapped key). */
export async function saveIndex(engine, { identity, key, wrappedKey }) {
  const bytes = await engine.index_bytes();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  try {
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, bytes));
    await keystore.keepSealedIndex({ id: identity.id, iv, sealed, savedAt: Date.now(), ...(wrappedKey ? { wrappedKey } : {}) });
  } finally {
    bytes.fill(0);
  }
}

/**
 * Adds a message the reader has just opened (read-secure.js). Asks for nothing: if the ID is
 * locked again (strong protection), the message is simply not indexed. Called while the card
 * that opened the message still has its PIN, a card's index key is unwrapped in that operation.
 */
export async function indexOpened(engine, owner, entry, message) {
  const opened = await openIndex(engine, owner, { ask: false, cardUnlocked: true });
  if (!opened.handle) return;
  await engine.index_add(entry, message.text || '', message.html || '');
  await saveIndex(engine, opened.handle);
}

/** The search page's "Inside encrypted messages" section. */
export async function start(engine, owner) {
  const section = document.getElementById('encrypted-search');
  const form = section.querySelector('form.local-search');
  const status = section.querySelector('.status');
  const results = section.querySelector('.encrypted-results');
  const controls = section.querySelector('.index-controls');
  const indexButton = section.querySelector('.index-folder');
  const pauseButton = section.querySelector('.index-pause');
  const folder = section.dataset.folder || null;
  const label = section.dataset.indexLabel;
  indexButton.textContent = `Index encrypted messages in ${label}`;
  form.hidden = false;
  controls.hidden = false;
  let handle = null;
  let size = 0;
  let paused = false;

  const say = (text, problem = false) => {
    status.textContent = text;
    status.classList.toggle('error', problem);
  };

  async function ready(ask) {
    if (handle) return true;
    const opened = await openIndex(engine, owner, { ask });
    if (opened.missing) {
      say('No digital ID is stored in this browser, so encrypted messages cannot be searched here.');
      controls.hidden = true;
      return false;
    }
    if (opened.locked) {
      say(opened.card
        ? 'The index of your smart card\'s encrypted messages is locked. Search here, and give the card\'s PIN, to search inside them.'
        : 'Your digital ID is locked. Search here or index a folder, and give its passphrase, to search inside encrypted messages.');
      return false;
    }
    ({ handle, size } = opened);
    if (handle.card) {
      // Each message would cost a card operation (and the PIN): the card's index learns what
      // the user opens.
      indexButton.disabled = true;
      indexButton.title = 'With a smart card, encrypted messages are indexed as you open them.';
      controls.querySelector('.card-note')?.remove();
      controls.append(el('p', { class: 'hint card-note', text: 'Your digital ID is on a smart card: encrypted messages are indexed as you open them.' }));
    }
    if (opened.rebuilt) say('The search index stored in this browser could not be read; it starts again empty.', true);
    return true;
  }

  /**
   * Looks `query` up in the index. With `table` (the server's results for the same words), the
   * messages found are placed among its rows by date, as the server pages them; otherwise they
   * are listed here.
   */
  async function search(query, ask, table = null) {
    if (!await ready(ask)) return;
    let found;
    try {
      found = await engine.index_search(query, folder);
    } catch (err) {
      results.replaceChildren();
      say(err.message, true);
      return;
    }
    const among = `among the ${size} encrypted message${size === 1 ? '' : 's'} indexed in this browser`;
    const count = (n) => `${n} encrypted message${n === 1 ? '' : 's'}`;
    if (table && found.length) {
      results.replaceChildren();
      const { placed, elsewhere } = interleave(table, found, Number(section.dataset.page) || 1, Number(section.dataset.pages) || 1);
      const more = elsewhere ? ` ${count(elsewhere)} more belong on other pages of the results.` : '';
      say(`${count(found.length)} found inside by this browser, ${among}: ${placed} listed above, marked "found inside".${more}`);
      return;
    }
    results.replaceChildren(...found.map(resultRow));
    say(found.length
      ? `${count(found.length)} found ${among}.`
      : `No encrypted message matches, ${among}. Index a folder to search more of them.`);
  }

  async function indexFolder() {
    if (!await ready(true)) return;
    const target = section.dataset.indexFolder;
    indexButton.disabled = true;
    pauseButton.hidden = false;
    paused = false;
    const keys = [];
    let done = 0;
    let unreadable = 0;
    let todo = [];
    try {
      const response = await fetch(`/api/search/encrypted?folder=${encodeURIComponent(target)}`);
      if (!response.ok) throw new Error(`The list of encrypted messages could not be fetched (the server answered ${response.status}).`);
      const listed = (await response.json()).messages;
      const missing = new Set(await engine.index_missing(target, listed.map((m) => m.uid)));
      todo = listed.filter((m) => missing.has(m.uid));
      for (const identity of await keystore.list(owner)) {
        keys.push({ pkcs8: await keystore.unlock(identity), certificate: identity.certificate });
      }
      for (const m of todo) {
        if (paused) break;
        say(`Indexing encrypted messages in ${label}: ${done} of ${todo.length}…`);
        const raw = await fetch(`/message/raw?folder=${encodeURIComponent(target)}&uid=${m.uid}`);
        if (!raw.ok) throw new Error(`A message could not be fetched (the server answered ${raw.status}).`);
        let message = { text: '', html: '' };
        try {
          message = (await engine.open(new Uint8Array(await raw.arrayBuffer()), keys)).message;
        } catch {
          // Not for any of these IDs: it stays findable by its headers, and is not tried again.
          unreadable += 1;
        }
        const entry = { folder: target, uid: m.uid, subject: message.subject || m.subject, from: m.from, date: m.date };
        await engine.index_add(entry, message.text || '', message.html || '');
        done += 1;
        if (done % SAVE_EVERY === 0) await saveIndex(engine, handle);
      }
    } finally {
      for (const k of keys) k.pkcs8.fill(0);
      if (done > 0) await saveIndex(engine, handle);
      size = await engine.index_size();
      indexButton.disabled = false;
      pauseButton.hidden = true;
    }
    const skipped = unreadable
      ? ` ${unreadable} could not be opened with your digital IDs; they are found by their headers only.`
      : '';
    say(paused && done < todo.length
      ? `Paused after ${done} of ${todo.length} encrypted messages in ${label}. Press the button again to go on.${skipped}`
      : `Indexed ${done} more encrypted message${done === 1 ? '' : 's'} in ${label}; ${size} in all are indexed in this browser.${skipped}`);
    const query = form.elements['local-q'].value.trim();
    if (query && !paused) await search(query, false);
  }

  const fail = (err) => say(err.message || String(err), true);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    search(form.elements['local-q'].value, true).catch(fail);
  });
  indexButton.addEventListener('click', () => { indexFolder().catch(fail); });
  pauseButton.addEventListener('click', () => { paused = true; });

  // The words the server just searched for are looked up here too, if the ID is already
  // unlocked: loading a page never asks for a passphrase.
  try {
    // The search box here starts with the words the server searched for (the page's query).
    const query = form.elements['local-q'].value;
    if (query.trim()) await search(query, false, document.querySelector('table.messages'));
    else if (await ready(false)) say(`${size} encrypted message${size === 1 ? ' is' : 's are'} indexed in this browser.`);
  } catch (err) {
    fail(err);
  }
  section.dataset.state = 'ready';
}

const hrefOf = (entry) => `/message?folder=${encodeURIComponent(entry.folder)}&uid=${entry.uid}`;

function resultRow(entry) {
  return el('li', {},
    el('a', { href: hrefOf(entry), text: entry.subject || '(no subject)' }),
    el('span', { class: 'meta', text: ` ${entry.from} · ${formatDate(entry.date)} · ${entry.folder} · encrypted` }));
}

/**
 * Places messages found in the index among the server's result rows, newest first as the server
 * orders them. This page shows the server's page `page` of `pages`: a message newer than its
 * newest row belongs on an earlier page, one older than its oldest on a later one (except on the
 * first and last pages). One the server listed too (by its headers) is not listed twice.
 */
function interleave(table, found, page, pages) {
  const body = table.tBodies[0];
  const when = (row) => Number(row.dataset.when) || 0;
  const rows = [...body.rows];
  const newest = Math.max(...rows.map(when));
  const oldest = Math.min(...rows.map(when));
  const key = (folderName, uid) => `${folderName}\n${uid}`;
  const listed = new Set(rows.map((row) => {
    const link = row.querySelector('td.subject a');
    const params = link ? new URL(link.href).searchParams : new URLSearchParams();
    return key(params.get('folder'), params.get('uid'));
  }));
  const withFolder = Boolean(table.querySelector('th.folder'));
  let placed = 0;
  let elsewhere = 0;
  for (const entry of found) {
    if (listed.has(key(entry.folder, String(entry.uid)))) continue;
    if ((page > 1 && entry.date > newest) || (page < pages && entry.date < oldest)) {
      elsewhere += 1;
      continue;
    }
    const row = el('tr', { class: 'found-inside', 'data-when': String(entry.date) },
      el('td', { class: 'from', text: entry.from }),
      el('td', { class: 'subject' },
        el('span', { class: 'seal', 'aria-hidden': 'true', title: 'Encrypted', text: '🔒' }),
        el('span', { class: 'visually-hidden', text: 'Encrypted. ' }),
        el('a', { href: hrefOf(entry), text: entry.subject || '(no subject)' }),
        el('span', { class: 'found-inside-mark', text: ' found inside' })),
      withFolder ? el('td', { class: 'folder', text: entry.folder }) : null,
      el('td', { class: 'date', text: formatDate(entry.date) }),
      el('td', { class: 'size' }));
    body.insertBefore(row, [...body.rows].find((r) => when(r) < entry.date) || null);
    placed += 1;
  }
  // The server's caption counts what it found; the table now holds more.
  const caption = table.caption;
  if (caption && placed) {
    caption.dataset.server ??= caption.textContent;
    caption.textContent = `${caption.dataset.server}; and ${placed} encrypted message${placed === 1 ? '' : 's'} found inside by this browser`;
  }
  return { placed, elsewhere };
}
