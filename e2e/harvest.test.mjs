// Certificates from signed mail, as a user sees them: opening a message with a valid, trusted
// signature keeps the sender's certificate in the address book, so writing back can be
// encrypted without importing anything; removing it there takes that away again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, issueIdentity, deliverRaw,
} from './harness.mjs';

let pki;
let server;
let browser;
before(async () => {
  pki = makePki();
  server = await startServer({ pki, port: rig.portBase + 91 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** What the compose page hears about writing to `address` (the recipients API). */
async function encryptionTo(page, address) {
  return page.evaluate(async (to) => {
    const token = document.querySelector('input[name="csrf"]').value;
    const res = await fetch('/api/recipients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ recipients: [to] }),
    });
    return (await res.json()).recipients[0];
  }, address);
}

test('bob opens signed mail from a new correspondent, finds the certificate in his address book and removes it', async () => {
  const address = `dave.${Date.now().toString(36)}@outside.test`;
  const dave = issueIdentity(pki, { email: address, name: 'Dave Outside', password: 'dave' });
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-harvest-'));
  writeFileSync(join(dir, 'body.txt'), 'Content-Type: text/plain\r\n\r\nMy certificate comes with this.\r\n');
  const subject = unique('Signed by Dave');
  const signed = execFileSync('openssl', ['cms', '-sign', '-in', join(dir, 'body.txt'), '-signer', dave.cert,
    '-inkey', dave.key, '-certfile', pki.file('ca.crt'), '-from', address, '-to', rig.email('bob'), '-subject', subject],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  deliverRaw({ from: address, to: rig.email('bob'), bytes: signed });

  const bob = await signedInPage(browser, server, 'bob');
  assert.equal((await encryptionTo(bob, address)).status, 'none', 'nothing known before the mail is opened');
  await (await waitForMessage(bob, subject)).click();
  await bob.getByRole('heading', { name: subject, level: 1 }).waitFor();
  assert.match(await bob.locator('.smime-banner.valid').first().innerText(), /The signature is valid and the digital ID is trusted/);

  const answer = await encryptionTo(bob, address);
  assert.equal(answer.status, 'ok', JSON.stringify(answer));
  assert.equal(answer.source, 'signed mail');

  await bob.getByRole('link', { name: 'Address book' }).click();
  await bob.getByRole('heading', { name: 'Address book', level: 1 }).waitFor();
  const kept = bob.getByRole('table', { name: 'Certificates kept from signed mail' });
  const row = kept.getByRole('row').filter({ hasText: address });
  assert.equal(await row.count(), 1);
  const text = await row.innerText();
  assert.match(text, /CN=Dave Outside/);
  assert.match(text, /\d{4}-\d{2}-\d{2}/, 'expiry and when it was kept are shown');

  await row.getByRole('button', { name: `Remove the certificate for ${address}` }).click();
  await bob.getByText('The certificate was removed from your address book.').waitFor();
  assert.equal(await bob.getByRole('row').filter({ hasText: address }).count(), 0);
  assert.match(await bob.locator('#harvested-empty').innerText(), /No certificate has been kept from signed mail yet/);
  assert.equal((await encryptionTo(bob, address)).status, 'none', 'removed: encryption is no longer offered');
  await bob.context().close();
});
