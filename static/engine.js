// The page's handle on the browser module, which runs in a Web Worker (engine-worker.js). Every
// operation is async; a failure rejects with the module's sentence for the user.
/** The integrity the page's import map gives for a file next to this one (assets.rs). */
export function integrityOf(relative) {
  const map = JSON.parse(document.querySelector('script[type="importmap"]')?.textContent || '{}');
  return map.integrity?.[new URL(relative, import.meta.url).pathname] || '';
}

/** The WebAssembly module's bytes, refused by the browser unless they match the page's integrity. */
export function checkedModule() {
  const integrity = integrityOf('./pkg/sealmail_client_bg.wasm');
  if (!integrity) return Promise.reject(new Error('the page does not say which security module to trust'));
  return fetch(new URL('./pkg/sealmail_client_bg.wasm', import.meta.url), { integrity });
}

/**
 * Starts the worker. Workers take no import map, so the worker script is first fetched with its
 * integrity (the worker then loads the same, now cached, file), and the worker is told the
 * integrity of what it loads itself.
 */
async function startWorker() {
  const url = new URL('./engine-worker.js', import.meta.url);
  const integrity = integrityOf('./engine-worker.js');
  if (!integrity) throw new Error('the page does not say which security module to trust');
  await fetch(url, { integrity });
  url.hash = new URLSearchParams({
    glue: integrityOf('./pkg/sealmail_client.js'),
    module: integrityOf('./pkg/sealmail_client_bg.wasm'),
  }).toString();
  return new Worker(url, { type: 'module' });
}

export async function startEngine() {
  const worker = await startWorker();
  const pending = new Map();
  let next = 0;
  let cardHandler = null;
  worker.onmessage = ({ data }) => {
    if (data.cardRequest !== undefined) {
      answerCard(data.cardRequest, data.request);
      return;
    }
    const { id, result, error } = data;
    const call = pending.get(id);
    pending.delete(id);
    if (error !== undefined) call?.reject(new Error(error));
    else call?.resolve(result);
  };
  const failed = new Promise((_, reject) => {
    worker.onerror = (event) => {
      const err = new Error(event.message || 'the browser security module could not start');
      for (const call of pending.values()) call.reject(err);
      pending.clear();
      reject(err);
    };
  });
  // The module asks the page for each private-key operation of a smart-card key (smartcard.js
  // answers); the answer is moved, not copied, and may be a content key.
  async function answerCard(id, request) {
    try {
      if (!cardHandler) throw new Error('No smart card is connected.');
      const result = await cardHandler(request);
      worker.postMessage({ cardAnswer: id, result }, [result.buffer]);
    } catch (err) {
      worker.postMessage({ cardAnswer: id, error: err?.message || String(err) });
    }
  }
  const call = (op, ...args) => new Promise((resolve, reject) => {
    next += 1;
    pending.set(next, { resolve, reject });
    worker.postMessage({ id: next, op, args });
  });
  const engine = {
    inspect_p12: (file, password) => call('inspect_p12', file, password),
    export_p12: (request) => call('export_p12', request),
    certificate_info: (der) => call('certificate_info', der),
    certificate_request: (ask) => call('certificate_request', ask),
    install_issued: (ask) => call('install_issued', ask),
    archive_key: (ask) => call('archive_key', ask),
    needs_archival: (der) => call('needs_archival', der),
    own_fitting: (request) => call('own_fitting', request),
    read_recipients: (to, cc, bcc) => call('read_recipients', to, cc, bcc),
    plan_send: (request) => call('plan_send', request),
    read_signer: (request) => call('read_signer', request),
    seal: (request) => call('seal', request),
    open: (raw, keys) => call('open', raw, keys),
    sanitize_formatted: (html) => call('sanitize_formatted', html),
    // The search index of encrypted mail (encrypted-search.js keeps its sealed bytes).
    index_open: (bytes) => call('index_open', bytes),
    index_add: (entry, text, html) => call('index_add', entry, text, html),
    index_missing: (folder, uids) => call('index_missing', folder, uids),
    index_search: (query, folder) => call('index_search', query, folder),
    index_size: () => call('index_size'),
    index_bytes: () => call('index_bytes'),
    /** Who carries out smart-card operations: `(request) => Promise<Uint8Array>`. */
    setCardHandler: (handler) => { cardHandler = handler; },
  };
  engine.version = await Promise.race([call('engine_version'), failed]);
  return engine;
}
