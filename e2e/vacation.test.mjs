// Out of office and filters in a real browser, run by the rig's real Dovecot Pigeonhole: the user
// turns the reply on, outside senders write through Postfix, and their own mailboxes (read over
// IMAP) show what they got back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rig, unique, startServer, launchBrowser, deliverRaw, newUserPage } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 92 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const outside = (name) => ({ address: `${name}@${rig.outsideDomain}`, password: rig.password(name) });

/** Runs a small Python IMAP script as `who` and returns what it prints (JSON). */
function imap(who, script, ...args) {
  const program = `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', ${rig.imapPort})
m.login(sys.argv[1], sys.argv[2])
args = sys.argv[3:]
${script}
m.logout()
`;
  return JSON.parse(execFileSync('python3', ['-c', program, who.address, who.password, ...args]).toString());
}

/** The raw messages in `folder` whose subject contains `subject`. */
function messages(who, folder, subject) {
  return imap(who, `
m.select('"' + args[0] + '"', readonly=True)
found = m.search(None, 'SUBJECT', '"' + args[1] + '"')[1][0].split()
print(json.dumps([m.fetch(n, '(BODY.PEEK[])')[1][0][1].decode('utf-8', 'replace') for n in found]))
`, folder, subject);
}

/** Waits until `folder` holds at least `atLeast` matches, then a moment more so an extra copy would show. */
async function settledMessages(who, folder, subject, atLeast = 1) {
  const deadline = Date.now() + 15000;
  while (messages(who, folder, subject).length < atLeast && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
  }
  await new Promise((r) => setTimeout(r, 1500));
  return messages(who, folder, subject);
}

function send({ from, to, subject, body }) {
  const bytes = Buffer.from(`From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${unique('m').replace(/\W/g, '')}@${rig.outsideDomain}>\r\n\r\n${body}\r\n`);
  deliverRaw({ from, to, bytes });
}

/** An S/MIME message encrypted by openssl to a throwaway certificate (nobody here can read it). */
function encryptedMessage({ from, to, subject, secret }) {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-vacation-'));
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=someone');
  writeFileSync(join(dir, 'plain.txt'), `Content-Type: text/plain\r\n\r\n${secret}\r\n`);
  run('cms', '-encrypt', '-aes256', '-in', 'plain.txt', '-out', 'enc.eml', 'c.pem');
  const entity = readFileSync(join(dir, 'enc.eml')).toString().replace(/\r?\n/g, '\r\n');
  assert.match(entity, /application\/(x-)?pkcs7-mime/);
  const message = `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n${entity}`;
  const blob = entity.split('\r\n\r\n').slice(1).join('').split('\r\n').filter((l) => l.length > 20);
  return { bytes: Buffer.from(message), blob };
}

test('an outside sender gets one out-of-office reply, and encrypted mail is never quoted', async () => {
  const { page, user } = await newUserPage(browser, server, 'away');
  await page.goto(`${server.url}/options`);
  await page.getByRole('link', { name: 'Out of office', exact: true }).click();
  await page.getByRole('heading', { name: 'Out of office', level: 1 }).waitFor();
  assert.match(await page.locator('#vacation-status').innerText(), /Your out-of-office reply is off\./);

  const subject = unique('Away until Monday');
  const lastDay = new Date(Date.now() + 9 * 86400000);
  await page.getByLabel('Send an automatic reply to people who write to me', { exact: true }).check();
  await page.getByLabel('Last day', { exact: true }).fill(lastDay.toISOString().slice(0, 10));
  await page.getByLabel('Subject', { exact: true }).fill(subject);
  await page.getByLabel('Message', { exact: true }).fill('I am away this week.\nFor anything urgent, call Bob.');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Your out-of-office settings were saved.' }).waitFor();
  const month = lastDay.toLocaleString('en-GB', { month: 'long', timeZone: 'UTC' });
  assert.equal(await page.locator('#vacation-status').innerText(),
    `Your out-of-office reply is on until ${lastDay.getUTCDate()} ${month}.`);

  const olivia = outside('olivia');
  const question = unique('Question');
  send({ from: olivia.address, to: user.address, subject: `${question} one`, body: 'First question.' });
  send({ from: olivia.address, to: user.address, subject: `${question} two`, body: 'Second question.' });
  const replies = await settledMessages(olivia, 'INBOX', subject);
  assert.equal(replies.length, 1, 'two messages from one sender get one reply');
  assert.match(replies[0], /I am away this week\.\r\nFor anything urgent, call Bob\./);
  assert.match(replies[0], /^Auto-Submitted: auto-replied/m);
  assert.doesNotMatch(replies[0], /question/i, 'the reply carries nothing of the messages it answers');

  const oscar = outside('oscar');
  const secretSubject = unique('Merger plans');
  const encrypted = encryptedMessage({ from: oscar.address, to: user.address, subject: secretSubject, secret: 'The merger closes on Friday.' });
  deliverRaw({ from: oscar.address, to: user.address, bytes: encrypted.bytes });
  const [reply] = await settledMessages(oscar, 'INBOX', subject);
  assert.ok(reply, 'the sender of encrypted mail gets the reply too');
  assert.match(reply, /I am away this week\./);
  assert.ok(!reply.includes(secretSubject), 'the reply does not repeat the encrypted message\'s subject');
  assert.doesNotMatch(reply, /pkcs7|smime\.p7m|merger/i);
  for (const line of encrypted.blob) assert.ok(!reply.includes(line), 'the reply quotes none of the encrypted body');
  await page.context().close();
});

test('a filter moves mail from a given sender into the chosen folder', async () => {
  const { page, user } = await newUserPage(browser, server, 'away');
  imap(user, "print(json.dumps(m.create('Newsletters')[0]))");
  await page.goto(`${server.url}/options`);
  await page.getByRole('link', { name: 'Filters', exact: true }).click();
  await page.getByRole('heading', { name: 'Filters', level: 1 }).waitFor();
  const oscar = outside('oscar');
  await page.getByLabel('If the', { exact: true }).selectOption('from');
  await page.getByLabel('contains', { exact: true }).fill(oscar.address);
  await page.getByLabel('then', { exact: true }).selectOption('move');
  await page.getByLabel('Folder (for a move)', { exact: true }).selectOption('Newsletters');
  await page.getByRole('button', { name: 'Add filter' }).click();
  await page.getByRole('status').filter({ hasText: 'The filter was added.' }).waitFor();
  assert.match(await page.locator('#filters-list').innerText(), /Sender\s+oscar@outside\.test\s+move to Newsletters/);

  const letter = unique('Weekly letter');
  send({ from: oscar.address, to: user.address, subject: letter, body: 'This week.' });
  const other = unique('Not a letter');
  send({ from: outside('olivia').address, to: user.address, subject: other, body: 'Hello.' });
  assert.equal((await settledMessages(user, 'Newsletters', letter)).length, 1);
  assert.equal(messages(user, 'INBOX', letter).length, 0);
  assert.equal(messages(user, 'INBOX', other).length, 1, 'mail from anyone else stays in the Inbox');
  await page.context().close();
});
