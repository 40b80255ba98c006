// Smart cards, end to end: a PIV card (piv-authenticator, a real third-party implementation) in a
// USB CCID reader model, reached by the page through WebUSB. alice's keys live only on the card:
// she connects it, signs and encrypts with it, and decrypts with it; a wrong PIN shows the tries
// left; pulling the reader locks the card's IDs. Every request the browser makes is recorded and
// searched for alice's private key and the plaintext.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, startRecordingProxy,
  secretsOf, assertNoneContains, engineReady, composeSecure, enterPin, importDigitalId,
} from './harness.mjs';
import { startVirtualCard, plugInReader, insertIntoSmartCardReader } from './virtual-card.mjs';

let server;
let proxy;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ pki });
  proxy = await startRecordingProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

const front = () => ({ url: proxy.url });

/** A signed-in page for alice whose browser has the reader with her card plugged in. */
async function aliceWithCard(card) {
  const page = await signedInPage(browser, front(), 'alice');
  if (process.env.DEBUG_PAGES) page.on('console', (m) => console.log('page:', m.text()));
  const reader = await plugInReader(page.context(), card);
  await page.reload();
  return { page, reader };
}

async function connectCard(page) {
  await page.getByRole('link', { name: 'Digital IDs' }).click();
  await engineReady(page);
  const status = page.locator('#card-status');
  // The page connects by itself to a reader this browser was allowed before, and then hides the
  // button; otherwise the user presses it. Either may come first.
  await page.waitForFunction(() => {
    const button = document.getElementById('connect-card');
    return /connected|could not/.test(document.getElementById('card-status').textContent)
      || (button && !button.disabled && !button.hidden);
  }, null, { timeout: 30000 });
  if (!/connected|could not/.test(await status.innerText())) {
    await page.getByRole('button', { name: 'Connect smart card' }).click({ timeout: 5000 }).catch(() => {});
  }
  await status.filter({ hasText: /connected|could not/ }).waitFor({ timeout: 30000 });
  return status.innerText();
}

/**
 * alice's card: her key and certificate from the test PKI in slot 9A. (piv-authenticator
 * imports RSA keys into 9A only; keys it generates itself could not be searched for in the
 * recorded requests.)
 */
function aliceCard(reader = 'extended') {
  return startVirtualCard({
    reader,
    slots: [{ slot: '9a', key: pki.file('alice.key'), certificate: pki.file('alice.crt') }],
  });
}

test('alice signs and encrypts with her smart card after a wrong PIN; bob reads it; her key never reaches the server', async () => {
  const card = await aliceCard();
  try {
    const { page } = await aliceWithCard(card);
    const start = proxy.requests.length;
    assert.match(await connectCard(page), /Smart card connected: 1 certificate/);
    await page.locator('#card-ids li').first().getByText('PIV Authentication (9A)', { exact: false }).waitFor();

    const subject = unique('Card-signed plan');
    const text = `Signed on the card ${randomBytes(8).toString('hex')}.`;
    await composeSecure(page, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: true });
    await page.getByRole('button', { name: 'Send' }).click();
    // The first prompt shows the tries left; a wrong PIN is answered with the card's count.
    assert.match(await enterPin(page, '654321'), /3 tries left/);
    const second = await enterPin(page, '123456');
    assert.match(second, /The PIN is wrong\. 2 tries left/);
    await page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 });

    // bob, with his own (soft) ID, opens it: the signature made on the card is valid.
    const bob = await signedInPage(browser, front(), 'bob');
    assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob', { passphrase: 'bob passphrase here' }), /Imported/);
    await bob.goto(`${front().url}/mail?folder=INBOX`);
    await (await waitForMessage(bob, subject)).click();
    const passphrase = bob.getByLabel('Passphrase', { exact: true });
    await passphrase.waitFor({ timeout: 15000 });
    await passphrase.fill('bob passphrase here');
    await bob.getByRole('button', { name: 'Unlock' }).click();
    const region = bob.locator('#sealed-message[data-state="opened"]');
    await region.waitFor({ timeout: 30000 });
    assert.match(await region.innerText(), new RegExp(text.replace(/[.]/g, '\\.')));
    assert.match(await region.innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted/s);

    assertNoneContains(proxy.requests.slice(start), { ...secretsOf(pki, 'alice'), 'the plaintext': Buffer.from(text) });

    // The card pulled out of the reader, which stays plugged in: the reader's slot-change
    // message locks the card's IDs.
    await page.getByRole('link', { name: 'Digital IDs' }).click();
    await page.locator('#card-status').filter({ hasText: 'connected' }).waitFor({ timeout: 30000 });
    await card.remove();
    await page.locator('#card-status').filter({ hasText: 'The smart card was removed; its digital IDs are locked.' }).waitFor();
    await bob.context().close();
    await page.context().close();
  } finally {
    card.stop();
  }
});

test('alice decrypts with her smart card through a T=1 reader; unplugging it locks the card\'s IDs', async () => {
  const card = await aliceCard('tpdu');
  try {
    const { page, reader } = await aliceWithCard(card);
    const start = proxy.requests.length;
    assert.match(await connectCard(page), /Smart card connected: 1 certificate/);

    // bob encrypts to alice with his soft key (his digital ID is what his browser trusts hers by).
    const subject = unique('For the card');
    const text = `Only the card opens this ${randomBytes(8).toString('hex')}.`;
    const bob = await signedInPage(browser, front(), 'bob');
    assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported/);
    await composeSecure(bob, { to: rig.email('alice'), subject, body: text, encrypt: true });
    await bob.getByRole('button', { name: 'Send' }).click();
    await bob.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 });

    await page.goto(`${front().url}/mail?folder=INBOX`);
    await (await waitForMessage(page, subject)).click();
    assert.match(await enterPin(page, '123456'), /tries left/);
    const region = page.locator('#sealed-message[data-state="opened"]');
    await region.waitFor({ timeout: 30000 });
    assert.match(await region.innerText(), new RegExp(text.replace(/[.]/g, '\\.')));

    // The card's index of encrypted mail learned the message as it was opened, without a second
    // PIN, and finds it by a word only its body holds; a card gets no folder pass (each message
    // would cost a card operation).
    const word = text.match(/[0-9a-f]{16}/)[0];
    const searchHere = async (where) => {
      const section = where.getByRole('region', { name: 'Inside encrypted messages' });
      await section.getByRole('searchbox', { name: 'Search inside encrypted messages, in this browser only' }).fill(word);
      await section.getByRole('button', { name: 'Search here' }).click();
      return section;
    };
    await page.goto(`${front().url}/search`);
    let section = await searchHere(page);
    await section.getByRole('link', { name: subject }).waitFor({ timeout: 30000 });
    assert.ok(await section.getByRole('button', { name: 'Index encrypted messages in Inbox' }).isDisabled());
    // Another tab is another session of the index: the card must unwrap its key again.
    const tab = await page.context().newPage();
    await tab.goto(`${front().url}/search`);
    section = tab.getByRole('region', { name: 'Inside encrypted messages' });
    await section.getByRole('status').filter({ hasText: /smart card's encrypted messages is locked/ }).waitFor({ timeout: 30000 });
    await searchHere(tab);
    await enterPin(tab, '123456');
    await section.getByRole('link', { name: subject }).waitFor({ timeout: 30000 });
    await tab.close();
    assertNoneContains(proxy.requests.slice(start), { ...secretsOf(pki, 'alice'), 'the plaintext': Buffer.from(text), 'the word': Buffer.from(word) });

    // Pulled out: the Digital IDs page says the card's IDs are locked, and opening the message
    // again asks for the card.
    await page.getByRole('link', { name: 'Digital IDs' }).click();
    await page.locator('#card-status').filter({ hasText: 'connected' }).waitFor({ timeout: 30000 });
    await reader.unplug();
    await page.locator('#card-status').filter({ hasText: 'The smart card was removed; its digital IDs are locked.' }).waitFor();
    assert.equal(await page.locator('#card-ids li').count(), 0);
    await page.goto(`${front().url}/mail?folder=INBOX`);
    await (await waitForMessage(page, subject)).click();
    const failed = page.locator('#sealed-message[data-state="failed"]');
    await failed.waitFor({ timeout: 30000 });
    assert.match(await failed.innerText(), /insert the card and try to open the message again/);
    await bob.context().close();
    await page.context().close();
  } finally {
    card.stop();
  }
});

test('a kiosk under SmartCardOnly: the card signs where soft keys may not; pulling it out signs the user out', async () => {
  const kiosk = await startServer({
    pki,
    port: rig.portBase + 89,
    extra: '[smime]\nsmart_card_only = true\ncard_removal_signs_out = true\n',
  });
  const card = await aliceCard();
  try {
    const page = await signedInPage(browser, kiosk, 'alice');
    const reader = await plugInReader(page.context(), card);
    await page.reload();
    // Without the card, SmartCardOnly says to insert it.
    await composeSecure(page, { to: rig.email('bob'), subject: unique('Kiosk'), body: 'From the kiosk.', sign: true });
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#seal-status.error').filter({ hasText: 'Insert your card' }).waitFor({ timeout: 30000 });

    assert.match(await connectCard(page), /Smart card connected: 1 certificate/);
    const subject = unique('Kiosk-signed');
    await composeSecure(page, { to: rig.email('bob'), subject, body: 'Signed at the kiosk.', sign: true });
    await page.getByRole('button', { name: 'Send' }).click();
    await enterPin(page, '123456');
    await page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 });

    await reader.unplug();
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 15000 });
    await page.goto(`${kiosk.url}/mail?folder=INBOX`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.context().close();
  } finally {
    card.stop();
    await kiosk.stop();
  }
});

test('through the Web Smart Card API (the kiosk app\'s way): alice connects, signs with a PIN, and removal locks the card\'s IDs', async () => {
  const card = await aliceCard();
  try {
    const page = await signedInPage(browser, front(), 'alice');
    const slot = await insertIntoSmartCardReader(page.context(), card);
    await page.reload();
    assert.match(await connectCard(page), /Smart card connected: 1 certificate/);

    const subject = unique('Signed through PC/SC');
    await composeSecure(page, { to: rig.email('bob'), subject, body: 'Signed with the card through the operating system.', sign: true });
    await page.getByRole('button', { name: 'Send' }).click();
    await enterPin(page, '123456');
    await page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 });

    await page.getByRole('link', { name: 'Digital IDs' }).click();
    await page.locator('#card-status').filter({ hasText: 'connected' }).waitFor({ timeout: 30000 });
    await slot.remove();
    await page.locator('#card-status').filter({ hasText: 'The smart card was removed; its digital IDs are locked.' }).waitFor();
    await page.context().close();
  } finally {
    card.stop();
  }
});
