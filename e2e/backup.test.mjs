// Backup and moving (issue 19): alice exports her digital ID from the browser as a .p12 under a
// new password; openssl reads the download, and another browser profile that imports it opens
// mail encrypted to her before. Neither the key nor the file passes through the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, readDownload, makePki,
  importDigitalId, PASSPHRASE, deliverRaw, startRecordingProxy, secretsOf, assertNoneContains,
} from './harness.mjs';

let server;
let proxy;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 98, pki });
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

const openssl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

test('alice exports her digital ID; openssl reads the file; another profile imports it and opens old mail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-backup-e2e-'));
  const secret = `Sealed before the move ${randomBytes(6).toString('hex')}`;
  writeFileSync(join(dir, 'body.txt'), `Content-Type: text/plain; charset=utf-8\r\n\r\n${secret}\r\n`);
  const subject = unique('Before the move');
  deliverRaw({
    from: 'olivia@outside.test', to: rig.email('alice'),
    bytes: openssl(['cms', '-encrypt', '-in', join(dir, 'body.txt'), '-aes-256-cbc', '-recip', pki.file('alice.crt'),
      '-from', 'olivia@outside.test', '-to', rig.email('alice'), '-subject', subject]),
  });

  const alice = await signedInPage(browser, proxy, 'alice');
  const start = proxy.requests.length;
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported/);
  await alice.getByRole('button', { name: /^Export .* as a \.p12 file$/ }).click();
  const password = alice.getByLabel('Password for the file', { exact: true });
  const again = alice.getByLabel('Type the password again', { exact: true });
  const downloadButton = alice.getByRole('button', { name: `Download ${rig.email('alice')}.p12` });
  const downloads = [];
  alice.on('download', (d) => downloads.push(d));

  // Two different passwords: the sentence, and no file.
  await password.fill('a new file password');
  await again.fill('a new file passwort');
  await downloadButton.click();
  await alice.getByRole('alert').filter({ hasText: 'Not exported: The two passwords differ. Type the same password twice.' }).waitFor();
  assert.equal(downloads.length, 0, 'a file was downloaded although the passwords differ');

  await again.fill('a new file password');
  const downloaded = alice.waitForEvent('download');
  await downloadButton.click();
  await alice.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await alice.getByRole('button', { name: 'Unlock' }).click();
  const download = await downloaded;
  assert.equal(download.suggestedFilename(), `${rig.email('alice')}.p12`);
  const exported = await readDownload(download);
  await alice.getByText(`Exported: your browser saved ${rig.email('alice')}.p12.`).waitFor();
  assertNoneContains(proxy.requests.slice(start), { ...secretsOf(pki, 'alice'), 'the exported file': exported });

  // openssl reads it with the new password, and its key is the one of alice's certificate.
  writeFileSync(join(dir, 'exported.p12'), exported);
  const pem = openssl(['pkcs12', '-in', join(dir, 'exported.p12'), '-passin', 'pass:a new file password', '-nodes']).toString();
  const keyPem = pem.slice(pem.indexOf('-----BEGIN PRIVATE KEY-----'));
  assert.equal(
    openssl(['pkey', '-pubout'], keyPem).toString(),
    openssl(['x509', '-in', pki.file('alice.crt'), '-pubkey', '-noout']).toString(),
  );

  // Another profile (its own browser storage) imports the file and opens the old message.
  const moved = await signedInPage(browser, proxy, 'alice');
  assert.match(await importDigitalId(moved, exported, 'a new file password'), /Imported/);
  await moved.goto(`${proxy.url}/mail?folder=INBOX`);
  await (await waitForMessage(moved, subject)).click();
  await moved.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await moved.getByRole('button', { name: 'Unlock' }).click();
  await moved.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await moved.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(secret));
  await alice.context().close();
  await moved.context().close();
});
