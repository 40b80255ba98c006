// Identities, as a user sees them: alice adds an address on Options, Identities (the test
// server lets users add addresses in their domain), writes a message from it, finds its
// signature in the message, and bob's Inbox shows the mail from that name. An identity with a
// digital ID of its own signs with that ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, issueIdentity, importDigitalId,
  engineReady, sendGivingPassphrase, messagesOverImap,
} from './harness.mjs';

let server;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 96, pki, extra: '[identities]\nuser_addresses = "domain"\n' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Adds `address` on Options, Identities, with a display name and a signature. */
async function addIdentity(page, address, name, signature) {
  await page.goto(`${server.url}/options`);
  await page.getByRole('link', { name: 'Identities' }).click();
  await page.getByRole('heading', { name: 'Identities', level: 1 }).waitFor();
  await page.getByLabel('E-mail address').fill(address);
  await page.getByLabel('Display name').last().fill(name);
  await page.getByLabel('Signature').last().fill(signature);
  await page.getByRole('button', { name: 'Add address' }).click();
  await page.getByText('The address was added to your identities.').waitFor();
}

const newAddress = (label) => `${unique(label).toLowerCase().replace(/[^a-z0-9]+/g, '.')}@${rig.domain}`;

test('alice adds an identity, writes from it with its signature, and bob reads it from that name', async () => {
  const address = newAddress('sales');
  const alice = await signedInPage(browser, server, 'alice');
  await addIdentity(alice, address, 'Alice Sales', 'Alice, Sales team');

  await alice.getByRole('button', { name: 'New message' }).click();
  const from = alice.getByLabel('From', { exact: true });
  const body = alice.getByLabel('Message', { exact: true });
  assert.equal(await from.inputValue(), rig.email('alice'), 'new mail starts from the sign-in address');
  assert.doesNotMatch(await body.inputValue(), /Sales team/);
  await from.selectOption(address);
  assert.match(await body.inputValue(), /^\n*-- \nAlice, Sales team$/, 'the identity\'s signature is put in');

  const subject = unique('From the sales address');
  await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await alice.getByLabel('Subject', { exact: true }).fill(subject);
  await alice.getByRole('button', { name: 'Send', exact: true }).click();
  await alice.getByText('Your message was sent.').waitFor();

  const bob = await signedInPage(browser, server, 'bob');
  const row = bob.getByRole('row').filter({ has: await waitForMessage(bob, subject) });
  assert.match(await row.innerText(), /Alice Sales/);
  await row.getByRole('link', { name: subject, exact: true }).click();
  await bob.getByRole('heading', { name: subject, level: 1 }).waitFor();
  const shown = await bob.locator('main').innerText();
  assert.ok(shown.includes(address), 'the From address is the identity\'s');
  assert.match(shown, /Alice, Sales team/, 'the signature went with the message');
  await alice.context().close();
  await bob.context().close();
});

test('an identity with a digital ID of its own signs with it, and openssl names that address as the signer', async () => {
  const address = newAddress('billing');
  const own = issueIdentity(pki, { email: address, name: 'Alice Billing', password: 'billing' });
  const alice = await signedInPage(browser, server, 'alice');
  await addIdentity(alice, address, 'Alice Billing', 'Alice, Billing');
  // Both of alice's digital IDs are in this browser: her own and the billing address's.
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported/);
  assert.match(await importDigitalId(alice, own.p12, 'billing'), /Imported/);

  const subject = unique('Signed as billing');
  await alice.getByRole('button', { name: 'New message' }).click();
  await engineReady(alice);
  await alice.getByLabel('From', { exact: true }).selectOption(address);
  await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await alice.getByLabel('Subject', { exact: true }).fill(subject);
  const sign = alice.getByRole('button', { name: 'Add digital signature to this message' });
  if (await sign.getAttribute('aria-pressed') !== 'true') await sign.click();
  await sendGivingPassphrase(alice);

  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-identity-'));
  const content = execFileSync('openssl', ['cms', '-verify', '-CAfile', pki.file('root.crt'), '-signer', join(dir, 'signer.pem')],
    { input: Buffer.from(delivered), stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  assert.match(content, /Alice, Billing/, 'the identity\'s signature text is in the signed content');
  const signer = execFileSync('openssl', ['x509', '-in', join(dir, 'signer.pem'), '-noout', '-ext', 'subjectAltName']).toString();
  assert.match(signer, new RegExp(`email:${address.replace(/\./g, '\\.')}`), signer);
  assert.match(delivered, new RegExp(`^From: .*${address.replace(/\./g, '\\.')}`, 'mi'));

  const bob = await signedInPage(browser, server, 'bob');
  await (await waitForMessage(bob, subject)).click();
  assert.match(await bob.locator('.smime-banner').innerText(), new RegExp(`Signed by ${address.replace(/\./g, '\\.')}`));
  await alice.context().close();
  await bob.context().close();
});
