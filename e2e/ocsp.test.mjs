// Revocation by OCSP (issue 19), as alice meets it writing encrypted mail, against `openssl ocsp`
// answering for the e-mail CA: bob's certificate is good and he gets mail he opens with openssl;
// carol's is revoked and she is named, with the reason, before anything is sent; once the
// responder is down, dave's status cannot be known and CheckCRL blocks him as it blocks a
// recipient whose CRL cannot be had, while bob's believed answer is still used until its
// nextUpdate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  rig, unique, startServer, launchBrowser, signedInPage, makePki, issueIdentity, ocspIssuer, importDigitalId,
  composeSecure, sentNotice, messagesOverImap, REPO,
} from './harness.mjs';

let pki;
let responder;
let server;
let browser;
const certs = {};

/** A loopback port nothing listens on yet. */
function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  pki = makePki();
  // The e-mail CA is the anchor here: the root publishes no revocation for it, and OCSP is asked
  // for every certificate of the path below the anchor.
  rmSync(pki.file('anchors'), { recursive: true });
  mkdirSync(pki.file('anchors'));
  copyFileSync(pki.file('ca.crt'), join(pki.file('anchors'), 'ca.crt'));
  responder = ocspIssuer(pki, await freePort());
  for (const user of ['bob', 'carol', 'dave']) {
    certs[user] = issueIdentity(pki, { email: rig.email(user), name: user, password: user, ocsp: responder });
  }
  responder.revoke(certs.carol.cert);
  await responder.start();
  // The directory gets these certificates for bob and carol (startServer imports pki's files).
  for (const user of ['bob', 'carol']) copyFileSync(certs[user].cert, pki.file(`${user}.crt`));
  server = await startServer({
    pki,
    revocation: true,
    port: rig.portBase + 102,
    extra: 'revocation = "ocsp"\nfetch_from_private_addresses = true\ncheck_crl = true\n',
  });
  const bin = process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail');
  execFileSync(bin, ['directory', 'import', '--config', server.configFile, '--email', rig.email('dave'), certs.dave.cert],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await responder?.stop();
});

/** Presses Send and returns what the page says about the recipients it cannot encrypt to. */
async function blocked(page) {
  await page.getByRole('button', { name: 'Send' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor({ timeout: 60000 });
  const text = await dialog.innerText();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  return text;
}

test('good, revoked and unreachable OCSP answers as alice writes encrypted mail', async () => {
  const alice = await signedInPage(browser, server, 'alice');
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported/);

  // Good: sent, and bob's key opens it.
  const secret = `Checked by OCSP ${randomBytes(6).toString('hex')}`;
  const subject = unique('OCSP good');
  await composeSecure(alice, { to: rig.email('bob'), subject, body: secret, sign: false, encrypt: true });
  await alice.getByText(/can encrypt/).first().waitFor();
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);
  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  const dir = join(tmpdir(), `sealmail-ocsp-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'delivered.eml'), delivered);
  const opened = execFileSync('openssl', ['cms', '-decrypt', '-in', join(dir, 'delivered.eml'), '-recip', certs.bob.cert, '-inkey', certs.bob.key]).toString();
  assert.match(opened, new RegExp(secret));

  // Revoked: carol is named with the reason, and nothing is sent.
  await composeSecure(alice, { to: rig.email('carol'), subject: unique('OCSP revoked'), body: 'x', sign: false, encrypt: true });
  const token = alice.locator('.token', { hasText: rig.email('carol') }).locator('.no-certificate');
  await token.waitFor();
  assert.match(await token.getAttribute('title'), /revoked/i);
  assert.match(await blocked(alice), new RegExp(`${rig.email('carol')}: .*revoked`, 'i'));

  // The responder goes down: dave, never asked before, cannot be checked; bob's answer is still believed.
  await responder.stop();
  await composeSecure(alice, { to: `${rig.email('dave')}, ${rig.email('bob')}`, subject: unique('OCSP down'), body: 'x', sign: false, encrypt: true });
  const said = await blocked(alice);
  assert.match(said, new RegExp(`${rig.email('dave')}: .*revocation`, 'i'));
  assert.doesNotMatch(said, new RegExp(rig.email('bob')));
  await alice.context().close();
});
