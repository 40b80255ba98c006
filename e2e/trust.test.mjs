// The browser decides whom it encrypts to. The server finds certificates, but the page is
// played a server that lies (Playwright rewrites its /api/recipients answer): a certificate
// from an authority the user's browser does not trust, a different "sender" certificate, and
// later a substitute for bob's certificate from another authority. Nothing is encrypted to them
// without the user's explicit choice, which the delivered message's recipient list proves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, issueIdentity,
  composeSecure, importDigitalId, sentNotice, settledCount, deliverRaw,
} from './harness.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let pki;
let other; // another authority, trusted by nobody here
let server;
let browser;
let alice;
before(async () => {
  pki = makePki();
  other = makePki();
  server = await startServer({ pki, port: rig.portBase + 93 });
  browser = await launchBrowser();
  alice = await signedInPage(browser, server, 'alice');
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported/);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const openssl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
const derOf = (pemFile) => openssl(['x509', '-in', pemFile, '-outform', 'DER']);
const spaced = (der) => createHash('sha256').update(der).digest('hex').toUpperCase().match(/.{2}/g).join(':');

/** Makes the server's answer for alice's next sends go through `rewrite(json)`. */
async function lyingServer(rewrite) {
  await alice.unroute('**/api/recipients');
  await alice.route('**/api/recipients', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    rewrite(json);
    await route.fulfill({ response, json });
  });
}

/** The message bob received with `subject`, as delivered. */
async function deliveredToBob(subject) {
  const bob = await signedInPage(browser, server, 'bob');
  await bob.goto(`${server.url}/mail?folder=INBOX`);
  await (await waitForMessage(bob, subject)).click();
  const href = await bob.locator('#sealed-message').getAttribute('data-raw-href');
  const raw = await (await bob.request.get(`${server.url}${href}`)).body();
  await bob.context().close();
  return raw;
}

test('a certificate the server slips in from an unknown authority is named with its fingerprint and not encrypted to', async () => {
  const eve = issueIdentity(other, { email: `eve@${rig.domain}`, name: 'Eve', password: 'eve' });
  const eveDer = derOf(eve.cert);
  const otherChain = [derOf(other.file('ca.crt')), derOf(other.file('root.crt'))].map((d) => d.toString('base64'));
  await lyingServer((json) => {
    json.recipients.push({
      address: `eve@${rig.domain}`, status: 'ok', certificate: eveDer.toString('base64'), chain: otherChain,
      source: 'directory userCertificate', reason: '', via: null, capabilities: null,
    });
    json.sender = { ...json.sender, certificate: eveDer.toString('base64'), chain: otherChain };
  });

  const subject = unique('Only for bob');
  // A display name with a comma: one recipient, not two.
  await composeSecure(alice, { to: `"Doe, Bob" <${rig.email('bob')}>`, subject, body: 'For bob alone.', sign: false, encrypt: true });
  await alice.getByRole('button', { name: 'Send' }).click();
  const doubt = alice.getByRole('dialog', { name: 'Check these digital IDs before encrypting to them' });
  await doubt.waitFor();
  const said = await doubt.innerText();
  // demo-pki names every authority alike, so the stranger's authority passes for alice's own
  // by name, and fails on its signature: the look-alike attack on a shared CA name.
  assert.match(said, new RegExp(`eve@${rig.domain.replace(/\./g, '\\.')}: A signature in the certificate chain is not valid`));
  assert.ok(said.includes(spaced(eveDer)), `the fingerprint is not shown: ${said}`);
  assert.doesNotMatch(said, /bob@/, 'bob\'s genuine certificate was doubted');
  await doubt.getByRole('button', { name: 'Don\'t encrypt to them' }).click();
  const missing = alice.getByRole('dialog', { name: 'Some recipients cannot receive encrypted mail' });
  await missing.waitFor();
  assert.match(await missing.innerText(), /eve@.*you chose not to use the digital ID offered for them/);
  await missing.getByRole('button', { name: 'Encrypt anyway' }).click();
  await sentNotice(alice);

  // Delivered: encrypted to bob and to alice's own key from her browser, and to nobody else.
  const raw = await deliveredToBob(subject);
  const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'SMIME'], raw).toString();
  assert.equal((printed.match(/d\.(ktri|kari):/g) || []).length, 2, printed);
  const opens = (cert, key) => {
    try {
      openssl(['cms', '-decrypt', '-recip', cert, '-inkey', key], raw);
      return true;
    } catch {
      return false;
    }
  };
  assert.ok(opens(pki.file('bob.crt'), pki.file('bob.key')), 'bob cannot open it');
  assert.ok(opens(pki.file('alice.crt'), pki.file('alice.key')), 'alice\'s Sent copy is not hers to open');
  assert.ok(!opens(eve.cert, eve.key), 'eve can open it');
});

test('bob\'s certificate replaced by one from another authority is flagged before sending', async () => {
  // alice has written to bob (the test above): his certificate is remembered in her browser.
  const substitute = issueIdentity(other, { email: rig.email('bob'), name: 'Bob', password: 'bob' });
  const der = derOf(substitute.cert);
  await lyingServer((json) => {
    const bob = json.recipients.find((r) => r.address === rig.email('bob'));
    bob.certificate = der.toString('base64');
    bob.chain = [derOf(other.file('ca.crt')), derOf(other.file('root.crt'))].map((d) => d.toString('base64'));
  });
  const subject = unique('After the swap');
  await composeSecure(alice, { to: rig.email('bob'), subject, body: 'Is this still you?', sign: false, encrypt: true });
  await alice.getByRole('button', { name: 'Send' }).click();
  const doubt = alice.getByRole('dialog', { name: 'Check these digital IDs before encrypting to them' });
  await doubt.waitFor();
  const said = await doubt.innerText();
  assert.match(said, new RegExp(`The digital ID of ${rig.email('bob').replace(/\./g, '\\.')} has changed since you last wrote to them`));
  assert.ok(said.includes(spaced(der)), said);
  await doubt.getByRole('button', { name: 'Cancel' }).click();
  await alice.getByRole('alert').filter({ hasText: 'Your message was not sent. It is still here.' }).waitFor();
  assert.equal(await alice.getByLabel('Subject', { exact: true }).inputValue(), subject);

  const bob = await signedInPage(browser, server, 'bob');
  assert.equal(await settledCount(bob, `${server.url}/mail?folder=INBOX`, subject), 0, 'it was sent anyway');
  await bob.context().close();
  await alice.unroute('**/api/recipients');
});

test('signed mail from bob with a substitute digital ID is flagged when alice reads it', async () => {
  // alice has written to bob (the first test): his genuine certificate is remembered.
  const substitute = issueIdentity(other, { email: rig.email('bob'), name: 'Bob', password: 'bob' });
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-trust-'));
  writeFileSync(join(dir, 'body.txt'), 'Content-Type: text/plain\r\n\r\nPlease use my new key.\r\n');
  const subject = unique('New key, trust me');
  deliverRaw({
    from: rig.email('bob'), to: rig.email('alice'),
    bytes: openssl(['cms', '-sign', '-in', join(dir, 'body.txt'), '-signer', substitute.cert, '-inkey', substitute.key,
      '-certfile', other.file('ca.crt'), '-from', rig.email('bob'), '-to', rig.email('alice'), '-subject', subject]),
  });
  await alice.goto(`${server.url}/mail?folder=INBOX`);
  await (await waitForMessage(alice, subject)).click();
  const warning = alice.locator('.smime-banner .continuity');
  await warning.waitFor();
  assert.match(await warning.innerText(), new RegExp(`The digital ID of ${rig.email('bob').replace(/\./g, '\\.')} is not the one you last used with them`));
});

