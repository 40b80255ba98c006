// New keys and key recovery (issue 19), as a user and an admin meet them. The organization uses
// dual keys and keeps a copy of every encryption key for its recovery agent:
// - dana, who has no digital ID, makes one in the browser: two requests (signing, encryption)
//   that openssl, playing the CA, issues; she installs both certificates, publishes them, and
//   mail she signs and encrypts to bob is verified and opened by openssl;
// - the encryption key's copy reached the server encrypted: `sealmail recovery export` hands it
//   to the admin, the agent opens it with `openssl cms -decrypt` into a .p12 whose key opens
//   that mail; no request of the session and nothing in the database held the key in clear;
// - carol imports a .p12 and its copy is deposited on the way; a certificate for another key is
//   refused at install; bob cannot publish an encryption certificate whose key has no copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, newUserPage, signedInPage, makePki, issueIdentity, engineReady,
  importDigitalId, messagesOverImap, readDownload, sendGivingPassphrase, startRecordingProxy, assertNoneContains,
  keyForms, PASSPHRASE, REPO,
} from './harness.mjs';

let pki;
let agent;
let server;
let proxy;
let browser;
before(async () => {
  pki = makePki();
  agent = issueIdentity(pki, { email: `recovery@${rig.domain}`, name: 'Key Recovery Agent', password: 'agent' });
  server = await startServer({
    pki,
    port: rig.portBase + 101,
    extra: `[smime]\ndual_keys = true\nrequire_key_archival = true\nrecovery_agents = "${agent.cert}"\n# One layer each, so openssl can take the message apart step by step.\ntriple_wrap = false\n`,
  });
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

const openssl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

/** The CA's answer to a request: the certificate it copies the request's extensions into, and its own. */
function issue(dir, csr, name) {
  writeFileSync(join(dir, `${name}.csr`), csr);
  openssl(['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', pki.file('ca.crt'), '-CAkey', pki.file('ca.key'),
    '-CAcreateserial', '-days', '365', '-copy_extensions', 'copy', '-out', join(dir, `${name}.pem`)]);
  return Buffer.concat([readFileSync(join(dir, `${name}.pem`)), readFileSync(pki.file('ca.crt'))]);
}

/** Presses "Download FILE" in the waiting keys' list; the request's bytes. */
async function downloadRequest(page, file) {
  const started = page.waitForEvent('download');
  await page.getByRole('button', { name: `Download ${file}` }).click();
  const download = await started;
  assert.equal(download.suggestedFilename(), file);
  return readDownload(download);
}

/** Fills in "Request a new digital ID" and waits until the page says the requests are made. */
async function request(page, { name, kind }) {
  await page.getByRole('link', { name: 'Digital IDs' }).click();
  await engineReady(page);
  await page.getByLabel('Your name, as the certificate shows it').fill(name);
  await page.getByLabel('Kind of key').selectOption(kind);
  await page.getByLabel('Passphrase to protect the new key in this browser').fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Make the request' }).click();
  await page.getByText('Requests made: download').waitFor({ timeout: 60000 });
}

async function install(page, file, name) {
  await page.getByLabel(/^Certificate from your certification authority/).setInputFiles({ name, mimeType: 'application/x-pem-file', buffer: file });
  await page.getByRole('button', { name: 'Install the certificate' }).click();
}

test('dana makes her digital IDs in the browser, openssl issues them, and the recovery agent can open her mail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-keys-e2e-'));
  const { page: dana, user } = await newUserPage(browser, proxy, 'dana');
  const start = proxy.requests.length;
  // Two requests, downloaded: one key that signs, one that receives encrypted mail.
  await request(dana, { name: 'Dana Example', kind: 'rsa-3072' });
  await dana.getByText('Your organization keeps a copy of every encryption key').waitFor();
  await dana.getByText('Your organization uses separate keys for signing and for encryption').waitFor();
  const local = user.address.split('@')[0];
  await dana.getByText(`Requests made: download ${local}-signing.csr and ${local}-encryption.csr below`).waitFor();
  const signingCsr = await downloadRequest(dana, `${local}-signing.csr`);
  const encryptionCsr = await downloadRequest(dana, `${local}-encryption.csr`);
  for (const [csr, usage] of [[signingCsr, /Digital Signature, Non Repudiation/], [encryptionCsr, /Key Encipherment/]]) {
    writeFileSync(join(dir, 'check.csr'), csr);
    // OpenSSL 3.0 exits 0 whatever the verdict: read what it says.
    const verdict = spawnSync('openssl', ['req', '-in', join(dir, 'check.csr'), '-verify', '-noout']);
    assert.match(verdict.stderr.toString(), /self-signature verify OK/);
    const text = openssl(['req', '-in', join(dir, 'check.csr'), '-noout', '-text']).toString();
    assert.match(text, /Subject: CN = Dana Example/);
    assert.match(text, new RegExp(`email:${user.address.replace(/\./g, '\\.')}`));
    assert.match(text, /Public-Key: \(3072 bit\)/);
    assert.match(text, usage);
  }
  const waiting = dana.getByRole('list', { name: 'Keys waiting for their certificate' }).getByRole('listitem');
  assert.equal(await waiting.count(), 2);

  // A certificate for some other key is not installed on either.
  await install(dana, readFileSync(pki.file('bob.crt')), 'bob.pem');
  await dana.getByRole('alert').filter({ hasText: 'The certificate was not installed: This certificate (' }).waitFor();
  assert.match(await dana.locator('#install-status').innerText(), /is not for any key waiting in this browser/);
  assert.equal(await waiting.count(), 2);

  // The signing certificate installs without a question: its key is never copied.
  await install(dana, issue(dir, signingCsr, 'signing'), 'signing.pem');
  await dana.getByText('Installed CN=Dana Example: the digital ID is ready.').waitFor();
  assert.doesNotMatch(await dana.locator('#install-status').innerText(), /recovery agent/);
  // The encryption certificate: its key is unlocked to make the agent's copy.
  await install(dana, issue(dir, encryptionCsr, 'encryption'), 'encryption.pem');
  await dana.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await dana.getByRole('button', { name: 'Unlock' }).click();
  const installed = await dana.locator('#install-status').filter({ hasText: 'Installed' }).innerText({ timeout: 60000 });
  assert.match(installed, /A copy of its key, encrypted to your organization's recovery agent CN=Key Recovery Agent \(SHA-256 [0-9a-f]{64}\), was deposited\./);
  assert.equal(await waiting.count(), 0);
  await dana.getByText('No key is waiting for a certificate.').waitFor();
  const ids = dana.locator('#ids > li');
  assert.equal(await ids.count(), 2);

  await ids.first().getByRole('button', { name: 'Publish my certificate' }).click();
  await dana.getByText('Published: others can now encrypt mail to you with these 2 certificates.').waitFor();

  // Signed and encrypted to bob, by the two new keys.
  const secret = `Made in the browser ${randomBytes(6).toString('hex')}`;
  const subject = unique('New keys');
  await dana.getByRole('button', { name: 'New message' }).click();
  await engineReady(dana);
  await dana.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await dana.getByLabel('Subject', { exact: true }).fill(subject);
  await dana.getByLabel('Message', { exact: true }).fill(secret);
  for (const name of ['Add digital signature to this message', 'Encrypt message contents and attachments']) {
    const toggle = dana.getByRole('button', { name });
    if (await toggle.getAttribute('aria-pressed') !== 'true') await toggle.click();
  }
  await sendGivingPassphrase(dana);
  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  writeFileSync(join(dir, 'delivered.eml'), delivered);
  const inner = openssl(['cms', '-decrypt', '-in', join(dir, 'delivered.eml'), '-recip', pki.file('bob.crt'), '-inkey', pki.file('bob.key')]);
  const content = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt'), '-signer', join(dir, 'signer.pem')], inner).toString();
  assert.match(content, new RegExp(secret));
  assert.equal(
    openssl(['x509', '-in', join(dir, 'signer.pem'), '-noout', '-fingerprint', '-sha256']).toString(),
    openssl(['x509', '-in', join(dir, 'signing.pem'), '-noout', '-fingerprint', '-sha256']).toString(),
    'signed by the new signing certificate',
  );

  // The admin hands the agent the copy; the agent opens it offline and reads dana's mail.
  const bin = process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail');
  const exported = execFileSync(bin, ['recovery', 'export', '--config', server.configFile, '--email', user.address, '--out', dir]).toString().trim().split('\n');
  assert.equal(exported.length, 1, `one copy, of the encryption key only: ${exported}`);
  openssl(['cms', '-decrypt', '-inform', 'DER', '-in', exported[0], '-recip', agent.cert, '-inkey', agent.key, '-out', join(dir, 'recovered.p12')]);
  const recovered = openssl(['pkcs12', '-in', join(dir, 'recovered.p12'), '-passin', 'pass:', '-nodes', '-nocerts']).toString();
  writeFileSync(join(dir, 'recovered.key'), recovered);
  const reopened = openssl(['cms', '-decrypt', '-in', join(dir, 'delivered.eml'), '-recip', join(dir, 'encryption.pem'), '-inkey', join(dir, 'recovered.key')]);
  assert.match(openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], reopened).toString(), new RegExp(secret));

  // Neither the requests of the session nor the database ever held the key in clear.
  const leaks = keyForms(recovered);
  assertNoneContains(proxy.requests.slice(start), leaks);
  const dbDir = dirname(server.configFile);
  for (const file of readdirSync(dbDir).filter((f) => f.startsWith('sealmail.db'))) {
    const bytes = readFileSync(join(dbDir, file));
    for (const [what, needle] of Object.entries(leaks)) {
      assert.equal(bytes.indexOf(needle), -1, `${what} is in the database file ${file}`);
    }
  }
  assert.ok(existsSync(join(dbDir, 'sealmail.db')));
  await dana.context().close();
});

test('carol\'s imported key is copied for the agent on the way in; bob cannot publish without a copy', async () => {
  const carol = await signedInPage(browser, proxy, 'carol');
  const said = await importDigitalId(carol, pki.p12('carol'), 'carol');
  assert.match(said, /^Imported .*\. A copy of its key, encrypted to your organization's recovery agent CN=Key Recovery Agent/);
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-keys-e2e-'));
  const bin = process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail');
  const [copy] = execFileSync(bin, ['recovery', 'export', '--config', server.configFile, '--email', rig.email('carol'), '--out', dir]).toString().trim().split('\n');
  openssl(['cms', '-decrypt', '-inform', 'DER', '-in', copy, '-recip', agent.cert, '-inkey', agent.key, '-out', join(dir, 'carol.p12')]);
  assert.equal(
    openssl(['pkey', '-pubout'], openssl(['pkcs12', '-in', join(dir, 'carol.p12'), '-passin', 'pass:', '-nodes', '-nocerts'])).toString(),
    openssl(['x509', '-in', pki.file('carol.crt'), '-pubkey', '-noout']).toString(),
  );
  await carol.context().close();

  // bob's browser never deposited a copy: publishing his encryption certificate is refused.
  const bob = await signedInPage(browser, proxy, 'bob');
  const answer = await bob.evaluate(async (pem) => {
    const res = await fetch('/api/certificates/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': document.querySelector('input[name="csrf"]').value },
      body: JSON.stringify({ certificates: [pem] }),
    });
    return { status: res.status, body: await res.json() };
  }, readFileSync(pki.file('bob.crt'), 'utf8'));
  assert.equal(answer.status, 422);
  assert.match(answer.body.error, /keeps a copy of every encryption key for recovery, and none was deposited for .*bob/);
  await bob.context().close();
});

test('erin asks for P-256 keys: the CA issues them, and her ECDSA signature verifies with openssl', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-keys-e2e-'));
  const { page: erin, user } = await newUserPage(browser, proxy, 'erin');
  await request(erin, { name: 'Erin Example', kind: 'p-256' });
  const local = user.address.split('@')[0];
  const signingCsr = await downloadRequest(erin, `${local}-signing.csr`);
  const encryptionCsr = await downloadRequest(erin, `${local}-encryption.csr`);
  writeFileSync(join(dir, 'check.csr'), encryptionCsr);
  const text = openssl(['req', '-in', join(dir, 'check.csr'), '-noout', '-text']).toString();
  assert.match(text, /ecdsa-with-SHA256/);
  assert.match(text, /NIST CURVE: P-256/);
  assert.match(text, /Key Agreement/, 'an elliptic-curve key receives mail by key agreement');

  await install(erin, issue(dir, signingCsr, 'signing'), 'signing.pem');
  await erin.getByText('Installed CN=Erin Example: the digital ID is ready.').waitFor();
  await install(erin, issue(dir, encryptionCsr, 'encryption'), 'encryption.pem');
  await erin.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await erin.getByRole('button', { name: 'Unlock' }).click();
  await erin.locator('#install-status').filter({ hasText: /Installed.*was deposited\./ }).waitFor({ timeout: 60000 });
  assert.match(await erin.locator('#ids').innerText(), /P-256/);

  const subject = unique('Signed with P-256');
  await erin.getByRole('button', { name: 'New message' }).click();
  await engineReady(erin);
  await erin.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await erin.getByLabel('Subject', { exact: true }).fill(subject);
  await erin.getByLabel('Message', { exact: true }).fill('Signed by a key made in the browser.');
  const sign = erin.getByRole('button', { name: 'Add digital signature to this message' });
  if (await sign.getAttribute('aria-pressed') !== 'true') await sign.click();
  await sendGivingPassphrase(erin);
  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  openssl(['cms', '-verify', '-CAfile', pki.file('root.crt'), '-signer', join(dir, 'signer.pem')], Buffer.from(delivered));
  assert.equal(
    openssl(['x509', '-in', join(dir, 'signer.pem'), '-noout', '-fingerprint', '-sha256']).toString(),
    openssl(['x509', '-in', join(dir, 'signing.pem'), '-noout', '-fingerprint', '-sha256']).toString(),
  );
  await erin.context().close();
});
