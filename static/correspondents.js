// What this browser remembers about the people the user writes to, so that the server cannot
// choose whom a message is encrypted to: the certificate last used for each correspondent (key
// continuity) and the certificates the user chose to trust after seeing their fingerprint. The rules
// that use them are the module's (send_rules::plan); this file only keeps them, per user, in
// IndexedDB. Nothing here is secret, and nothing here is sent anywhere.
const DB_NAME = 'sealmail-correspondents';

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore('seen', { keyPath: ['owner', 'address'] });
      db.createObjectStore('accepted', { keyPath: ['owner', 'fingerprint'] });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new Error('This browser cannot remember your correspondents\' digital IDs (IndexedDB is unavailable).'));
  });
}

async function withStore(name, mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(name, mode);
      let result;
      const request = fn(tx.objectStore(name));
      if (request) request.onsuccess = () => { result = request.result; };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const mine = (owner) => (record) => record.owner === owner;

/** `[{address, fingerprint, issuer}]`: the certificate last encrypted to, per correspondent. */
export async function remembered(owner) {
  const all = await withStore('seen', 'readonly', (s) => s.getAll());
  return all.filter(mine(owner)).map(({ address, fingerprint, issuer }) => ({ address, fingerprint, issuer }));
}

/** Records the certificates a message was just encrypted to (a plan's `used`). */
export async function remember(owner, used) {
  await withStore('seen', 'readwrite', (s) => {
    for (const u of used) s.put({ owner, address: u.address.toLowerCase(), fingerprint: u.fingerprint, issuer: u.issuer });
  });
}

/** Fingerprints of certificates the user chose to encrypt to after seeing why they were doubted. */
export async function accepted(owner) {
  return (await withStore('accepted', 'readonly', (s) => s.getAll())).filter(mine(owner)).map((r) => r.fingerprint);
}

export async function accept(owner, fingerprints) {
  await withStore('accepted', 'readwrite', (s) => {
    for (const fingerprint of fingerprints) s.put({ owner, fingerprint, acceptedAt: Date.now() });
  });
}
