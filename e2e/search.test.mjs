// Finding mail in a real browser: the search box on the folder page, results that open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  rig, unique, deliverFromOutside, startServer, launchBrowser, signedInPage, waitForMessage,
} from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 85 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('bob types a word from a message body in the search box, finds that message and opens it', async () => {
  const word = `kumquat${Date.now().toString(36)}`;
  const wanted = unique('Search target');
  const other = unique('Search decoy');
  deliverFromOutside({ to: rig.email('bob'), subject: other, body: 'Nothing of interest here.' });
  deliverFromOutside({ to: rig.email('bob'), subject: wanted, body: `The ${word} is only in this message.` });
  const bob = await signedInPage(browser, server, 'bob');
  await waitForMessage(bob, wanted);
  await waitForMessage(bob, other);

  const search = bob.getByRole('search', { name: 'Search mail' });
  await search.getByRole('searchbox', { name: 'Search mail' }).fill(word);
  await search.getByLabel('in', { exact: true }).selectOption({ label: 'Body' });
  await search.getByRole('button', { name: 'Search' }).click();

  await bob.getByRole('heading', { name: 'Search', level: 1 }).waitFor();
  assert.match(bob.url(), /\/search\?/, 'results have a URL of their own');
  assert.match(await bob.getByRole('table').locator('caption').innerText(), /^1 message found in Inbox/);
  assert.equal(await bob.getByRole('link', { name: other, exact: true }).count(), 0);
  assert.match(await bob.locator('#search-encrypted').innerText(), /server searches only the headers of encrypted messages/);

  await bob.getByRole('link', { name: wanted, exact: true }).click();
  await bob.getByRole('heading', { name: wanted, level: 1 }).waitFor();
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(`The ${word} is only in this message\\.`));

  // Back returns to the same results.
  await bob.goBack();
  await bob.getByRole('link', { name: wanted, exact: true }).waitFor();
  assert.equal(await bob.getByRole('searchbox', { name: 'Search mail' }).inputValue(), word);
  await bob.context().close();
});
