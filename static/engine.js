// The page's handle on the browser module, which runs in a Web Worker (engine-worker.js). Every
// operation is async; a failure rejects with the module's sentence for the user.
export async function startEngine() {
  const worker = new Worker('/static/engine-worker.js', { type: 'module' });
  const pending = new Map();
  let next = 0;
  worker.onmessage = ({ data: { id, result, error } }) => {
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
  const call = (op, ...args) => new Promise((resolve, reject) => {
    next += 1;
    pending.set(next, { resolve, reject });
    worker.postMessage({ id: next, op, args });
  });
  const engine = {
    inspect_p12: (file, password) => call('inspect_p12', file, password),
    certificate_info: (der) => call('certificate_info', der),
    seal: (request) => call('seal', request),
    open: (raw, keys) => call('open', raw, keys),
  };
  engine.version = await Promise.race([call('engine_version'), failed]);
  return engine;
}
