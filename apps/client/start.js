// The app's first page: it installs the service worker (sw.js) that shows every Sealmail page
// with this bundle's own scripts, then opens the server's first page through it. Later starts
// go straight to the service worker; this page is seen again only on a reload that bypasses it.
const status = document.getElementById('starting');
// The app's policy requires Trusted Types for a worker's script, and this is the only one here.
const worker = trustedTypes.createPolicy('sealmail-start', {
  createScriptURL: (url) => {
    if (url !== '/sw.js') throw new TypeError(`not the app's service worker: ${url}`);
    return url;
  },
});
try {
  await navigator.serviceWorker.register(worker.createScriptURL('/sw.js'), { scope: '/', type: 'module', updateViaCache: 'none' });
  await navigator.serviceWorker.ready;
  location.replace('/');
} catch (err) {
  status.textContent = `Sealmail could not start: ${err.message || err}`;
}
