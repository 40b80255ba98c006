// S/MIME in the browser, end to end: digital IDs imported into the page's key store, messages
// signed and encrypted in WebAssembly, opened by the recipient's browser — with every request
// the browsers make recorded and searched for private keys and plaintext.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, readDownload, makePki, issueIdentity,
  engineReady, composeSecure, importDigitalId, PASSPHRASE, sentNotice, sendGivingPassphrase,
  deliverRaw, startRecordingProxy, settledCount, secretsOf, assertNoneContains,
} from './harness.mjs';

let server;
let proxy;
let front; // what the browsers talk to: the server behind the recording proxy
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ pki });
  proxy = await startRecordingProxy(server.url);
  front = { url: proxy.url };
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

const folderUrl = (name) => `${front.url}/mail?folder=${encodeURIComponent(name)}`;
const work = () => mkdtempSync(join(tmpdir(), 'sealmail-smime-e2e-'));

/** Every request the browsers made from now on, as the recording proxy saw it. */
function recordRequests() {
  const start = proxy.requests.length;
  return { get all() { return proxy.requests.slice(start); } };
}

async function storedIds(page) {
  return page.locator('#ids > li').count();
}

async function unlockIfAsked(page, passphrase = PASSPHRASE) {
  const field = page.getByLabel('Passphrase', { exact: true });
  await field.waitFor({ timeout: 15000 });
  await field.fill(passphrase);
  await page.getByRole('button', { name: 'Unlock' }).click();
}

/** Waits for "Your message was sent."; fails at once with the page's words if it says it was not. */
function openssl(args, input) {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
}

test('alice signs and encrypts a 5 MB attachment to bob; bob and alice read it; no key or plaintext reaches the server', async () => {
  const subject = unique('Sealed budget');
  const text = `The sealed numbers ${randomBytes(8).toString('hex')} are attached.`;
  const attachment = randomBytes(5 * 1024 * 1024);

  const alice = await signedInPage(browser, front, 'alice');
  const aliceRequests = recordRequests();
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  await composeSecure(alice, {
    to: rig.email('bob'), subject, body: text, sign: true, encrypt: true,
    files: [{ name: 'budget.bin', mimeType: 'application/octet-stream', buffer: attachment }],
  });
  // Every step the progress bar names, and how full it was, while the message is sealed and sent
  // (kept in sessionStorage: the page moves on once it is sent).
  await alice.evaluate(() => {
    const seen = [];
    const label = document.getElementById('send-progress-label');
    const bar = document.getElementById('send-progress');
    new MutationObserver(() => {
      seen.push([label.textContent, bar.hasAttribute('value') ? bar.value : null]);
      sessionStorage.setItem('progressSeen', JSON.stringify(seen));
    }).observe(label, { childList: true, characterData: true, subtree: true });
  });
  await alice.getByRole('button', { name: 'Send' }).click();
  await unlockIfAsked(alice);
  await sentNotice(alice);
  const seen = await alice.evaluate(() => JSON.parse(sessionStorage.getItem('progressSeen') || '[]'));
  assert.ok(seen.some(([text, value]) => text === 'Signing and encrypting…' && value === null), JSON.stringify(seen));
  const uploads = seen.filter(([text]) => /^Uploading .+ of \d+\.\d MB…$/.test(text));
  assert.ok(uploads.length > 0 && uploads.every(([, value]) => value > 0 && value <= 1), JSON.stringify(seen));

  const bob = await signedInPage(browser, front, 'bob');
  const bobRequests = recordRequests();
  assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported .*Bob/);
  await bob.goto(folderUrl('INBOX'));
  const sealedLink = await waitForMessage(bob, subject);
  assert.match(await bob.locator('tr', { has: sealedLink }).textContent(), /Encrypted\./, 'the list marks the encrypted message');
  await sealedLink.click();
  await bob.getByText('Encrypted message').waitFor();
  await unlockIfAsked(bob);
  const banner = bob.locator('#sealed-message .smime-banner');
  await banner.waitFor({ timeout: 30000 });
  assert.match(await banner.innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted\./);
  const details = bob.locator('#sealed-message .signature-details');
  assert.equal(await details.isVisible(), false, 'the signature details show before "Verify signature"');
  await bob.getByRole('button', { name: 'Verify signature' }).click();
  assert.match(await details.innerText(), /Sealmail Demo Email CA/);
  assert.match(await details.innerText(), /Algorithms\s+RSA PKCS#1 v1\.5 with SHA-256$/m);
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text));
  const [download] = await Promise.all([
    bob.waitForEvent('download'),
    bob.getByRole('link', { name: 'Download budget.bin' }).click(),
  ]);
  assert.ok((await readDownload(download)).equals(attachment), 'bob\'s download differs from what alice attached');

  // Forwarding it from the server's side cannot quote or attach what only the browser can read.
  const messageUrl = bob.url();
  await bob.getByRole('button', { name: 'Forward' }).click();
  assert.match(await bob.getByLabel('Message', { exact: true }).inputValue(), /\[The original message is encrypted and is not quoted\.\]/);
  assert.equal(await bob.locator('input[name="keep_part"]').count(), 0, 'the ciphertext was offered as an attachment');
  await bob.goto(messageUrl); // unlocked once this session: no passphrase question now
  await bob.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  // That unlocked key lives in memory only: nothing in the browser's storage is a key.
  const stored = await bob.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('sealmail-keys');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const names = [...db.objectStoreNames];
      const keys = [];
      const tx = db.transaction(names, 'readonly');
      for (const name of names) {
        const all = tx.objectStore(name).getAll();
        all.onsuccess = () => {
          for (const record of all.result) {
            for (const value of Object.values(record)) if (value instanceof CryptoKey) keys.push(name);
          }
        };
      }
      tx.oncomplete = () => { db.close(); resolve({ names, keys }); };
    };
  }));
  assert.ok(stored.names.includes('identities'), stored.names.join());
  assert.ok(!stored.names.includes('unlocked'), `an "unlocked" store is on disk: ${stored.names}`);
  assert.deepEqual(stored.keys, [], 'a CryptoKey is stored in IndexedDB');

  // The delivered message is triple wrapped (TripleWrap is on by default): alice's outer
  // signature verifies with openssl, bob's key opens what it signs, and her inner signature
  // verifies.
  const rawHref = await bob.locator('#sealed-message').getAttribute('data-raw-href');
  const raw = await (await bob.request.get(`${front.url}${rawHref}`)).body();
  const encrypted = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw);
  assert.match(encrypted.toString(), /application\/pkcs7-mime/);
  const inner = openssl(['cms', '-decrypt', '-recip', pki.file('bob.crt'), '-inkey', pki.file('bob.key')], encrypted);
  const content = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], inner);
  assert.match(content.toString(), new RegExp(text));

  // Alice's Sent copy was encrypted to her too.
  await alice.goto(folderUrl('Sent'));
  await (await waitForMessage(alice, subject)).click();
  await alice.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await alice.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text));

  const plaintext = {
    'the body text': Buffer.from(text),
    'the attachment': attachment.subarray(1 << 20, (1 << 20) + 64),
    'the attachment in base64': Buffer.from(attachment.subarray(57 * 1000, 57 * 1001).toString('base64')),
  };
  const requests = aliceRequests.all; // begun before bob's, so it holds both
  const sealed = requests.find((r) => r.url.includes('/compose/sealed'));
  assert.ok(sealed && sealed.body.length > attachment.length, 'the sealed send and its body were not recorded');
  assertNoneContains(requests, { ...secretsOf(pki, 'alice'), ...secretsOf(pki, 'bob'), ...plaintext });
  await alice.context().close();
  await bob.context().close();
});

test('clear-signed only: bob sees the valid signature the server checked, and openssl verifies it', async () => {
  const subject = unique('Signed note');
  const text = `Signed but readable ${randomBytes(6).toString('hex')}.`;
  const attachment = randomBytes(300 * 1024);
  const alice = await signedInPage(browser, front, 'alice');
  const requests = recordRequests();
  await importDigitalId(alice, pki.p12('alice'), 'alice');
  await composeSecure(alice, {
    to: rig.email('bob'), subject, body: text, sign: true, encrypt: false,
    files: [{ name: 'notes.bin', mimeType: 'application/octet-stream', buffer: attachment }],
  });
  await alice.getByRole('button', { name: 'Send' }).click();
  await unlockIfAsked(alice);
  await sentNotice(alice);
  assertNoneContains(requests.all, secretsOf(pki, 'alice'));

  const bob = await signedInPage(browser, front, 'bob');
  const signedLink = await waitForMessage(bob, subject);
  const signedRow = await bob.locator('tr', { has: signedLink }).textContent();
  assert.match(signedRow, /Signed\./, 'the list marks the signed message');
  assert.doesNotMatch(signedRow, /Encrypted\./, 'a signed-only message is not marked encrypted');
  await signedLink.click();
  const banner = bob.locator('.smime-banner').first();
  assert.match(await banner.innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted\./);
  const details = banner.locator('.signature-details');
  assert.equal(await details.isVisible(), false, 'the signature details show before "Verify signature"');
  await banner.getByRole('button', { name: 'Verify signature' }).click();
  assert.match(await details.innerText(), /Algorithms\s+RSA PKCS#1 v1\.5 with SHA-256$/m);
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text));
  const [download] = await Promise.all([
    bob.waitForEvent('download'),
    bob.getByRole('link', { name: 'Download notes.bin' }).click(),
  ]);
  assert.ok((await readDownload(download)).equals(attachment));
  assert.equal(await bob.getByRole('link', { name: /smime\.p7s/ }).count(), 0, 'the signature part is shown as an attachment');
  const messageUrl = bob.url();
  await bob.getByRole('button', { name: 'Forward' }).click();
  assert.match(await bob.getByLabel('Message', { exact: true }).inputValue(), new RegExp(text));
  assert.ok(await bob.getByLabel(/^notes\.bin/).isChecked(), 'the signed message\'s attachment is not offered for forwarding');
  assert.equal(await bob.getByLabel(/smime\.p7s/).count(), 0);
  await bob.goto(messageUrl);

  const rawHref = `/message/raw?${new URL(bob.url()).searchParams.toString()}`;
  const raw = await (await bob.request.get(`${front.url}${rawHref}`)).body();
  assert.match(raw.toString('latin1'), /multipart\/signed/);
  assert.match(openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw).toString(), new RegExp(text));
  await alice.context().close();
  await bob.context().close();
});

test('opaque-signed when ClearSign is off: bob sees the valid signature, and openssl verifies it', async () => {
  const opaqueServer = await startServer({ pki, port: rig.portBase + 83, extra: '[smime]\nclear_sign = false\n' });
  try {
    const subject = unique('Opaque note');
    const text = `Signed inside the envelope ${randomBytes(6).toString('hex')}.`;
    const alice = await signedInPage(browser, opaqueServer, 'alice');
    await importDigitalId(alice, pki.p12('alice'), 'alice');
    await composeSecure(alice, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: false });
    await alice.getByRole('button', { name: 'Send' }).click();
    await unlockIfAsked(alice);
    await sentNotice(alice);

    const bob = await signedInPage(browser, front, 'bob');
    await (await waitForMessage(bob, subject)).click();
    assert.match(await bob.locator('.smime-banner').first().innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted\./);
    assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text));
    const raw = await (await bob.request.get(`${front.url}/message/raw?${new URL(bob.url()).searchParams}`)).body();
    assert.match(raw.toString('latin1'), /application\/pkcs7-mime;[^\r\n]*smime-type=signed-data/i);
    assert.match(openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw).toString(), new RegExp(text));
    await alice.context().close();
    await bob.context().close();
  } finally {
    await opaqueServer.stop();
  }
});

test('banners in the seeds\' words: an untrusted issuer, altered content, a signer who is not the sender', async () => {
  const dir = work();
  writeFileSync(join(dir, 'body.txt'), 'Content-Type: text/plain\r\n\r\nPlease pay invoice 42.\r\n');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'self.key'), '-out', join(dir, 'self.crt'),
    '-days', '30', '-subj', '/CN=Mallory', '-addext', 'subjectAltName=email:mallory@outside.test',
    '-addext', 'extendedKeyUsage=emailProtection'], { stdio: 'pipe' });
  const sign = (signer, key, from, subject, certfile = []) => openssl(['cms', '-sign', '-in', join(dir, 'body.txt'),
    '-signer', signer, '-inkey', key, ...certfile, '-from', from, '-to', rig.email('bob'), '-subject', subject]);

  const untrusted = unique('Self-signed');
  deliverRaw({ from: 'mallory@outside.test', to: rig.email('bob'), bytes: sign(join(dir, 'self.crt'), join(dir, 'self.key'), 'mallory@outside.test', untrusted) });
  const altered = unique('Altered');
  const good = sign(pki.file('alice.crt'), pki.file('alice.key'), rig.email('alice'), altered, ['-certfile', pki.file('ca.crt')]);
  deliverRaw({ from: rig.email('alice'), to: rig.email('bob'), bytes: Buffer.from(good.toString('latin1').replace('invoice 42', 'invoice 97'), 'latin1') });
  const impostor = unique('Impostor');
  deliverRaw({ from: rig.email('carol'), to: rig.email('bob'), bytes: sign(pki.file('alice.crt'), pki.file('alice.key'), rig.email('carol'), impostor, ['-certfile', pki.file('ca.crt')]) });

  const bob = await signedInPage(browser, front, 'bob');
  for (const [subject, words] of [
    [untrusted, 'The digital ID was issued by an untrusted source.'],
    [altered, 'The message was altered after it was signed: its content does not match the signature.'],
    [impostor, `The message was signed by ${rig.email('alice')}, who is not the sender`],
  ]) {
    await bob.goto(folderUrl('INBOX'));
    await (await waitForMessage(bob, subject)).click();
    const banner = bob.locator('.smime-banner.invalid').first();
    assert.ok((await banner.innerText()).includes(words), `${subject}: ${await banner.innerText()}`);
    assert.equal(await bob.getByRole('button', { name: 'Add sender\'s certificate to contacts' }).count(), 0);
  }
  await bob.context().close();
});

test('mail from openssl: AES-256-GCM with RSA-OAEP opens in bob\'s browser; an opaque signature verifies at the server', async () => {
  const dir = work();
  const secret = `From the other program ${randomBytes(6).toString('hex')}`;
  writeFileSync(join(dir, 'body.txt'), `Content-Type: text/plain; charset=utf-8\r\n\r\n${secret}\r\n`);
  const encSubject = unique('Openssl sealed');
  const encrypted = openssl(['cms', '-encrypt', '-in', join(dir, 'body.txt'), '-aes-256-gcm',
    '-recip', pki.file('bob.crt'), '-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256',
    '-from', 'olivia@outside.test', '-to', rig.email('bob'), '-subject', encSubject]);
  assert.match(encrypted.toString('latin1'), /authEnveloped-data/);
  deliverRaw({ from: 'olivia@outside.test', to: rig.email('bob'), bytes: encrypted });

  const signedSubject = unique('Openssl opaque');
  const opaque = openssl(['cms', '-sign', '-nodetach', '-in', join(dir, 'body.txt'), '-signer', pki.file('alice.crt'),
    '-inkey', pki.file('alice.key'), '-certfile', pki.file('ca.crt'), '-from', rig.email('alice'), '-to', rig.email('bob'),
    '-subject', signedSubject]);
  deliverRaw({ from: rig.email('alice'), to: rig.email('bob'), bytes: opaque });

  const bob = await signedInPage(browser, front, 'bob');
  const requests = recordRequests();
  await importDigitalId(bob, pki.p12('bob'), 'bob');
  await bob.goto(folderUrl('INBOX'));
  await (await waitForMessage(bob, encSubject)).click();
  await unlockIfAsked(bob);
  await bob.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(secret));
  assertNoneContains(requests.all, { ...secretsOf(pki, 'bob'), 'the plaintext': Buffer.from(secret) });

  await bob.goto(folderUrl('INBOX'));
  await (await waitForMessage(bob, signedSubject)).click();
  assert.match(await bob.locator('.smime-banner').first().innerText(), /Signed by alice@.*The signature is valid/);
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(secret));
  await bob.context().close();
});

test('a wrong file password, a damaged file and an expired certificate are refused with a reason; nothing is stored', async () => {
  const carol = await signedInPage(browser, front, 'carol');
  assert.match(await importDigitalId(carol, pki.p12('carol'), 'not-the-password'), /not imported: The password for this digital ID file is wrong\./);
  const damaged = Buffer.from(pki.p12('carol'));
  damaged.fill(0x41, 200, 260);
  assert.match(await importDigitalId(carol, damaged.subarray(0, damaged.length - 100), 'carol'), /not imported: This file is not a digital ID file \(PKCS#12\), or it is damaged\./);
  assert.match(await importDigitalId(carol, issueIdentity(pki, { email: rig.email('carol'), name: 'Carol (expired)', password: 'carol', start: '20200101000000Z', end: '20210101000000Z' }).p12, 'carol'), /not imported: its certificate expired on 2021-01-01\./);
  assert.equal(await storedIds(carol), 0);
  await carol.context().close();
});

test('a digital ID that runs out within a month is announced on every page', async () => {
  const carol = await signedInPage(browser, front, 'carol');
  const notice = carol.locator('#renewal-notice');
  assert.equal(await notice.isVisible(), false, 'announced with no digital ID in this browser');
  const inTenDays = new Date(Date.now() + 10 * 86400 * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  const shortLived = issueIdentity(pki, { email: rig.email('carol'), name: 'Carol (short)', password: 'carol', end: inTenDays });
  assert.match(await importDigitalId(carol, shortLived.p12, 'carol'), /Imported/);
  await carol.goto(`${front.url}/mail?folder=INBOX`);
  await notice.waitFor();
  assert.match(await notice.innerText(),
    new RegExp(`Your digital ID for ${rig.email('carol')} expires on \\d{4}-\\d{2}-\\d{2}, in (9|10) days\\. Get a new one before then`));
  await carol.context().close();
});

test('AllowUserChoiceOfSigningCertificate: alice picks the older of her two digital IDs to sign, and that one signed', async () => {
  const choosing = await startServer({ pki, port: rig.portBase + 99, extra: '[smime]\nallow_user_choice_of_signing_certificate = true\n' });
  try {
    const alice = await signedInPage(browser, choosing, 'alice');
    assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported/);
    const second = issueIdentity(pki, { email: rig.email('alice'), name: 'Alice Second', password: 'alice' });
    assert.match(await importDigitalId(alice, second.p12, 'alice'), /Imported/);
    const subject = unique('Chosen signer');
    await alice.goto(`${choosing.url}/mail?folder=INBOX`);
    await composeSecure(alice, { to: rig.email('bob'), subject, body: 'Signed with the one I chose.', sign: true, encrypt: false });
    const signWith = alice.getByLabel('Sign with');
    await signWith.waitFor();
    const offered = await signWith.locator('option').allInnerTexts();
    assert.equal(offered.length, 2, offered.join('\n'));
    // The page would pick the newest, Alice Second: choose the other one.
    assert.match(await signWith.locator('option:checked').innerText(), /Alice Second/);
    await signWith.selectOption({ label: offered.find((o) => !o.includes('Alice Second')) });
    await sendGivingPassphrase(alice);

    const bob = await signedInPage(browser, choosing, 'bob');
    await (await waitForMessage(bob, subject)).click();
    const rawHref = `/message/raw?${new URL(bob.url()).searchParams.toString()}`;
    const raw = await (await bob.request.get(`${choosing.url}${rawHref}`)).body();
    const dir = work();
    openssl(['cms', '-verify', '-CAfile', pki.file('root.crt'), '-signer', join(dir, 'signer.pem')], raw);
    const signer = openssl(['x509', '-in', join(dir, 'signer.pem'), '-noout', '-subject']).toString();
    assert.match(signer, /CN ?= ?Alice/);
    assert.doesNotMatch(signer, /Alice Second/, 'the digital ID alice chose did not sign');
    await alice.context().close();
    await bob.context().close();
  } finally {
    await choosing.stop();
  }
});

test('without a digital ID: signing is refused with the seeds\' words, and encrypted mail cannot be opened', async () => {
  const subject = unique('No key here');
  const alice = await signedInPage(browser, front, 'alice');
  await importDigitalId(alice, pki.p12('alice'), 'alice');
  await composeSecure(alice, { to: rig.email('carol'), subject, body: 'For carol only.', sign: false, encrypt: true });
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);

  const carol = await signedInPage(browser, front, 'carol');
  await (await waitForMessage(carol, subject)).click();
  await carol.getByText("This message can't be decrypted. If you have a smart card-based digital ID, insert the card and try to open the message again.").waitFor();
  await composeSecure(carol, { to: rig.email('alice'), subject: unique('Unsigned'), body: 'x', sign: true, encrypt: false });
  await carol.getByRole('button', { name: 'Send' }).click();
  await carol.getByRole('alert').filter({ hasText: 'A digital ID that allows you to sign this message is missing.' }).waitFor();
  assert.equal(await carol.getByLabel('Subject', { exact: true }).inputValue() !== '', true, 'the message was lost');
  await alice.context().close();
  await carol.context().close();
});

test('Options set the compose toggles; a signer from outside is added to contacts in one click and can then get encrypted mail', async () => {
  const carol = await signedInPage(browser, front, 'carol');
  // Her own digital ID is what tells this browser which authority to trust for others.
  await importDigitalId(carol, pki.p12('carol'), 'carol');
  const toggles = async () => {
    await carol.getByRole('button', { name: 'New message' }).click();
    await engineReady(carol);
    return Promise.all(['Add digital signature to this message', 'Encrypt message contents and attachments']
      .map((name) => carol.getByRole('button', { name }).getAttribute('aria-pressed')));
  };
  assert.deepEqual(await toggles(), ['false', 'false']);
  const setOptions = async (sign, encrypt) => {
    await carol.getByRole('link', { name: 'Options' }).click();
    await carol.getByLabel('Add digital signature to outgoing messages').setChecked(sign);
    await carol.getByLabel('Encrypt contents and attachments for outgoing messages').setChecked(encrypt);
    await carol.getByRole('button', { name: 'Save' }).click();
    await carol.getByRole('status').filter({ hasText: 'Your options were saved.' }).waitFor();
  };
  await setOptions(true, true);
  assert.deepEqual(await toggles(), ['true', 'true']);
  await setOptions(false, true);
  assert.deepEqual(await toggles(), ['false', 'true']);
  await setOptions(false, false);

  // Dave, outside the directory, sends carol signed mail from another program.
  const dave = issueIdentity(pki, { email: 'dave@elsewhere.test', name: 'Dave Outside', password: 'dave' });
  const dir = work();
  writeFileSync(join(dir, 'body.txt'), 'Content-Type: text/plain\r\n\r\nHello from Dave.\r\n');
  const subject = unique('From Dave');
  deliverRaw({
    from: 'dave@elsewhere.test', to: rig.email('carol'),
    bytes: openssl(['cms', '-sign', '-in', join(dir, 'body.txt'), '-signer', dave.cert, '-inkey', dave.key,
      '-certfile', pki.file('ca.crt'), '-from', 'dave@elsewhere.test', '-to', rig.email('carol'), '-subject', subject]),
  });
  // Before: no certificate for dave, and the sender is told so by name.
  await composeSecure(carol, { to: 'dave@elsewhere.test', subject: unique('To Dave'), body: 'Secret.', sign: false, encrypt: true });
  await carol.getByRole('button', { name: 'Send' }).click();
  const dialog = carol.getByRole('dialog', { name: 'Some recipients cannot receive encrypted mail' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /dave@elsewhere\.test/);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await carol.getByRole('alert').filter({ hasText: 'Your message was not sent. It is still here.' }).waitFor();

  await carol.goto(folderUrl('INBOX'));
  await (await waitForMessage(carol, subject)).click();
  assert.match(await carol.locator('.smime-banner').first().innerText(), /Signed by dave@elsewhere\.test/);
  await carol.getByRole('button', { name: 'Add sender\'s certificate to contacts' }).click();
  await carol.getByText('Added to your contacts: dave@elsewhere.test.').waitFor();

  // After: the message is encrypted without a question and handed to the server. (This rig's
  // Postfix delivers nothing outside its domain, so the refusal that follows proves the sealed
  // message got that far; the user is told and the message stays on the page.)
  const again = unique('To Dave again');
  await composeSecure(carol, { to: 'dave@elsewhere.test', subject: again, body: 'Secret.', sign: false, encrypt: true });
  await carol.getByRole('button', { name: 'Send' }).click();
  const refusal = carol.getByRole('alert').filter({ hasText: 'Your message was not sent' });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /dave@elsewhere\.test.*not delivered by this rig.*still on this page/s);
  assert.equal(await dialog.count(), 0, 'the sender was asked about dave again');
  assert.equal(await carol.getByLabel('Subject', { exact: true }).inputValue(), again);
  await carol.context().close();
});

test('admin policy: an edit to [smime] locks signing and encryption within a minute; a broken edit changes nothing', async () => {
  const policyServer = await startServer({ pki, port: rig.portBase + 85 });
  try {
    const alice = await signedInPage(browser, policyServer, 'alice');
    const signToggle = alice.getByRole('button', { name: 'Add digital signature to this message' });
    const encryptToggle = alice.getByRole('button', { name: 'Encrypt message contents and attachments' });
    await alice.goto(`${policyServer.url}/compose`);
    assert.equal(await signToggle.getAttribute('aria-disabled'), null, 'locked before any policy');

    // The admin turns on AlwaysSign and AlwaysEncrypt while the server runs.
    const original = readFileSync(policyServer.configFile, 'utf8');
    writeFileSync(policyServer.configFile, `${original}\n[smime]\nalways_sign = true\nalways_encrypt = true\n`);
    const started = Date.now();
    for (;;) {
      await alice.goto(`${policyServer.url}/compose`);
      if (await signToggle.getAttribute('aria-disabled') === 'true') break;
      assert.ok(Date.now() - started < 60000, 'the policy edit did not take effect within 60 s');
      await new Promise((r) => setTimeout(r, 2000));
    }
    await engineReady(alice);
    for (const toggle of [signToggle, encryptToggle]) {
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
      await toggle.dispatchEvent('click'); // playwright will not click what says it is disabled
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true', 'a forced toggle could be turned off');
    }
    await alice.getByText('Your organization requires every message to be signed and encrypted.').waitFor();

    // A recipient without a certificate blocks sending, named, with no way to send it plain.
    assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
    await alice.goto(`${policyServer.url}/compose`);
    await engineReady(alice);
    const subject = unique('Forced encryption');
    await alice.getByLabel('To', { exact: true }).fill('nobody@example.test');
    await alice.getByLabel('Subject', { exact: true }).fill(subject);
    await alice.getByLabel('Message', { exact: true }).fill('Must not go out.');
    await alice.getByRole('button', { name: 'Send' }).click();
    const status = alice.locator('#seal-status');
    await status.filter({ hasText: 'not sent' }).waitFor();
    assert.match(await status.innerText(), /requires encryption, and nobody@example\.test/);
    assert.equal(await alice.getByRole('button', { name: 'Send unencrypted' }).count(), 0);

    // Options shows both boxes checked and locked, with the reason.
    await alice.goto(`${policyServer.url}/options`);
    for (const label of ['Add digital signature to outgoing messages', 'Encrypt contents and attachments for outgoing messages']) {
      const box = alice.getByLabel(label);
      assert.ok(await box.isChecked() && await box.isDisabled(), `${label} is not checked and locked`);
    }
    assert.match(await alice.locator('main').innerText(), /cannot be turned off/);

    // A broken edit is refused and logged; the policy in force stays.
    // The admin reloads the server (SIGHUP) rather than waiting for it to notice the edit.
    writeFileSync(policyServer.configFile, `${original}\n[smime]\nalways_sign = false\nsecurity_flags = 0x003\n`);
    policyServer.reload();
    const brokenAt = Date.now();
    while (!policyServer.log.join('').includes('the edited configuration is refused')) {
      assert.ok(Date.now() - brokenAt < 60000, `the broken edit was not logged:\n${policyServer.log.join('')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(policyServer.log.join(''), /smime\.security_flags/);
    await alice.goto(`${policyServer.url}/compose`);
    assert.equal(await signToggle.getAttribute('aria-disabled'), 'true', 'the broken edit lifted the policy');

    // SmartCardOnly: the key alice imported into this browser may neither sign nor decrypt.
    writeFileSync(policyServer.configFile, `${original}\n[smime]\nsmart_card_only = true\n`);
    policyServer.reload();
    const cardAt = Date.now();
    for (;;) {
      await alice.goto(`${policyServer.url}/compose`);
      if (await signToggle.getAttribute('aria-disabled') === null) break;
      assert.ok(Date.now() - cardAt < 60000, 'the SmartCardOnly edit did not take effect within 60 s');
      await new Promise((r) => setTimeout(r, 2000));
    }
    await engineReady(alice);
    await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
    await alice.getByLabel('Subject', { exact: true }).fill(unique('Card only'));
    await signToggle.click();
    await alice.getByRole('button', { name: 'Send' }).click();
    await status.filter({ hasText: 'smart card' }).waitFor();
    assert.match(await status.innerText(), /allows only digital IDs on a smart card/);

    const dir = work();
    writeFileSync(join(dir, 'body.txt'), 'Content-Type: text/plain\r\n\r\nFor a card.\r\n');
    const cardSubject = unique('Needs a card');
    deliverRaw({
      from: 'olivia@outside.test', to: rig.email('alice'),
      bytes: openssl(['cms', '-encrypt', '-in', join(dir, 'body.txt'), '-aes256', '-recip', pki.file('alice.crt'),
        '-from', 'olivia@outside.test', '-to', rig.email('alice'), '-subject', cardSubject]),
    });
    await alice.goto(`${policyServer.url}/mail?folder=INBOX`);
    await (await waitForMessage(alice, cardSubject)).click();
    const refusal = alice.locator('#sealed-message[data-state="failed"]');
    await refusal.waitFor({ timeout: 30000 });
    assert.match(await refusal.innerText(), /This message can't be decrypted\.[\s\S]*allows only digital IDs on a smart card/);
    await alice.context().close();
  } finally {
    await policyServer.stop();
  }
});

test('a Bcc recipient of encrypted mail gets a message of her own: bob\'s does not name her, and she can open hers', async () => {
  const subject = unique('Bcc split');
  const text = 'Carol is copied without bob knowing.';
  const alice = await signedInPage(browser, front, 'alice');
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  await composeSecure(alice, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: true });
  await alice.getByLabel('Bcc', { exact: true }).fill(rig.email('carol'));
  await alice.getByRole('button', { name: 'Send' }).click();
  await unlockIfAsked(alice);
  await sentNotice(alice);

  /** The stored message as the recipient's page fetches it, opened down to its envelope. */
  const envelopeOf = async (user) => {
    const page = await signedInPage(browser, front, user);
    await page.goto(folderUrl('INBOX'));
    await (await waitForMessage(page, subject)).click();
    const href = await page.locator('#sealed-message').getAttribute('data-raw-href');
    const raw = await (await page.request.get(`${front.url}${href}`)).body();
    return { page, encrypted: openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw) };
  };
  const decrypts = (encrypted, user) => {
    try {
      openssl(['cms', '-decrypt', '-recip', pki.file(`${user}.crt`), '-inkey', pki.file(`${user}.key`)], encrypted);
      return true;
    } catch {
      return false;
    }
  };
  const toBob = await envelopeOf('bob');
  const toCarol = await envelopeOf('carol');
  assert.ok(decrypts(toBob.encrypted, 'bob'), 'bob cannot open his message');
  assert.ok(!decrypts(toBob.encrypted, 'carol'), 'bob\'s message is encrypted to carol too: it reveals her');
  assert.ok(decrypts(toCarol.encrypted, 'carol'), 'carol cannot open her message');

  // Carol reads hers in the browser.
  assert.match(await importDigitalId(toCarol.page, pki.p12('carol'), 'carol'), /Imported .*Carol/);
  await toCarol.page.goto(folderUrl('INBOX'));
  await (await waitForMessage(toCarol.page, subject)).click();
  await unlockIfAsked(toCarol.page);
  await toCarol.page.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await toCarol.page.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text));

  // Alice's Sent holds one copy, which remembers the Bcc.
  await alice.goto(folderUrl('Sent'));
  assert.equal(await settledCount(alice, folderUrl('Sent'), subject), 1);
  for (const page of [alice, toBob.page, toCarol.page]) await page.context().close();
});

test('the policy shapes what is sent: no triple wrap, SHA-384, only the signing certificate, protected headers, key identifiers, AES-128-CBC', async () => {
  const shaped = await startServer({
    pki, port: rig.portBase + 86,
    extra: '[smime]\ntriple_wrap = false\ndefault_signing_algorithm = "sha384"\nsecurity_flags = 0x208\n'
      + 'use_key_identifier = true\nencryption_algorithms = ["aes128-cbc"]\n',
  });
  try {
    const subject = unique('Shaped');
    const text = 'Built the way the admin said.';
    const alice = await signedInPage(browser, shaped, 'alice');
    assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
    await composeSecure(alice, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: true });
    await alice.getByRole('button', { name: 'Send' }).click();
    await unlockIfAsked(alice);
    await sentNotice(alice);

    const bob = await signedInPage(browser, shaped, 'bob');
    assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported .*Bob/);
    await bob.goto(`${shaped.url}/mail?folder=INBOX`);
    await (await waitForMessage(bob, subject)).click();
    const href = await bob.locator('#sealed-message').getAttribute('data-raw-href');
    const raw = await (await bob.request.get(`${shaped.url}${href}`)).body();

    // Sign then encrypt, not triple wrapped: the outside is the envelope.
    const outer = openssl(['cms', '-cmsout', '-print', '-inform', 'SMIME'], raw).toString();
    assert.match(outer, /contentType: pkcs7-envelopedData/);
    assert.match(outer, /aes-128-cbc/);
    assert.match(outer, /subjectKeyIdentifier/, 'recipients are not named by key identifier');
    assert.doesNotMatch(outer, /issuerAndSerialNumber/);
    const inner = openssl(['cms', '-decrypt', '-recip', pki.file('bob.crt'), '-inkey', pki.file('bob.key')], raw);
    const signed = openssl(['cms', '-cmsout', '-print', '-inform', 'SMIME'], inner).toString();
    assert.match(signed, /sha384/);
    assert.equal((signed.match(/cert_info:/g) || []).length, 1, 'more than the signing certificate was carried');
    assert.doesNotMatch(signed, /1\.2\.840\.113549\.1\.9\.15/, 'SMIMECapabilities were announced with 0x100 off');
    // 0x200: From, To and Subject inside the signature (RFC 9788), and openssl verifies it.
    const signedText = inner.toString();
    assert.match(signedText, /hp="cipher"/);
    assert.match(signedText, new RegExp(`Subject: ${subject}`));
    assert.match(signedText, new RegExp(`To: ${rig.email('bob')}`));
    const bundle = join(work(), 'chain.pem');
    writeFileSync(bundle, Buffer.concat([readFileSync(pki.file('root.crt')), readFileSync(pki.file('ca.crt'))]));
    assert.match(openssl(['cms', '-verify', '-CAfile', bundle], inner).toString(), new RegExp(text));

    // Bob's page opens it and reports the signature valid, with SHA-384.
    await unlockIfAsked(bob);
    const banner = bob.locator('#sealed-message .smime-banner');
    await banner.waitFor({ timeout: 30000 });
    assert.match(await banner.innerText(), /The signature is valid and the digital ID is trusted\./);
    await bob.getByRole('button', { name: 'Verify signature' }).click();
    assert.match(await bob.locator('#sealed-message .signature-details').innerText(), /SHA-384/);
    await alice.context().close();
    await bob.context().close();
  } finally {
    await shaped.stop();
  }
});

test('the cipher follows what a recipient\'s signatures said they read: CBC until bob signs, then AES-GCM', async () => {
  const fresh = await startServer({ pki, port: rig.portBase + 87 }); // nothing learnt yet
  try {
    const alice = await signedInPage(browser, fresh, 'alice');
    assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
    const bob = await signedInPage(browser, fresh, 'bob');
    assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported .*Bob/);
    const inbox = () => `${fresh.url}/mail?folder=INBOX`;

    /** Alice sends bob an encrypted message; returns how its content is encrypted. */
    const cipherOfNext = async () => {
      const subject = unique('Cipher');
      await alice.goto(`${fresh.url}/mail?folder=INBOX`);
      await composeSecure(alice, { to: rig.email('bob'), subject, body: 'Which cipher?', sign: true, encrypt: true });
      await sendGivingPassphrase(alice);
      await bob.goto(inbox());
      await (await waitForMessage(bob, subject)).click();
      const href = await bob.locator('#sealed-message').getAttribute('data-raw-href');
      const raw = await (await bob.request.get(`${fresh.url}${href}`)).body();
      await bob.goto(inbox()); // away from the page asking for his passphrase
      lastSigned = raw;
      const encrypted = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw);
      return openssl(['cms', '-cmsout', '-print', '-inform', 'SMIME'], encrypted).toString();
    };
    let lastSigned = null; // the last message alice sent, as delivered (its outer signature)
    const first = await cipherOfNext();
    assert.match(first, /aes-256-cbc/, 'with nothing known of bob, the safe default is not used');
    assert.match(first, /issuerAndSerialNumber/, 'UseKeyIdentifier is off by default');
    assert.doesNotMatch(first, /subjectKeyIdentifier/);

    // Bob signs a message to alice; reading it, alice's server learns what bob's program reads.
    const signedSubject = unique('Capabilities');
    await composeSecure(bob, { to: rig.email('alice'), subject: signedSubject, body: 'Signed by bob.', sign: true, encrypt: false });
    await sendGivingPassphrase(bob);
    await alice.goto(inbox());
    await (await waitForMessage(alice, signedSubject)).click();
    await alice.locator('.smime-banner').first().waitFor();

    const second = await cipherOfNext();
    assert.match(second, /aes-256-gcm|id-aes256-GCM/i, 'bob announced AES-256-GCM, but it was not used');

    // An admin who allows only AES-128-GCM: carol, of whom nothing is known, counts as having no
    // certificate; bob (who announced it) does not.
    const original = readFileSync(fresh.configFile, 'utf8');
    writeFileSync(fresh.configFile, `${original}\n[smime]\nencryption_algorithms = ["aes128-gcm"]\nsecurity_flags = 0x102\n`);
    fresh.reload();
    const started = Date.now();
    for (;;) {
      await alice.goto(`${fresh.url}/compose`);
      if ((await alice.locator('form.compose').getAttribute('data-policy')).includes('"encryptionAlgorithms":["aes128-gcm"]')) break;
      assert.ok(Date.now() - started < 60000, 'the edit did not take effect within 60 s');
      await new Promise((r) => setTimeout(r, 2000));
    }
    await composeSecure(alice, { to: `${rig.email('bob')}, ${rig.email('carol')}`, subject: unique('Strict cipher'), body: 'x', sign: false, encrypt: true });
    await alice.getByRole('button', { name: 'Send' }).click();
    const dialog = alice.getByRole('dialog');
    await dialog.waitFor();
    const said = await dialog.innerText();
    assert.match(said, new RegExp(`${rig.email('carol')}: their e-mail program reads none of the encryption algorithms your organization allows`));
    assert.doesNotMatch(said, new RegExp(rig.email('bob')));
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // To bob alone it goes out in AES-128-GCM, and with 0x002 the signature carries the whole
    // chain, root included.
    const third = await cipherOfNext();
    assert.match(third, /aes-128-gcm|id-aes128-GCM/i);
    const chain = openssl(['cms', '-cmsout', '-print', '-inform', 'SMIME'], lastSigned).toString();
    assert.equal((chain.match(/cert_info:/g) || []).length, 3, 'the chain with its root was not carried');
    await alice.context().close();
    await bob.context().close();
  } finally {
    await fresh.stop();
  }
});

test('CheckCRL: a recipient whose revocation status is unknown gets mail while it is off, and is named once it is on', async () => {
  // Revocation checking on, and the test PKI publishes no CRLs: every certificate's status is unknown.
  const crlServer = await startServer({ pki, port: rig.portBase + 88, revocation: true });
  try {
    const alice = await signedInPage(browser, crlServer, 'alice');
    assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
    const subject = unique('Revocation unknown');
    await composeSecure(alice, { to: rig.email('bob'), subject, body: 'Sent with a warning.', sign: false, encrypt: true });
    await alice.getByRole('button', { name: 'Send' }).click();
    await sentNotice(alice);

    // The admin turns CheckCRL on while the server runs ([pki] is live too).
    const original = readFileSync(crlServer.configFile, 'utf8');
    writeFileSync(crlServer.configFile, original.replace('[pki]\n', '[pki]\ncheck_crl = true\n'));
    const started = Date.now();
    while (!crlServer.log.join('').includes('[pki] settings reloaded')) {
      assert.ok(Date.now() - started < 60000, `the [pki] edit was not reloaded within 60 s:\n${crlServer.log.join('')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await composeSecure(alice, { to: rig.email('bob'), subject: unique('Blocked by CheckCRL'), body: 'x', sign: false, encrypt: true });
    await alice.getByRole('button', { name: 'Send' }).click();
    const dialog = alice.getByRole('dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), new RegExp(`${rig.email('bob')}: .*revocation`, 'i'));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await alice.context().close();
  } finally {
    await crlServer.stop();
  }
});
