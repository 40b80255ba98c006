// The kiosk app, end to end: scripts/build-app kiosk builds the app for this server, and the app
// frames Sealmail's pages and carries their card's APDUs. Only the app's documents get the USB
// reader (a stand-in `navigator.usb` backed by the card model, as in smartcard.test.mjs); the
// framed Sealmail pages reach the card only through the app. The app is served from its own
// origin with the headers an Isolated Web App gets (cross-origin isolation and its strict
// policy), because an IWA cannot be installed from a signed bundle in headless Chromium here
// (README, Smart cards and kiosks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  REPO, rig, unique, startServer, serveIsolatedApp, launchBrowser, makePki, startRecordingProxy, secretsOf, assertNoneContains,
  engineReady, composeSecure, enterPin,
} from './harness.mjs';
import { startVirtualCard, plugInReader } from './virtual-card.mjs';

let pki;
let server;
let proxy;
let app;
let browser;
before(async () => {
  pki = makePki();
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-kiosk-'));
  const appDir = join(dir, 'app');
  // The server must know the app's origin before the app is built for the server's address, so
  // the app's port is taken first and its files are served once built.
  app = await serveIsolatedApp(appDir, { reach: '*' });
  server = await startServer({
    pki,
    port: rig.portBase + 88,
    extraWeb: `kiosk_app_origin = "${app.origin}"`,
    extra: '[smime]\nsmart_card_only = true\ncard_removal_signs_out = true\n',
  });
  proxy = await startRecordingProxy(server.url);
  execFileSync(join(REPO, 'scripts/build-app'), ['kiosk', '--server', proxy.url, '--out', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  await proxy?.stop();
  await server?.stop();
});

test('at the kiosk app, alice signs and encrypts with her card through the app\'s reader, reads it back, and pulling the reader signs her out', async () => {
  const card = await startVirtualCard({
    slots: [{ slot: '9a', key: pki.file('alice.key'), certificate: pki.file('alice.crt') }],
  });
  const context = await browser.newContext();
  try {
    const reader = await plugInReader(context, card, { onlyIn: app.origin });
    const page = await context.newPage();
    if (process.env.DEBUG_PAGES) page.on('console', (m) => console.log('page:', m.text()));
    await page.goto(`${app.origin}/`);
    const bar = page.locator('#reader');
    await bar.filter({ hasText: 'No card reader chosen.' }).waitFor();
    const mail = page.frameLocator('#mail');
    await mail.getByLabel('Email address').fill(rig.email('alice'));
    await mail.getByLabel('Password').fill(rig.password('alice'));
    await mail.getByRole('button', { name: 'Sign in' }).click();
    await mail.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
    const start = proxy.requests.length;

    // The framed page asks for the card; the app shows the reader chooser and holds the reader.
    await mail.getByRole('link', { name: 'Digital IDs' }).click();
    await engineReady(mail);
    await mail.getByRole('button', { name: 'Connect smart card' }).click();
    const status = mail.locator('#card-status');
    await status.filter({ hasText: /connected|could not/ }).waitFor({ timeout: 30000 });
    assert.match(await status.innerText(), /Smart card connected: 1 certificate/);
    await bar.filter({ hasText: 'Card reader: Virtual PIV reader' }).waitFor();

    const subject = unique('Kiosk app');
    const text = `Sealed at the kiosk ${randomBytes(8).toString('hex')}.`;
    await composeSecure(mail, { to: rig.email('alice'), subject, body: text, sign: true, encrypt: true });
    await mail.getByRole('button', { name: 'Send' }).click();
    await enterPin(mail, '123456');
    await mail.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 });

    // Reading it decrypts with the card, again through the app.
    const inbox = mail.getByRole('link', { name: 'Sealmail', exact: true });
    const message = mail.getByRole('link', { name: subject, exact: true });
    for (let tries = 0; (await message.count()) === 0; tries++) {
      if (tries > 50) throw new Error(`"${subject}" did not arrive`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await inbox.click();
    }
    await message.click();
    await enterPin(mail, '123456');
    const region = mail.locator('#sealed-message[data-state="opened"]');
    await region.waitFor({ timeout: 30000 });
    assert.match(await region.innerText(), new RegExp(text.replace(/[.]/g, '\\.')));
    assert.match(await region.innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted/s);

    assertNoneContains(proxy.requests.slice(start), { ...secretsOf(pki, 'alice'), 'the plaintext': Buffer.from(text) });

    // The kiosk setting card_removal_signs_out: the card leaving the app's reader ends the
    // session in the frame.
    await card.remove();
    await bar.filter({ hasText: 'The card was removed.' }).waitFor();
    await mail.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 15000 });

    // The next user (here alice again) inserts the card: the app opens the reader afresh.
    await card.insert();
    await mail.getByLabel('Email address').fill(rig.email('alice'));
    await mail.getByLabel('Password').fill(rig.password('alice'));
    await mail.getByRole('button', { name: 'Sign in' }).click();
    await mail.getByRole('link', { name: 'Digital IDs' }).click();
    await status.filter({ hasText: 'Smart card connected: 1 certificate' }).waitFor({ timeout: 30000 });
    await bar.filter({ hasText: 'Card reader: Virtual PIV reader' }).waitFor();

    // Unplugging the reader ends this session too.
    await reader.unplug();
    await bar.filter({ hasText: 'The card was removed.' }).waitFor();
    await mail.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 15000 });
  } finally {
    await context.close();
    card.stop();
  }
});

test('only the kiosk app may frame the pages: another site framing them is refused by the browser', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // A look-alike page at another origin framing the sign-in page.
    const other = 'http://other.localhost:9';
    await page.route(`${other}/`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<iframe id="mail" src="${proxy.url}/login"></iframe>`,
    }));
    await page.goto(`${other}/`, { waitUntil: 'load' });
    const [, framed] = page.frames();
    // The browser put its own error page in the frame instead of Sealmail's.
    assert.equal(framed.url(), 'chrome-error://chromewebdata/');
    assert.equal(await page.frameLocator('#mail').getByLabel('Email address').count(), 0);
  } finally {
    await context.close();
  }
});
