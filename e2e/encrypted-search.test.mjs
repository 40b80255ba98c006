// Search inside encrypted mail (issue 20): 300 messages encrypted by openssl (so nothing here
// was indexed while sending) are delivered to a new user; the user indexes the folder in the
// browser and finds the one message whose body holds a word. No request of the session carries
// that word, the stored index is sealed, a new tab needs the passphrase before it can search,
// a message opened in the reader is indexed too, and removing the digital ID removes its index.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, makePki, issueIdentity, importDigitalId, PASSPHRASE,
  startRecordingProxy, assertNoneContains, newUserPage, settledCount, engineReady,
} from './harness.mjs';

let server;
let proxy;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 90, pki });
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

/** A word no message, header or request would hold by chance: letters only, so it is one word. */
function rareWord() {
  return `quokka${[...randomBytes(8)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;
}

/** `count` messages to `to`, each encrypted by openssl to `cert`; `bodies(i)` is message i's text. */
function encryptedMessages({ cert, to, count, subject, bodies }) {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-encrypted-search-'));
  const files = [];
  for (let i = 0; i < count; i += 1) {
    const plain = join(dir, `plain-${i}.txt`);
    writeFileSync(plain, `Content-Type: text/plain; charset=utf-8\r\n\r\n${bodies(i)}\r\n`);
    const out = join(dir, `sealed-${i}.eml`);
    execFileSync('openssl', ['cms', '-encrypt', '-in', plain, '-aes-256-cbc', '-recip', cert, '-from', 'olivia@outside.test',
      '-to', to, '-subject', subject(i), '-out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    files.push(out);
  }
  return files;
}

/** Delivers message files to `to` through Postfix's inbound port, in one SMTP session. */
function deliverFiles(to, files) {
  const script = `
import smtplib, sys
with smtplib.SMTP('127.0.0.1', ${rig.smtpPort}) as s:
    for name in sys.argv[2:]:
        with open(name, 'rb') as f:
            s.sendmail('olivia@outside.test', [sys.argv[1]], f.read())
`;
  execFileSync('python3', ['-c', script, to, ...files], { stdio: 'inherit' });
}

/** Waits until the server lists `count` encrypted messages in the Inbox (delivery takes a moment). */
async function allDelivered(page, count) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const listed = await page.evaluate(async () => (await (await fetch('/api/search/encrypted?folder=INBOX')).json()).messages.length);
    if (listed === count) return;
    if (Date.now() > deadline) throw new Error(`${listed} of ${count} encrypted messages arrived`);
    await page.waitForTimeout(300);
  }
}

const FILLER = 'The quarterly figures are attached. Please read them before the meeting on Thursday, and bring your notes. ';

test('the browser indexes 300 encrypted messages and finds a word inside one, telling the server nothing', async () => {
  const word = rareWord();
  const later = rareWord();
  const batch = unique('Sealed');
  const { page, user } = await newUserPage(browser, proxy, 'finder');
  const id = issueIdentity(pki, { email: user.address, name: 'Finn Finder', password: 'finder' });
  const start = proxy.requests.length;

  const files = encryptedMessages({
    cert: id.cert,
    to: user.address,
    count: 300,
    subject: (i) => `${batch} ${i}`,
    bodies: (i) => FILLER.repeat(15) + (i === 137 ? `The code word is ${word}.` : 'Nothing special here.'),
  });
  deliverFiles(user.address, files);
  const inbox = `${proxy.url}/mail?folder=INBOX`;
  // Postfix delivers in parallel, so the last one sent need not be the newest: count them all.
  await allDelivered(page, 300);

  assert.match(await importDigitalId(page, id.p12, 'finder'), /Imported/);
  await page.goto(`${proxy.url}/search`);
  const section = page.getByRole('region', { name: 'Inside encrypted messages' });
  await engineReady(page);
  await section.getByRole('button', { name: 'Index encrypted messages in Inbox' }).click();
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
  // The pass can be paused, and going on indexes only what is left.
  await section.getByRole('button', { name: 'Pause' }).click();
  const paused = section.getByRole('status').filter({ hasText: /^Paused after \d+ of 300 encrypted messages in Inbox/ });
  await paused.waitFor({ timeout: 60000 });
  const before = Number((await paused.innerText()).match(/after (\d+)/)[1]);
  assert.ok(before < 300, `the pass did not pause: ${before}`);
  await section.getByRole('button', { name: 'Index encrypted messages in Inbox' }).click();
  const rest = 300 - before;
  await section.getByRole('status')
    .filter({ hasText: `Indexed ${rest} more encrypted message${rest === 1 ? '' : 's'} in Inbox; 300 in all` })
    .waitFor({ timeout: 240000 });

  const here = section.getByRole('searchbox', { name: 'Search inside encrypted messages, in this browser only' });
  await here.fill(word);
  await section.getByRole('button', { name: 'Search here' }).click();
  await section.getByRole('status').filter({ hasText: '1 encrypted message found among the 300 encrypted messages indexed in this browser.' }).waitFor();
  const results = section.getByRole('listitem');
  assert.equal(await results.count(), 1);
  assert.equal(await results.getByRole('link').innerText(), `${batch} 137`);
  // A word of every message finds them all; one of none finds nothing, and says so.
  await here.fill('quarterly thursday');
  await section.getByRole('button', { name: 'Search here' }).click();
  await section.getByRole('status').filter({ hasText: /^300 encrypted messages found/ }).waitFor();
  await here.fill('   ');
  await section.getByRole('button', { name: 'Search here' }).click();
  await section.getByRole('status').filter({ hasText: 'Type a word to search for.' }).waitFor();

  // The result opens the message, decrypted here as always.
  await here.fill(word);
  await section.getByRole('button', { name: 'Search here' }).click();
  await results.getByRole('link', { name: `${batch} 137` }).click();
  await page.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await page.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(word));

  // A message opened in the reader is indexed as it is read.
  const [extra] = encryptedMessages({
    cert: id.cert, to: user.address, count: 1, subject: () => `${batch} later`, bodies: () => `Also ${later} inside.`,
  });
  deliverFiles(user.address, [extra]);
  assert.equal(await settledCount(page, inbox, `${batch} later`), 1);
  await page.getByRole('link', { name: `${batch} later`, exact: true }).click();
  await page.locator('#sealed-message[data-indexed="done"]').waitFor({ timeout: 30000 });
  await page.goto(`${proxy.url}/search`);
  await page.locator('#encrypted-search[data-state="ready"]').waitFor();
  await here.fill(later);
  await section.getByRole('button', { name: 'Search here' }).click();
  await section.getByRole('status').filter({ hasText: /^1 encrypted message found among the 301/ }).waitFor();

  // Nothing the server received holds either word, so neither the index nor a query went there.
  assertNoneContains(proxy.requests.slice(start), { 'the word': Buffer.from(word), 'the later word': Buffer.from(later) });

  // What IndexedDB keeps is sealed: the word is not in it.
  const stored = await page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('sealmail-keys');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const all = open.result.transaction('indexes').objectStore('indexes').getAll();
      all.onsuccess = () => resolve(all.result.map((r) => Array.from(r.sealed)));
    };
  }));
  assert.equal(stored.length, 1);
  assert.ok(stored[0].length > 1000, 'the sealed index is suspiciously small');
  assert.equal(Buffer.from(stored[0]).indexOf(word), -1, 'the stored index holds the word in clear');

  // A search the server runs (so the server has the word now) lists the browser's find among
  // its own results, by date: a readable message with the word, then the encrypted one.
  const plain = join(mkdtempSync(join(tmpdir(), 'sealmail-encrypted-search-')), 'plain.eml');
  writeFileSync(plain, `From: olivia@outside.test\r\nTo: ${user.address}\r\nSubject: ${batch} readable\r\n`
    + `Content-Type: text/plain\r\n\r\nThe ${word} in plain text.\r\n`);
  deliverFiles(user.address, [plain]);
  assert.equal(await settledCount(page, inbox, `${batch} readable`), 1);
  await page.goto(`${proxy.url}/search?q=${word}&folder=INBOX`);
  await page.locator('#encrypted-search[data-state="ready"]').waitFor();
  const rows = page.getByRole('table').getByRole('row');
  await page.locator('tr.found-inside').waitFor();
  assert.deepEqual(await rows.locator('td.subject a').allInnerTexts(), [`${batch} readable`, `${batch} 137`]);
  assert.match(await page.locator('tr.found-inside').innerText(), /found inside/);
  assert.equal(await page.getByRole('table').locator('caption').innerText(),
    '1 message found in Inbox, page 1 of 1, newest first; and 1 encrypted message found inside by this browser');
  await section.getByRole('status').filter({ hasText: /^1 encrypted message found inside by this browser.*1 listed above/ }).waitFor();

  // Another tab: the index is there, but locked until the passphrase is given (a wrong one is refused).
  const tab = await page.context().newPage();
  await tab.goto(`${proxy.url}/search`);
  const tabSection = tab.getByRole('region', { name: 'Inside encrypted messages' });
  await tabSection.getByRole('status').filter({ hasText: /^Your digital ID is locked/ }).waitFor();
  await tabSection.getByRole('searchbox', { name: 'Search inside encrypted messages, in this browser only' }).fill(word);
  await tabSection.getByRole('button', { name: 'Search here' }).click();
  await tab.getByLabel('Passphrase', { exact: true }).fill('not the passphrase');
  await tab.getByRole('button', { name: 'Unlock' }).click();
  await tab.getByText('The passphrase is wrong. Try again.').waitFor();
  await tab.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await tab.getByRole('button', { name: 'Unlock' }).click();
  await tabSection.getByRole('link', { name: `${batch} 137` }).waitFor();

  // Removing the digital ID removes its index.
  await tab.getByRole('link', { name: 'Digital IDs' }).click();
  await tab.getByRole('button', { name: /^Remove / }).click();
  await tab.getByRole('button', { name: /^Remove / }).waitFor({ state: 'detached' });
  const left = await tab.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('sealmail-keys');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const count = open.result.transaction('indexes').objectStore('indexes').count();
      count.onsuccess = () => resolve(count.result);
    };
  }));
  assert.equal(left, 0, 'the index outlived its digital ID');
  await tab.goto(`${proxy.url}/search`);
  await tabSection.getByRole('status').filter({ hasText: /^No digital ID is stored in this browser/ }).waitFor();
  await page.context().close();
});
