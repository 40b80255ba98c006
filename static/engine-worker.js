// The browser module runs here, off the page's main thread, so signing, encrypting and opening a
// large message never freezes the page. Requests: { id, op, args }; answers: { id, result } or
// { id, error }. Key bytes arrive here for one operation; the caller zeroes its own copy.
import init, * as engine from './pkg/sealmail_client.js';

const OPERATIONS = new Set(['engine_version', 'inspect_p12', 'certificate_info', 'read_recipients', 'plan_send', 'seal', 'open']);
const ready = init();

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
    if (!OPERATIONS.has(op)) throw new Error(`unknown operation ${op}`);
    // seal and open are async (they await WebCrypto); the others return at once.
    const result = await engine[op](...args);
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
  if (op === 'seal') args[0]?.pkcs8?.fill?.(0);
  if (op === 'open') for (const key of args[1] || []) key?.pkcs8?.fill?.(0);
}
