// Formatted text, as a user writes it: bold, lists and quotes in the compose page's editor go out
// as multipart/alternative (a plain-text part and a clean HTML part), signed and encrypted in the
// browser or sent in the clear by the server, and read back formatted. What arrives is read with
// openssl and over IMAP, as another mail client would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, engineReady,
  importDigitalId, PASSPHRASE, sendGivingPassphrase, messagesOverImap,
} from './harness.mjs';

let server;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 100, pki });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const folderUrl = (name) => `${server.url}/mail?folder=${encodeURIComponent(name)}`;

function openssl(args, input) {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The decoded parts of a MIME message, by content type, as Python's email package reads them. */
function parts(raw) {
  const program = `
import email, json, sys
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
print(json.dumps([[p.get_content_type(), p.get_content() if p.get_content_maintype() == 'text' else ''] for p in m.walk()]))
`;
  return JSON.parse(execFileSync('python3', ['-c', program], { input: raw }).toString());
}

/** Answers the passphrase prompt if one comes (an ID unlocked this session asks nothing). */
async function unlockIfAsked(page) {
  const field = page.getByLabel('Passphrase', { exact: true });
  try {
    await field.waitFor({ timeout: 5000 });
  } catch {
    return;
  }
  await field.fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
}

/** Presses "sign" and "encrypt" on, if they are not. */
async function securityOn(page) {
  for (const name of ['Add digital signature to this message', 'Encrypt message contents and attachments']) {
    const toggle = page.getByRole('button', { name });
    if (await toggle.getAttribute('aria-pressed') !== 'true') await toggle.click();
  }
}

/** Opens New message and chooses formatted text for it. */
async function newFormattedMessage(page, { to, subject }) {
  await page.getByRole('button', { name: 'New message' }).click();
  await page.getByLabel('Format', { exact: true }).selectOption('html');
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByLabel('Subject', { exact: true }).fill(subject);
  return page.getByRole('textbox', { name: 'Formatted message' });
}

async function press(page, button) {
  await page.getByRole('toolbar', { name: 'Formatting' }).getByRole('button', { name: button }).click();
}

test('a formatted message signed and encrypted in the browser arrives as multipart/alternative and reads formatted', async () => {
  const subject = unique('Formatted sealed');
  const word = `budget${randomBytes(4).toString('hex')}`;
  const alice = await signedInPage(browser, server, 'alice');
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  const editor = await newFormattedMessage(alice, { to: rig.email('bob'), subject });
  await engineReady(alice);
  await securityOn(alice);
  await editor.click();
  await editor.pressSequentially('Hello ');
  await press(alice, 'Bold');
  assert.equal(await alice.getByRole('button', { name: 'Bold' }).getAttribute('aria-pressed'), 'true', 'Bold shows it is on');
  await editor.pressSequentially(word);
  await press(alice, 'Bold');
  await editor.pressSequentially(' team.');
  await editor.press('Enter');
  await press(alice, 'Bulleted list');
  await editor.pressSequentially('first item');

  // The draft is saved encrypted to alice, with its formatting, and reopens in the editor.
  await alice.locator('#draft-status').filter({ hasText: 'Encrypted draft saved at' }).waitFor({ timeout: 30000 });
  const [stored] = messagesOverImap('alice', 'Drafts', subject);
  assert.match(stored, /^Content-Type: application\/pkcs7-mime/im);
  assert.ok(!stored.includes(word), 'the draft keeps the words in the clear');
  await alice.goto(folderUrl('Drafts'));
  await (await waitForMessage(alice, subject)).click();
  await alice.getByRole('button', { name: 'Edit draft' }).click();
  await unlockIfAsked(alice);
  await alice.locator('#sealed-draft-status').filter({ hasText: 'Encrypted draft opened' }).waitFor({ timeout: 30000 });
  const reopened = alice.getByRole('textbox', { name: 'Formatted message' });
  assert.equal(await reopened.locator('b', { hasText: word }).count(), 1, 'the draft reopens formatted');
  assert.equal(await reopened.locator('li', { hasText: 'first item' }).count(), 1);
  await securityOn(alice); // a draft reopens encrypted; signing is chosen again
  await sendGivingPassphrase(alice);

  // openssl opens what was delivered (triple wrapped: signature, encryption, signature) and
  // finds both parts, saying the same words.
  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  const encrypted = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], Buffer.from(delivered));
  const inner = openssl(['cms', '-decrypt', '-recip', pki.file('bob.crt'), '-inkey', pki.file('bob.key')], encrypted);
  const content = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], inner);
  const found = parts(content);
  assert.deepEqual(found.map(([type]) => type), ['multipart/alternative', 'text/plain', 'text/html']);
  const [, [, plain], [, html]] = found;
  assert.match(plain, new RegExp(`Hello \\*\\*${word}\\*\\* team\\.`));
  assert.match(plain, /\* first item/);
  assert.match(html, new RegExp(`<b>${word}</b>`));
  assert.match(html, /<ul><li>first item<\/li><\/ul>/);

  // Bob's browser decrypts it and shows the formatting.
  const bob = await signedInPage(browser, server, 'bob');
  assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported .*Bob/);
  await bob.goto(folderUrl('INBOX'));
  await (await waitForMessage(bob, subject)).click();
  await unlockIfAsked(bob);
  await bob.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  const shown = bob.frameLocator('#sealed-message iframe.html-frame');
  assert.equal(await shown.locator('b', { hasText: word }).count(), 1, 'the bold word is bold');
  assert.equal(await shown.locator('li', { hasText: 'first item' }).count(), 1, 'the list is a list');
  await alice.context().close();
  await bob.context().close();
});

test('formatted mail the server sends: pasted scripts and trackers are gone, replies quote the formatting, a formatted draft reopens formatted', async () => {
  const subject = unique('Formatted plain');
  const alice = await signedInPage(browser, server, 'alice');
  const editor = await newFormattedMessage(alice, { to: rig.email('bob'), subject });
  // What a paste from a hostile page could put into the editor.
  await editor.evaluate((node) => {
    node.innerHTML = '<p>Visible <b>words</b> and <i>more</i></p><img src="http://127.0.0.1:9/track.gif" onerror="document.title=1">'
      + '<a href="javascript:document.title=2">click</a><script>document.title=3</script><ol><li>one</li></ol>';
    node.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await alice.getByRole('button', { name: 'Send' }).click();
  await alice.getByText('Your message was sent.').waitFor();

  const [delivered] = messagesOverImap('bob', 'INBOX', subject);
  const found = parts(Buffer.from(delivered));
  assert.deepEqual(found.map(([type]) => type), ['multipart/alternative', 'text/plain', 'text/html']);
  const [, [, plain], [, html]] = found;
  assert.match(html, /<b>words<\/b>/);
  for (const gone of ['track.gif', 'onerror', 'javascript:', '<script', 'document.title']) {
    assert.ok(!html.includes(gone), `${gone} was sent: ${html}`);
  }
  assert.match(plain, /Visible \*\*words\*\* and more/);
  assert.match(plain, /1\. one/);

  // Bob reads it formatted, and writes formatted by choice (Options): his reply quotes it with
  // its formatting.
  const bob = await signedInPage(browser, server, 'bob');
  await bob.goto(`${server.url}/options`);
  await bob.getByLabel(/Write new messages as formatted text/).check();
  await bob.getByRole('button', { name: 'Save' }).click();
  await bob.goto(folderUrl('INBOX'));
  await (await waitForMessage(bob, subject)).click();
  assert.equal(await bob.locator('.html-body b', { hasText: 'words' }).count(), 1);
  await bob.getByRole('button', { name: 'Reply', exact: true }).click();
  assert.equal(await bob.getByLabel('Format', { exact: true }).inputValue(), 'html');
  const reply = bob.getByRole('textbox', { name: 'Formatted message' });
  assert.equal(await reply.locator('blockquote b', { hasText: 'words' }).count(), 1, 'the quote keeps the bold');
  await reply.press('Control+Home');
  await reply.pressSequentially('Agreed, ');
  await press(bob, 'Italic');
  await reply.pressSequentially('gladly');
  await bob.locator('#draft-status').filter({ hasText: 'Draft saved at' }).waitFor({ timeout: 30000 });

  // The autosaved draft is formatted too, and reopens in the editor.
  const [draft] = messagesOverImap('bob', 'Drafts', subject);
  assert.match(draft, /multipart\/alternative/);
  await bob.goto(folderUrl('Drafts'));
  await (await waitForMessage(bob, `Re: ${subject}`)).click();
  await bob.getByRole('button', { name: 'Edit draft' }).click();
  const reopened = bob.getByRole('textbox', { name: 'Formatted message' });
  assert.equal(await reopened.locator('i', { hasText: 'gladly' }).count(), 1);
  assert.equal(await reopened.locator('blockquote b', { hasText: 'words' }).count(), 1);

  // Plain text on request: the words stay, the formatting goes.
  await bob.getByLabel('Format', { exact: true }).selectOption('plain');
  const text = await bob.getByLabel('Message', { exact: true }).inputValue();
  assert.match(text, /Agreed, gladly/);
  assert.match(text, /Visible words and more/);
  assert.equal(await reopened.isVisible(), false);
  await alice.context().close();
  await bob.context().close();
});
