// Identities, as a user sees them: alice adds an address on Options, Identities (the test
// server lets users add addresses in their domain), writes a message from it, finds its
// signature in the message, and bob's Inbox shows the mail from that name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rig, unique, startServer, launchBrowser, signedInPage, waitForMessage } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 96, extra: '[identities]\nuser_addresses = "domain"\n' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('alice adds an identity, writes from it with its signature, and bob reads it from that name', async () => {
  const address = `${unique('sales').toLowerCase().replace(/[^a-z0-9]+/g, '.')}@${rig.domain}`;
  const alice = await signedInPage(browser, server, 'alice');
  await alice.goto(`${server.url}/options`);
  await alice.getByRole('link', { name: 'Identities' }).click();
  await alice.getByRole('heading', { name: 'Identities', level: 1 }).waitFor();
  await alice.getByLabel('E-mail address').fill(address);
  await alice.getByLabel('Display name').last().fill('Alice Sales');
  await alice.getByLabel('Signature').last().fill('Alice, Sales team');
  await alice.getByRole('button', { name: 'Add address' }).click();
  await alice.getByText('The address was added to your identities.').waitFor();

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
