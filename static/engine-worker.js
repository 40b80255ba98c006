// The browser module runs here, off the page's main thread, so signing, encrypting and opening a
// large message never freezes the page. Requests: { id, op, args }; answers: { id, result } or
// { id, error }. Key bytes arrive here for one operation; the caller zeroes its own copy.
const OPERATIONS = new Set(['engine_version', 'inspect_p12', 'export_p12', 'certificate_info', 'certificate_request', 'install_issued', 'archive_key', 'needs_archival', 'own_fitting', 'read_recipients', 'plan_send', 'read_signer', 'seal', 'open', 'sanitize_formatted']);
// The search index of encrypted mail stays in this worker for the page's life (the module's
// SearchIndex); the page opens it from the bytes it decrypted and takes its bytes back to store.
let index = null;
function openedIndex() {
  if (!index) throw new Error('The search index is not open.');
  return index;
}
const INDEX_OPERATIONS = {
  index_open: (bytes) => {
    index?.free();
    index = null;
    index = bytes ? engine.SearchIndex.from_bytes(bytes) : new engine.SearchIndex();
    return index.size();
  },
  index_add: (entry, text, html) => openedIndex().add(entry, text, html),
  index_missing: (folder, uids) => Array.from(openedIndex().missing(folder, Uint32Array.from(uids))),
  index_search: (query, folder) => openedIndex().search(query, folder ?? undefined),
  index_size: () => openedIndex().size(),
  index_bytes: () => openedIndex().to_bytes(),
};
// The module is instantiated only from bytes that match the integrity the page gave (its import
// map, engine.js); the glue is checked the same way before it is imported.
let engine;
const ready = (async () => {
  const expected = new URLSearchParams(self.location.hash.slice(1));
  if (!expected.get('glue') || !expected.get('module')) throw new Error('the page does not say which security module to trust');
  const glue = new URL('./pkg/sealmail_client.js', import.meta.url);
  await fetch(glue, { integrity: expected.get('glue') });
  engine = await import(glue.href);
  const module = await fetch(new URL('./pkg/sealmail_client_bg.wasm', import.meta.url), { integrity: expected.get('module') });
  await engine.default({ module_or_path: module });
})();

/** The buffers of every Uint8Array in `value`, so answers move instead of being copied. */
function buffers(value, out = []) {
  if (value instanceof Uint8Array) out.push(value.buffer);
  else if (Array.isArray(value)) for (const v of value) buffers(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) buffers(v, out);
  return out;
}

// Keys on a smart card belong to the page: the module asks for each card operation through
// this function, and the page answers (engine.js).
const cardRequests = new Map();
let nextCardRequest = 0;
self.sealmailCardRequest = (request) => new Promise((resolve, reject) => {
  nextCardRequest += 1;
  cardRequests.set(nextCardRequest, { resolve, reject });
  self.postMessage({ cardRequest: nextCardRequest, request });
});

self.onmessage = async ({ data }) => {
  if (data.cardAnswer !== undefined) {
    const call = cardRequests.get(data.cardAnswer);
    cardRequests.delete(data.cardAnswer);
    if (data.error !== undefined) call?.reject(new Error(data.error));
    else call?.resolve(data.result);
    return;
  }
  const { id, op, args } = data;
  try {
    await ready;
    let result;
    if (Object.hasOwn(INDEX_OPERATIONS, op)) {
      result = INDEX_OPERATIONS[op](...args);
    } else {
      if (!OPERATIONS.has(op)) throw new Error(`unknown operation ${op}`);
      // seal and open are async (they await WebCrypto); the others return at once.
      result = await engine[op](...args);
    }
    self.postMessage({ id, result }, [...new Set(buffers(result))]);
  } catch (err) {
    self.postMessage({ id, error: err?.message || String(err) });
  } finally {
    forgetSecrets(op, args);
  }
};

/** Zeroes this worker's copies of private keys and key files once the operation is over. */
function forgetSecrets(op, args) {
  if (op === 'inspect_p12') args[0]?.fill?.(0);
  if (['seal', 'export_p12', 'certificate_request', 'archive_key'].includes(op)) args[0]?.pkcs8?.fill?.(0);
  if (op === 'open') for (const key of args[1] || []) key?.pkcs8?.fill?.(0);
}
