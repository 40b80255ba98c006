// The keys this browser's Sealmail pages unlocked, held in memory only: a shared worker that
// outlives a page by the moment it takes the next one to load (extendedLifetime), so a passphrase
// typed once serves the session's next pages, and nothing unlocked is ever written to disk. When
// every Sealmail page has been closed for a while, the browser ends the worker and the keys are
// gone. Each key is a non-extractable WebCrypto key: the AES key derived from a passphrase, which
// opens a digital ID's sealed private key, or a key a smart card unwrapped.
//
// Messages: { call, op, args } → { call, result }. Ops: put { id, tag, key }, get { id },
// delete { id }, clear, keepOnly { prefix } (drops keys whose session tag does not start with it).
const keys = new Map();

const OPERATIONS = {
  put: ({ id, tag, key }) => { keys.set(id, { tag, key }); },
  get: ({ id }) => keys.get(id) ?? null,
  delete: ({ id }) => { keys.delete(id); },
  clear: () => { keys.clear(); },
  keepOnly: ({ prefix }) => {
    for (const [id, { tag }] of keys) if (!tag.startsWith(prefix)) keys.delete(id);
  },
};

self.onconnect = ({ ports: [port] }) => {
  port.onmessage = ({ data: { call, op, args } }) => {
    const run = OPERATIONS[op];
    port.postMessage(run ? { call, result: run(args || {}) } : { call, error: `unknown operation ${op}` });
  };
};
