// The keys this browser's Sealmail pages unlocked, held in memory only: a shared worker that
// outlives a page by the moment it takes the next one to load (extendedLifetime), so a passphrase
// typed once serves the session's next pages, and nothing unlocked is ever written to disk. When
// every Sealmail page has been closed for a while, the browser ends the worker and the keys are
// gone. Each key is a non-extractable WebCrypto key: the AES key derived from a passphrase, which
// opens a digital ID's sealed private key, or a key a smart card unwrapped.
//
// Messages: { call, op, args } → { call, result } or { call, error }. A page that gets no worker
// imports `keyHolder` and keeps its keys itself, by the same operations.

/**
 * A holder of unlocked keys: `(op, args)` with ops put { id, tag, key }, get { id } (→ { tag,
 * key } or null), delete { id }, clear, keepOnly { prefix } (drops keys whose session tag does not
 * start with it).
 */
export function keyHolder() {
  const keys = new Map();
  const operations = {
    put: ({ id, tag, key }) => { keys.set(id, { tag, key }); },
    get: ({ id }) => keys.get(id) ?? null,
    delete: ({ id }) => { keys.delete(id); },
    clear: () => { keys.clear(); },
    keepOnly: ({ prefix }) => {
      for (const [id, { tag }] of keys) if (!tag.startsWith(prefix)) keys.delete(id);
    },
  };
  return (op, args = {}) => {
    if (!Object.hasOwn(operations, op)) throw new Error(`unknown operation ${op}`);
    return operations[op](args);
  };
}

if (typeof SharedWorkerGlobalScope === 'function' && self instanceof SharedWorkerGlobalScope) {
  const hold = keyHolder();
  self.onconnect = ({ ports: [port] }) => {
    port.onmessage = ({ data: { call, op, args } }) => {
      try {
        port.postMessage({ call, result: hold(op, args) });
      } catch (err) {
        port.postMessage({ call, error: err.message });
      }
    };
  };
}
