// Keyboard shortcuts in a real browser: moving through the Inbox with j/k, opening with Enter,
// replying with r, deleting with #, the ? list, and keys typed into fields staying text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  rig, unique, deliverFromOutside, startServer, launchBrowser, signedInPage, waitForMessage,
} from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 95 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const subjectLinks = (page) => page.locator('table.messages tbody tr td a[href]');
const focusedText = (page) => page.evaluate(() => document.activeElement?.textContent.trim() || '');
const selectedRows = (page) => page.locator('table.messages tbody tr.current');
const notice = (page) => page.locator('p.notice[role=status]');

test('alice reads and answers her Inbox from the keyboard', async () => {
  const subjects = [unique('Keys one'), unique('Keys two'), unique('Keys three')];
  for (const subject of subjects) deliverFromOutside({ to: rig.email('alice'), subject, body: `About ${subject}.` });
  const alice = await signedInPage(browser, server, 'alice');
  for (const subject of subjects) await waitForMessage(alice, subject);
  const listed = await subjectLinks(alice).allInnerTexts();

  // j, j, k: the selection moves down twice and back once, shown on the row and with focus.
  await alice.keyboard.press('j');
  assert.equal(await focusedText(alice), listed[0]);
  await alice.keyboard.press('j');
  assert.equal(await focusedText(alice), listed[1]);
  assert.equal(await selectedRows(alice).count(), 1);
  assert.equal(await selectedRows(alice).locator('td a[href]').innerText(), listed[1]);
  await alice.keyboard.press('k');
  assert.equal(await focusedText(alice), listed[0]);
  assert.equal(await selectedRows(alice).locator('td a[href]').innerText(), listed[0]);

  // Enter opens it; r answers it.
  await alice.keyboard.press('Enter');
  await alice.getByRole('heading', { name: listed[0], level: 1 }).waitFor();
  await alice.keyboard.press('r');
  await alice.getByRole('heading', { name: 'Reply', level: 1 }).waitFor();
  assert.equal(await alice.getByLabel('Subject', { exact: true }).inputValue(), `Re: ${listed[0]}`);

  // In the message body, j and ? are text and nothing else.
  const body = alice.getByLabel('Message', { exact: true });
  await body.focus();
  await alice.keyboard.press('Control+Home');
  await alice.keyboard.type('j?#');
  assert.match(await body.inputValue(), /^j\?#/);
  await alice.getByRole('heading', { name: 'Reply', level: 1 }).waitFor();
  assert.equal(await alice.getByRole('dialog').count(), 0);

  // u goes from a message back to its folder.
  await alice.goBack();
  await alice.getByRole('heading', { name: listed[0], level: 1 }).waitFor();
  await alice.keyboard.press('u');
  await alice.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();

  // / goes to the search box without typing a slash; j there is a letter of the search.
  await alice.keyboard.press('/');
  const search = alice.getByRole('searchbox', { name: 'Search mail' });
  assert.equal(await search.evaluate((box) => box === document.activeElement), true);
  await alice.keyboard.type('j');
  assert.equal(await search.inputValue(), 'j');
  assert.equal(await selectedRows(alice).count(), 0);
  assert.equal(await alice.getByRole('heading', { name: 'Inbox', level: 1 }).count(), 1);

  // ? lists the shortcuts in a dialog; Escape closes it.
  await search.fill('');
  await alice.getByRole('heading', { name: 'Inbox', level: 1 }).click();
  await alice.keyboard.press('?');
  const help = alice.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await help.waitFor();
  for (const what of ['Next message in the list', 'Reply all', 'Forward', 'Delete', 'Search']) {
    await help.getByText(what, { exact: true }).waitFor();
  }
  // Inside the open dialog, j moves nothing behind it.
  await alice.keyboard.press('j');
  assert.equal(await selectedRows(alice).count(), 0);
  await alice.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden' });

  // With modifiers a letter is not a shortcut.
  await alice.keyboard.press('Alt+j');
  assert.equal(await selectedRows(alice).count(), 0);

  // # in the list deletes the selected message, as the Delete button does (to Trash).
  const listedNow = await subjectLinks(alice).allInnerTexts();
  await alice.keyboard.press('j');
  await alice.keyboard.press('j');
  await alice.keyboard.press('#');
  assert.equal(await notice(alice).innerText(), 'The selected messages were moved to Trash.');
  assert.equal(await alice.getByRole('link', { name: listedNow[1], exact: true }).count(), 0);
  await alice.getByRole('link', { name: listedNow[0], exact: true }).waitFor();

  // # on a message deletes it; c starts a new message.
  await alice.getByRole('link', { name: listedNow[0], exact: true }).click();
  await alice.getByRole('heading', { name: listedNow[0], level: 1 }).waitFor();
  await alice.keyboard.press('#');
  assert.equal(await notice(alice).innerText(), 'The message was moved to Trash.');
  assert.equal(await alice.getByRole('link', { name: listedNow[0], exact: true }).count(), 0);
  await alice.keyboard.press('c');
  await alice.getByRole('heading', { name: 'New message', level: 1 }).waitFor();
});
