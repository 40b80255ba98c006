// Drafts that don't get lost: the compose page saves by itself a few seconds after the last
// change, and the draft of a message to be encrypted is saved encrypted to the writer's own
// certificate, in the browser: the server (and every request the browser makes) never holds its
// text. Drafts are read over IMAP, as another mail client would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, engineReady,
  importDigitalId, PASSPHRASE, sentNotice, startRecordingProxy, assertNoneContains, messagesOverImap,
} from './harness.mjs';

let server;
let proxy;
let front;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 97, pki });
  proxy = await startRecordingProxy(server.url);
  front = { url: proxy.url };
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

/** The raw messages in alice's Drafts whose subject contains `subject`, read over IMAP. */
const drafts = (subject) => messagesOverImap('alice', 'Drafts', subject);

/** What the page's draft status says once a save has happened (or failed). */
async function draftStatus(page, text) {
  const status = page.locator('#draft-status');
  await status.filter({ hasText: text }).waitFor({ timeout: 30000 });
  return status.innerText();
}

async function newMessage(page, { to, subject, body, encrypt }) {
  await page.getByRole('button', { name: 'New message' }).click();
  await engineReady(page);
  const toggle = page.getByRole('button', { name: 'Encrypt message contents and attachments' });
  if ((await toggle.getAttribute('aria-pressed') === 'true') !== encrypt) await toggle.click();
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByLabel('Subject', { exact: true }).fill(subject);
  await page.getByLabel('Message', { exact: true }).fill(body);
}

/** Opens the draft with `subject` from the Drafts folder and presses Edit draft. */
async function editDraft(page, subject) {
  await page.goto(`${front.url}/mail?folder=Drafts`);
  await (await waitForMessage(page, subject)).click();
  await page.getByRole('button', { name: 'Edit draft' }).click();
  await page.getByRole('heading', { name: 'Edit draft', level: 1 }).waitFor();
}

test('a typed message is saved a few seconds after the last change, and on leaving the page, and is back when reopened', async () => {
  const subject = unique('Autosaved');
  const words = `Notes that must not be lost ${randomBytes(6).toString('hex')}`;
  const alice = await signedInPage(browser, front, 'alice');
  await newMessage(alice, { to: rig.email('bob'), subject, body: words, encrypt: false });
  await alice.getByLabel('Attach files').setInputFiles([{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('attached notes') }]);
  assert.match(await draftStatus(alice, 'Draft saved at'), /^Draft saved at \d{1,2}:\d{2}/);
  // The file is in the saved draft now: the page offers it as a kept attachment of the draft.
  assert.ok(await alice.getByLabel(/^notes\.txt/).isChecked());
  assert.equal(await alice.getByLabel('Attach files').evaluate((input) => input.files.length), 0);

  // Typing on and leaving the page before the next save is due: it is saved as the page goes,
  // replacing the copy saved before.
  await alice.getByLabel('Message', { exact: true }).press('End');
  await alice.getByLabel('Message', { exact: true }).pressSequentially(' and more');
  assert.equal(await alice.locator('#draft-status').innerText(), '', 'a change is not saved yet');
  await alice.goto(`${front.url}/mail?folder=INBOX`);
  const deadline = Date.now() + 15000;
  let stored = drafts(subject);
  while (!(stored.length === 1 && stored[0].includes('and more')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    stored = drafts(subject);
  }
  assert.equal(stored.length, 1, 'one copy in Drafts');
  assert.ok(stored[0].includes('and more'), 'the last words are in it');
  assert.ok(stored[0].includes('notes.txt'), 'with the attachment');
  const context = alice.context();
  await alice.close();

  const again = await context.newPage();
  await again.goto(`${front.url}/mail?folder=INBOX`);
  await editDraft(again, subject);
  assert.equal(await again.getByLabel('Message', { exact: true }).inputValue(), `${words} and more`);
  assert.ok(await again.getByLabel(/^notes\.txt/).isChecked());
  await context.close();
});

test('an encrypted draft is stored as application/pkcs7-mime, reopens decrypted, and sending it removes it; its text never reaches the server', async () => {
  const subject = unique('Sealed draft');
  const words = `The merger closes on ${randomBytes(6).toString('hex')}`;
  const fileBytes = randomBytes(2048);
  const fileMarker = fileBytes.subarray(100, 140);
  const alice = await signedInPage(browser, front, 'alice');

  // No digital ID in this browser yet: the draft is not saved in the clear behind the user's back.
  await newMessage(alice, { to: rig.email('bob'), subject, body: `${words} (no ID)`, encrypt: true });
  const refused = await draftStatus(alice, 'can\'t be saved encrypted');
  assert.match(refused, /no digital ID for encryption in this browser/);
  await alice.getByRole('button', { name: 'Don\'t save it' }).click();
  assert.equal(drafts(subject).length, 0, 'nothing saved');
  // Or the user says it may be kept unencrypted.
  const plainSubject = unique('Plain by choice');
  await newMessage(alice, { to: rig.email('bob'), subject: plainSubject, body: 'kept in the clear, as asked', encrypt: true });
  await draftStatus(alice, 'can\'t be saved encrypted');
  await alice.getByRole('button', { name: 'Save it unencrypted' }).click();
  await draftStatus(alice, 'Draft saved at');
  assert.ok(drafts(plainSubject)[0].includes('kept in the clear'));

  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  const start = proxy.requests.length;
  await newMessage(alice, { to: rig.email('bob'), subject, body: words, encrypt: true });
  assert.equal(await alice.locator('#subject-note').innerText(), 'The subject is not encrypted.');
  await alice.getByLabel('Attach files').setInputFiles([{ name: 'terms.bin', mimeType: 'application/octet-stream', buffer: fileBytes }]);
  await draftStatus(alice, 'Encrypted draft saved at');
  const context = alice.context();
  await alice.close();

  const stored = drafts(subject);
  assert.equal(stored.length, 1, 'one copy in Drafts');
  assert.match(stored[0], /^Content-Type: application\/pkcs7-mime/im);
  assert.ok(!stored[0].includes('merger'), 'the typed words are not in the stored draft');
  assert.ok(!stored[0].includes('terms.bin'), 'nor the attachment\'s name');
  assert.ok(stored[0].includes(`Subject: ${subject}`), 'the subject stays readable, as the page says');

  // Reopened: the header fields from the server, the body and attachment decrypted here.
  const again = await context.newPage();
  await again.goto(`${front.url}/mail?folder=INBOX`);
  await again.goto(`${front.url}/mail?folder=Drafts`);
  await (await waitForMessage(again, subject)).click();
  await unlockIfAsked(again);
  await again.getByRole('button', { name: 'Edit draft' }).click();
  await engineReady(again);
  await unlockIfAsked(again, 5000);
  await again.locator('#sealed-draft-status').filter({ hasText: 'Encrypted draft opened' }).waitFor({ timeout: 30000 });
  assert.equal(await again.getByLabel('Message', { exact: true }).inputValue(), words);
  assert.equal(await again.getByLabel('To', { exact: true }).inputValue(), rig.email('bob'));
  const attached = await again.getByLabel('Attach files').evaluate((input) => [...input.files].map((f) => `${f.name}:${f.size}`));
  assert.deepEqual(attached, [`terms.bin:${fileBytes.length}`]);

  // Sent encrypted from the draft: delivered, and the draft is gone.
  await again.getByRole('button', { name: 'Send' }).click();
  await sentNotice(again);
  const deadline = Date.now() + 15000;
  while (drafts(subject).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
  assert.equal(drafts(subject).length, 0, 'the draft is gone from Drafts');

  const needles = { 'the typed words': Buffer.from('The merger closes'), 'the attachment': Buffer.from(fileMarker) };
  assertNoneContains(proxy.requests.slice(start), needles);
  await context.close();
});

/** Answers the passphrase prompt if one comes within `timeout` ms (an unlocked ID asks nothing). */
async function unlockIfAsked(page, timeout = 15000) {
  const field = page.getByLabel('Passphrase', { exact: true });
  try {
    await field.waitFor({ timeout });
  } catch {
    return;
  }
  await field.fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
}
