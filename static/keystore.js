// The browser's key store. Private keys are kept in IndexedDB only encrypted (AES-256-GCM under a
// key derived from the user's passphrase with PBKDF2-SHA-256); they are decrypted into memory just
// for one operation and the copy is zeroed after. Nothing here ever sends a key anywhere.
//
// "Once per session" unlocking keeps the derived (non-extractable) AES key in memory only, in a
// shared worker (unlocked-keys.js) the session's next pages reach, tagged with this server session
// and this tab; a different session never finds it, sign-out forgets it, and a closed tab's tag
// is gone with its sessionStorage. Nothing unlocked is written to IndexedDB.
import { integrityOf } from './engine.js';
import { askPassphrase } from './ui.js';
import { keyHolder } from './unlocked-keys.js';

const DB_NAME = 'sealmail-keys';
const PBKDF2_ITERATIONS = 600000;

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 4);
    request.onupgradeneeded = ({ oldVersion }) => {
      const db = request.result;
      if (oldVersion < 1) {
        db.createObjectStore('identities', { keyPath: 'id' });
      }
      // Version 2: the search index of encrypted mail, sealed under an identity's key.
      if (oldVersion < 2) db.createObjectStore('indexes', { keyPath: 'id' });
      // Version 3: keys made here that wait for the certificate their request asked for.
      if (oldVersion < 3) db.createObjectStore('waiting', { keyPath: 'id' });
      // Version 4: unlocked keys live in memory only (unlocked-keys.js); drop what older
      // versions kept on disk.
      if (oldVersion >= 1 && oldVersion < 4) db.deleteObjectStore('unlocked');
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error('This browser cannot store digital IDs (IndexedDB is unavailable).'));
  });
}

async function withStore(name, mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(name, mode);
      const store = tx.objectStore(name);
      let result;
      Promise.resolve(fn(store)).then((r) => { result = r; }, reject);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const requestValue = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});

/**
 * The unlocked keys' holder: `call(op, args)` asks the shared worker, checked against the page's
 * integrity before it starts. A browser without shared workers keeps them in this page alone
 * (the passphrase is then asked on each page).
 */
let held = null;
function unlockedKeys() {
  held ??= (async () => {
    const url = new URL('./unlocked-keys.js', import.meta.url);
    const integrity = integrityOf('./unlocked-keys.js');
    if (typeof SharedWorker !== 'function' || !integrity) return inPage();
    await fetch(url, { integrity });
    const worker = new SharedWorker(url, { name: 'sealmail-unlocked-keys', type: 'module', extendedLifetime: true });
    const pending = new Map();
    let next = 0;
    worker.port.onmessage = ({ data }) => {
      const answer = pending.get(data.call);
      pending.delete(data.call);
      if (data.error !== undefined) answer?.reject(new Error(data.error));
      else answer?.resolve(data.result);
    };
    // A worker the browser will not run (a framed page's may be refused one) must not leave a
    // page waiting, sign-out least of all: this page keeps its keys itself instead.
    let fallback = null;
    const giveUp = () => {
      fallback ??= inPage();
      for (const { resolve, op, args } of pending.values()) resolve(fallback(op, args));
      pending.clear();
    };
    worker.onerror = giveUp;
    const answered = ask('get', { id: '' }).then(() => true);
    function ask(op, args) {
      if (fallback) return fallback(op, args);
      return new Promise((resolve, reject) => {
        next += 1;
        pending.set(next, { resolve, reject, op, args });
        worker.port.postMessage({ call: next, op, args });
      });
    }
    const late = new Promise((resolve) => { setTimeout(() => resolve(false), 3000); });
    if (!(await Promise.race([answered, late]))) giveUp();
    return ask;
  })();
  return held;
}

/** The keys kept by this page alone, by the worker's own operations. */
function inPage() {
  const hold = keyHolder();
  return async (op, args) => hold(op, args);
}

async function unlocked(op, args) {
  return (await unlockedKeys())(op, args);
}

/** The tag unlocked keys carry: this server session (its CSRF token) and this tab. */
function sessionTag() {
  const csrf = document.querySelector('input[name="csrf"]')?.value || document.body.dataset.csrf || '';
  let tab = sessionStorage.getItem('sealmail-tab');
  if (!tab) {
    tab = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem('sealmail-tab', tab);
  }
  return `${csrf}/${tab}`;
}

async function deriveKey(passphrase, salt, iterations) {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/** Every identity stored for `owner` (the signed-in address), newest first. */
export async function list(owner) {
  const all = await withStore('identities', 'readonly', (s) => requestValue(s.getAll()));
  return all.filter((r) => r.owner === owner).sort((a, b) => b.importedAt - a.importedAt);
}

/**
 * Stores an identity the engine read from a .p12: the key sealed under `passphrase`.
 * `pkcs8` is zeroed here whatever happens.
 */
export async function add(owner, { pkcs8, certificate, chain, info }, passphrase, strong) {
  try {
    const record = {
      id: `${owner}/${info.fingerprint}`,
      owner,
      info,
      certificate,
      chain,
      strong,
      ...(await seal(pkcs8, passphrase)),
      importedAt: Date.now(),
    };
    await withStore('identities', 'readwrite', (s) => s.put(record));
    return record;
  } finally {
    pkcs8.fill(0);
  }
}

/** `pkcs8` encrypted under `passphrase`: the `protection` and `sealedKey` of a stored record. */
async function seal(pkcs8, passphrase) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await deriveKey(passphrase, salt, PBKDF2_ITERATIONS);
  const sealedKey = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, pkcs8));
  return { protection: { kdf: 'PBKDF2-SHA-256', iterations: PBKDF2_ITERATIONS, salt, iv }, sealedKey };
}

/**
 * Keeps a key made here until its certificate arrives: sealed under `passphrase` like a digital
 * ID, with its public key (to recognise the certificate) and its request (to download again).
 * `pkcs8` is zeroed here whatever happens.
 */
export async function addWaiting(owner, { pkcs8, publicKey, keyType, purpose, pem }, passphrase) {
  try {
    const record = {
      id: `${owner}/waiting/${Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('')}`,
      owner,
      publicKey,
      keyType,
      purpose,
      pem,
      // What the passphrase prompt names (unlock() reads info.subject).
      info: { subject: `your new ${keyType} key` },
      strong: true,
      ...(await seal(pkcs8, passphrase)),
      requestedAt: Date.now(),
    };
    await withStore('waiting', 'readwrite', (s) => s.put(record));
    return record;
  } finally {
    pkcs8.fill(0);
  }
}

/** The keys of `owner` waiting for a certificate, oldest first. */
export async function listWaiting(owner) {
  const all = await withStore('waiting', 'readonly', (s) => requestValue(s.getAll()));
  return all.filter((r) => r.owner === owner).sort((a, b) => a.requestedAt - b.requestedAt);
}

export async function removeWaiting(id) {
  await withStore('waiting', 'readwrite', (s) => s.delete(id));
}

/**
 * The certificate for a waiting key has come: the key becomes a digital ID under the same
 * passphrase (it is moved still sealed, never decrypted for this), and stops waiting.
 */
export async function install(waiting, { certificate, chain, info }) {
  const record = {
    id: `${waiting.owner}/${info.fingerprint}`,
    owner: waiting.owner,
    info,
    certificate,
    chain,
    strong: false,
    protection: waiting.protection,
    sealedKey: waiting.sealedKey,
    importedAt: Date.now(),
  };
  await withStore('identities', 'readwrite', (s) => s.put(record));
  await removeWaiting(waiting.id);
  return record;
}

/** Removes an identity, its unlocked key and the search index sealed under it. */
export async function remove(id) {
  await withStore('identities', 'readwrite', (s) => s.delete(id));
  await unlocked('delete', { id });
  await withStore('indexes', 'readwrite', (s) => s.delete(id));
}

/** The sealed search index kept under identity `id` (`{ id, iv, sealed }`), or undefined. */
export async function sealedIndex(id) {
  return withStore('indexes', 'readonly', (s) => requestValue(s.get(id)));
}

export async function keepSealedIndex(record) {
  await withStore('indexes', 'readwrite', (s) => s.put(record));
}

/**
 * Keeps `key` (a non-extractable CryptoKey) for the rest of this session under `id`, where
 * unlocked IDs are kept: sign-out forgets it with them. For keys a card unwrapped, so the card
 * is not asked again on every page.
 */
export async function keepForSession(id, key) {
  await unlocked('put', { id, tag: sessionTag(), key });
}

/** A key kept by `keepForSession` in this session, or null. */
export async function keptForSession(id) {
  const kept = await unlocked('get', { id });
  return kept && kept.tag === sessionTag() ? kept.key : null;
}

/** Forgets every unlocked key: sign-out. */
export async function lockAll() {
  await unlocked('clear');
}

/** Drops unlocked keys of other sessions (signed out elsewhere, or a previous sign-in). */
export async function forgetOtherSessions() {
  const csrf = sessionTag().split('/')[0];
  await unlocked('keepOnly', { prefix: `${csrf}/` });
}

async function openSealed(record, key) {
  const { iv } = record.protection;
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, record.sealedKey));
}

/**
 * The identity's private key (PKCS#8 DER) for one operation. The caller must zero it with
 * `fill(0)` when done. Asks for the passphrase unless this session already unlocked it (and the
 * identity is not under strong protection). Rejects with an Error whose message says why.
 */
export async function unlock(record) {
  const already = await unlockedAlready(record);
  if (already) return already;
  const tag = sessionTag();
  let problem = '';
  for (;;) {
    const passphrase = await askPassphrase(record.info.subject, problem);
    if (passphrase === null) throw new Error('The operation was cancelled: the digital ID stayed locked.');
    const { salt, iterations } = record.protection;
    const key = await deriveKey(passphrase, salt, iterations);
    let pkcs8;
    try {
      pkcs8 = await openSealed(record, key);
    } catch {
      problem = 'The passphrase is wrong. Try again.';
      continue;
    }
    if (!record.strong) await unlocked('put', { id: record.id, tag, key });
    return pkcs8;
  }
}

/**
 * The identity's private key if this session unlocked it already, without asking anything;
 * null when the passphrase would be needed. The caller zeroes it as with `unlock`.
 */
export async function unlockedAlready(record) {
  if (record.strong) return null;
  const cached = await unlocked('get', { id: record.id });
  if (!cached || cached.tag !== sessionTag()) return null;
  try { return await openSealed(record, cached.key); } catch { return null; }
}

/**
 * Those of `records` (digital IDs here or on the card) usable now for `purpose` ("sign" or
 * "encrypt") and issued for `address` (any when null): the module decides, by the rule the
 * server validates with (keyUsage, extendedKeyUsage, address, dates).
 */
export async function fitting(engine, records, purpose, address) {
  if (!records.length) return [];
  const positions = await engine.own_fitting({
    certificates: records.map((r) => r.certificate),
    purpose,
    address: address || null,
    time: Math.floor(Date.now() / 1000),
  });
  return Array.from(positions, (i) => records[i]);
}
