// Everyday mail in a real browser: send with attachments, read, reply, forward, drafts, folders,
// and what the user sees when a mail server fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  rig, rigCommand, unique, deliverFromOutside, startServer, launchBrowser, signedInPage, waitForMessage,
  settledCount, readDownload,
} from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const folderUrl = (name) => `${server.url}/mail?folder=${encodeURIComponent(name)}`;

async function compose(page, { to = '', cc = '', bcc = '', subject, body = '', files = [] }) {
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByLabel('Cc', { exact: true }).fill(cc);
  await page.getByLabel('Bcc', { exact: true }).fill(bcc);
  await page.getByLabel('Subject', { exact: true }).fill(subject);
  await page.getByLabel('Message', { exact: true }).fill(body);
  if (files.length) await page.getByLabel('Attach files').setInputFiles(files);
}

const sentNotice = (page) => page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor();

test('alice sends bob a 2 MB attachment with carol in Cc; each reads it and Sent holds one copy', async () => {
  const subject = unique('Budget');
  const attachment = randomBytes(2 * 1024 * 1024);
  const alice = await signedInPage(browser, server, 'alice');
  await compose(alice, {
    to: rig.email('bob'), cc: rig.email('carol'), subject, body: 'The numbers are attached.',
    files: [{ name: 'budget.bin', mimeType: 'application/octet-stream', buffer: attachment }],
  });
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);

  for (const user of ['bob', 'carol']) {
    const page = await signedInPage(browser, server, user);
    await (await waitForMessage(page, subject)).click();
    await page.getByRole('heading', { name: subject, level: 1 }).waitFor();
    assert.match(await page.getByRole('region', { name: 'Message body' }).innerText(), /The numbers are attached\./);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download budget.bin' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'budget.bin');
    assert.ok((await readDownload(download)).equals(attachment), `${user}'s download differs from what alice attached`);
    await page.context().close();
  }

  assert.equal(await settledCount(alice, folderUrl('Sent'), subject), 1, 'Sent must hold exactly one copy');
  await alice.context().close();
});

test('mail another client delivers through Postfix shows up in the list, unread', async () => {
  const subject = unique('From smtplib');
  deliverFromOutside({ to: rig.email('bob'), subject });
  const bob = await signedInPage(browser, server, 'bob');
  const link = await waitForMessage(bob, subject);
  const row = bob.getByRole('row').filter({ has: link });
  assert.match(await row.innerText(), /Unread\./);
  assert.match(await row.innerText(), /Olivia Outside/);
  await bob.context().close();
});

test('reply all, forward with the attachment, mark unread, move and delete', async () => {
  const subject = unique('Plans');
  const attachment = { name: 'agenda.bin', bytes: randomBytes(5000) };
  deliverFromOutside({ to: rig.email('bob'), subject, body: 'Meet on Friday?', attachment });
  const bob = await signedInPage(browser, server, 'bob');
  await (await waitForMessage(bob, subject)).click();

  await bob.getByRole('button', { name: 'Forward' }).click();
  await bob.getByRole('heading', { name: 'Forward', level: 1 }).waitFor();
  assert.ok(await bob.getByRole('checkbox', { name: /agenda\.bin/ }).isChecked(), 'the attachment is kept');
  await bob.getByLabel('To', { exact: true }).fill(rig.email('carol'));
  await bob.getByRole('button', { name: 'Send' }).click();
  await sentNotice(bob);

  const carol = await signedInPage(browser, server, 'carol');
  await (await waitForMessage(carol, `Fwd: ${subject}`)).click();
  const [download] = await Promise.all([
    carol.waitForEvent('download'),
    carol.getByRole('link', { name: 'Download agenda.bin' }).click(),
  ]);
  assert.ok((await readDownload(download)).equals(attachment.bytes));
  await carol.context().close();

  await bob.goto(folderUrl('INBOX'));
  await bob.getByRole('link', { name: subject, exact: true }).click();
  await bob.getByRole('button', { name: 'Reply all' }).click();
  assert.equal(await bob.getByLabel('To', { exact: true }).inputValue(), 'Olivia Outside <olivia@outside.test>');
  assert.equal(await bob.getByLabel('Subject', { exact: true }).inputValue(), `Re: ${subject}`);
  assert.match(await bob.getByLabel('Message', { exact: true }).inputValue(), /> Meet on Friday\?/);

  await bob.goto(folderUrl('INBOX'));
  await bob.getByRole('link', { name: subject, exact: true }).click();
  await bob.getByRole('button', { name: 'Mark as unread' }).click();
  await bob.getByRole('status').filter({ hasText: 'marked as unread' }).waitFor();
  const row = bob.getByRole('row').filter({ has: bob.getByRole('link', { name: subject, exact: true }) });
  assert.match(await row.innerText(), /Unread\./);

  await bob.getByRole('link', { name: subject, exact: true }).click();
  await bob.getByLabel('Move to folder').selectOption({ label: 'Junk' });
  await bob.getByRole('button', { name: 'Move', exact: true }).click();
  await bob.getByRole('status').filter({ hasText: 'moved' }).waitFor();
  assert.equal(await bob.getByRole('link', { name: subject, exact: true }).count(), 0);
  await bob.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: /^Junk/ }).click();
  await bob.getByRole('link', { name: subject, exact: true }).click();
  await bob.getByRole('button', { name: 'Delete' }).click();
  await bob.getByRole('status').filter({ hasText: 'moved to Trash' }).waitFor();
  assert.equal(await settledCount(bob, folderUrl('Trash'), subject), 1);
  await bob.context().close();
});

test('a saved draft can be reopened and sent, and then leaves Drafts', async () => {
  const subject = unique('Draft');
  const alice = await signedInPage(browser, server, 'alice');
  await compose(alice, {
    to: rig.email('carol'), subject, body: 'Not finished yet',
    files: [{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('first notes') }],
  });
  await alice.getByRole('button', { name: 'Save draft' }).click();
  await alice.getByRole('status').filter({ hasText: 'Draft saved.' }).waitFor();
  await alice.goto(folderUrl('Drafts'));
  await alice.getByRole('link', { name: subject, exact: true }).click();
  await alice.getByRole('button', { name: 'Edit draft' }).click();
  assert.equal(await alice.getByLabel('To', { exact: true }).inputValue(), rig.email('carol'));
  assert.ok(await alice.getByRole('checkbox', { name: /notes\.txt/ }).isChecked());
  await alice.getByLabel('Message', { exact: true }).fill('Finished now');
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);
  assert.equal(await settledCount(alice, folderUrl('Drafts'), subject), 0);
  const carol = await signedInPage(browser, server, 'carol');
  await (await waitForMessage(carol, subject)).click();
  assert.match(await carol.getByRole('region', { name: 'Message body' }).innerText(), /Finished now/);
  await carol.getByRole('link', { name: 'Download notes.txt' }).waitFor();
  await carol.context().close();
  await alice.context().close();
});

test('with Postfix down the user is told, the draft is kept, and the retry sends exactly once', async () => {
  const subject = unique('Outage');
  const alice = await signedInPage(browser, server, 'alice');
  await compose(alice, {
    to: rig.email('bob'), subject, body: 'Written during an outage',
    files: [{ name: 'keep.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0, 1, 2, 3]) }],
  });
  rigCommand('stop-postfix');
  try {
    await alice.getByRole('button', { name: 'Send' }).click();
    const alert = alice.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /Your message was not sent: .*saved in Drafts/s);
  } finally {
    rigCommand('start-postfix');
  }
  assert.ok(await alice.getByRole('checkbox', { name: /keep\.bin/ }).isChecked());
  assert.equal(await alice.getByLabel('Subject', { exact: true }).inputValue(), subject);
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);

  const bob = await signedInPage(browser, server, 'bob');
  await waitForMessage(bob, subject);
  assert.equal(await settledCount(bob, folderUrl('INBOX'), subject), 1, 'bob must get exactly one copy');
  assert.equal(await settledCount(alice, folderUrl('Sent'), subject), 1);
  assert.equal(await settledCount(alice, folderUrl('Drafts'), subject), 0);
  await bob.context().close();
  await alice.context().close();
});

test('restarting Dovecot mid-session: the next page just works', async () => {
  const alice = await signedInPage(browser, server, 'alice');
  rigCommand('restart-dovecot');
  const response = await alice.reload();
  assert.equal(response.status(), 200);
  await alice.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  await alice.context().close();
});

test('a message can be written and sent with the keyboard alone', async () => {
  const subject = unique('Keyboard');
  const alice = await signedInPage(browser, server, 'alice');
  const focused = () => alice.evaluate(() => {
    const el = document.activeElement;
    return el?.labels?.[0]?.textContent?.trim() || el?.textContent?.trim() || '';
  });
  // From the top of the page, Tab must reach "New message", then the form fields in order.
  await alice.keyboard.press('Tab');
  assert.equal(await focused(), 'Skip to content');
  let steps = 0;
  while ((await focused()) !== 'New message') {
    await alice.keyboard.press('Tab');
    assert.ok(++steps < 20, 'New message is not reachable by Tab');
  }
  await alice.keyboard.press('Enter');
  await alice.getByRole('heading', { name: 'New message', level: 1 }).waitFor();
  while ((await focused()) !== 'To') {
    await alice.keyboard.press('Tab');
    assert.ok(++steps < 60, 'the To field is not reachable by Tab');
  }
  await alice.keyboard.type(rig.email('bob'));
  for (const [label, text] of [['Cc', ''], ['Bcc', ''], ['Subject', subject], ['Format', ''], ['Message', 'Typed without a mouse.']]) {
    await alice.keyboard.press('Tab');
    assert.equal(await focused(), label);
    await alice.keyboard.type(text);
  }
  await alice.keyboard.press('Tab');
  assert.equal(await focused(), 'Attach files');
  // The security toggles come next (shown once the browser module is ready), then Send.
  await alice.getByRole('button', { name: 'Add digital signature to this message' }).waitFor();
  for (const label of ['Add digital signature to this message', 'Encrypt message contents and attachments', 'Send']) {
    await alice.keyboard.press('Tab');
    assert.equal(await focused(), label);
  }
  await alice.keyboard.press('Enter');
  await sentNotice(alice);
  const bob = await signedInPage(browser, server, 'bob');
  await waitForMessage(bob, subject);
  await bob.context().close();
  await alice.context().close();
});

test('files dropped on the message are attached and listed with their sizes, and one can be taken off again', async () => {
  const subject = unique('Dropped files');
  const alice = await signedInPage(browser, server, 'alice');
  await compose(alice, { to: rig.email('bob'), subject, body: 'Two files dropped, one kept.' });
  const form = alice.locator('form.compose');
  // What the browser hands a page when files are dragged onto it from the desktop.
  const dropped = await alice.evaluateHandle(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['kept notes'], 'notes.txt', { type: 'text/plain' }));
    transfer.items.add(new File([new Uint8Array(3 * 1024)], 'mistake.bin', { type: 'application/octet-stream' }));
    return transfer;
  });
  await form.dispatchEvent('dragenter', { dataTransfer: dropped });
  assert.match(await form.getAttribute('class'), /dropping/, 'the form shows it takes the drop');
  await form.dispatchEvent('drop', { dataTransfer: dropped });
  const files = alice.getByRole('list', { name: 'Files to attach' });
  assert.deepEqual(await files.getByRole('listitem').allTextContents(), ['notes.txt (10 bytes) Remove', 'mistake.bin (3 KB) Remove']);
  await files.getByRole('button', { name: 'Remove mistake.bin' }).click();
  assert.deepEqual(await alice.getByLabel('Attach files').evaluate((input) => [...input.files].map((f) => f.name)), ['notes.txt']);
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);

  const bob = await signedInPage(browser, server, 'bob');
  await (await waitForMessage(bob, subject)).click();
  await bob.getByRole('link', { name: 'Download notes.txt' }).waitFor();
  assert.equal(await bob.getByRole('link', { name: 'Download mistake.bin' }).count(), 0, 'the removed file was sent');
  await bob.context().close();
  await alice.context().close();
});
