// Loads the browser module. Reading mail never depends on it: every page works without script.
const status = document.getElementById('engine-status');

async function loadEngine() {
  try {
    const engine = await import('/static/pkg/sealmail_client.js');
    await engine.default();
    if (status) status.textContent = `Browser security module ${engine.engine_version()} ready`;
    document.documentElement.dataset.engine = 'ready';
  } catch (err) {
    if (status) status.textContent = 'Browser security module unavailable';
    document.documentElement.dataset.engine = 'unavailable';
    console.warn('Sealmail browser module failed to load', err);
  }
}

// Sending a large message takes a moment: say so, and stop a second click sending twice.
// (The server would refuse the duplicate anyway; this spares the user the question.)
for (const form of document.querySelectorAll('form.compose')) {
  form.addEventListener('submit', (event) => {
    const button = event.submitter;
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = '1';
    if (button && button.value === 'send') button.textContent = 'Sending…';
  });
}

loadEngine();
