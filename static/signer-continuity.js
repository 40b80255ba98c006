// Key continuity on reading: a signature whose certificate is a different key from a different
// issuer than the one this browser last used with that person gets a warning in its banner
// (the module decides, by the send rules' continuity rule); a trusted signature that is no
// surprise is remembered, as a certificate encrypted to is when sending.
import * as correspondents from './correspondents.js';
import { fromBase64 } from './ui.js';

/** Checks one banner (server-made or made by the page for a signature inside encrypted mail). */
export async function checkBanner(engine, owner, banner) {
  const certificate = banner.dataset.signer;
  const address = banner.querySelector('[data-field="email"]')?.textContent.split(',')[0].trim();
  if (!certificate || !address || banner.dataset.continuity) return;
  banner.dataset.continuity = 'checked';
  const remembered = await correspondents.remembered(owner).catch(() => []);
  const reading = await engine.read_signer({
    remembered, address, certificate: fromBase64(certificate), trusted: banner.classList.contains('valid'),
  });
  if (reading.changed) {
    const warning = document.createElement('p');
    warning.className = 'continuity';
    warning.setAttribute('role', 'alert');
    warning.textContent = reading.changed;
    banner.querySelector('.headline').after(warning);
  }
  if (reading.remember) await correspondents.remember(owner, [reading.remember]).catch(() => {});
}

export async function start(engine, owner) {
  for (const banner of document.querySelectorAll('.smime-banner[data-signer]')) {
    await checkBanner(engine, owner, banner).catch((err) => console.warn('continuity check failed', err));
  }
}
