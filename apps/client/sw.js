// The installed client's service worker: it shows Sealmail's pages as this app's own, with the
// scripts, stylesheet and WebAssembly module of this signed bundle, never the server's. What
// the server sends is read as data:
//
// - Anything in the bundle (files.json lists it) comes from the bundle. The pages name their
//   assets `/static/<fingerprint>/<file>`; any fingerprint means the bundle's `static/<file>`.
// - A script, worker, stylesheet or manifest the bundle does not hold is refused: the server
//   cannot add code. (Markup cannot run code either: the policy below has no inline script.)
// - Everything else (pages, form posts, the pages' API calls, images, downloads) is forwarded
//   to the server across origins, with the session's cookie (the server answers this app's
//   origin with CORS, `[web] app_origin`), and answered as a response of this app's own.
//
// Installed, Chrome gives every document of an Isolated Web App its own strict policy; a page
// made here carries the same policy, so it holds as well where the app is served from an
// ordinary origin (the browser tests).

const POLICY = [
  "base-uri 'none'",
  "default-src 'self'",
  "object-src 'none'",
  "frame-src 'self' blob: data:",
  "connect-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "img-src 'self' blob: data:",
  "form-action 'self'",
  "style-src 'self' 'unsafe-inline'",
  "require-trusted-types-for 'script'",
].join('; ');

/** Request destinations that would run or style something: only ever from the bundle. */
const CODE = new Set(['script', 'worker', 'sharedworker', 'serviceworker', 'style', 'manifest', 'xslt',
  'audioworklet', 'paintworklet', 'sharedstorageworklet']);

/** Request headers passed on to the server (the browser sets cookies and Origin itself). */
const FORWARDED = ['accept', 'accept-language', 'content-type', 'x-csrf-token'];

/** A page the server sent the app on to, kept a moment for the navigation that follows. */
const kept = new Map();
const KEEP_MS = 10_000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(answer(event.request, url));
});

let setup = null;
/** The server this app was built for, and the bundle's file list. */
function app() {
  setup ??= Promise.all([
    fetch('/config.json').then((r) => r.json()),
    fetch('/files.json').then((r) => r.json()),
  ]).then(([config, files]) => ({ server: new URL(config.server), files: new Set(files) }))
    .catch((err) => { setup = null; throw err; });
  return setup;
}

async function answer(request, url) {
  const { server, files } = await app();
  const bundled = inBundle(url.pathname, files);
  if (bundled) {
    // Made anew, so the file keeps the address the page asked for: a module's address is
    // its base for its imports and for the integrity the page gives it.
    const file = await fetch(bundled);
    return new Response(file.body, { status: file.status, headers: file.headers });
  }
  if (CODE.has(request.destination)) {
    return new Response(`Sealmail runs only the code in its own app; ${url.pathname} is not part of it.`,
      { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  }
  const path = url.pathname + url.search;
  if (request.mode === 'navigate' && request.method === 'GET') {
    const page = kept.get(path);
    kept.delete(path);
    if (page && page.until > Date.now()) return page.response;
  }
  return forward(request, path, server);
}

/** The bundle's path for `path`, or null. */
function inBundle(path, files) {
  const name = path.slice(1);
  if (files.has(name)) return path;
  const asset = /^static\/[^/]+\/(.+)$/.exec(name);
  if (asset && files.has(`static/${asset[1]}`)) return `/static/${asset[1]}`;
  return null;
}

async function forward(request, path, server) {
  const headers = new Headers();
  for (const name of FORWARDED) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const init = { method: request.method, headers, mode: 'cors', credentials: 'include', redirect: 'follow', cache: 'no-store' };
  if (request.method !== 'GET' && request.method !== 'HEAD') init.body = await request.arrayBuffer();
  let response;
  try {
    response = await fetch(new URL(path, server), init);
  } catch {
    return notice(502, `Sealmail could not reach the server at ${server.origin}. Check the connection and try again.`);
  }
  const navigation = request.mode === 'navigate';
  if (response.redirected) {
    const landed = new URL(response.url);
    if (landed.origin !== server.origin) {
      return notice(502, `The server sent Sealmail to another site (${landed.origin}); the app stays with ${server.origin}.`);
    }
    if (navigation) {
      // The address bar shows where the server sent the user; the page fetched on the way is
      // kept for that navigation, so it is not asked for twice.
      const to = landed.pathname + landed.search;
      for (const [path, page] of kept) if (page.until <= Date.now()) kept.delete(path);
      kept.set(to, { response: await asOurs(response, true), until: Date.now() + KEEP_MS });
      return Response.redirect(to, 303);
    }
  }
  return asOurs(response, navigation);
}

/**
 * The server's answer as this app's own response. A page gets the app's policy and this
 * bundle's `shell.js` first; anything else keeps the headers CORS let through.
 */
async function asOurs(response, navigation) {
  const type = response.headers.get('content-type') || '';
  if (navigation && type.startsWith('text/html')) {
    const html = (await response.text()).replace(/<head>/i, '<head><script type="module" src="/shell.js"></script>');
    return new Response(html, {
      status: response.status,
      statusText: response.statusText,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': POLICY,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-store',
      },
    });
  }
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function notice(status, text) {
  const escaped = text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return new Response(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Sealmail</title><p role="alert">${escaped}</p></html>`, {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': POLICY },
  });
}
