// The kiosk app, end to end: scripts/build-kiosk builds the app for this server, and the app
// frames Sealmail's pages and carries their card's APDUs. Only the app's documents get the USB
// reader (a stand-in `navigator.usb` backed by the card model, as in smartcard.test.mjs); the
// framed Sealmail pages reach the card only through the app. The app is served from its own
// origin with the headers an Isolated Web App gets (cross-origin isolation and its strict
// policy), because an IWA cannot be installed from a signed bundle in headless Chromium here
// (README, Smart cards and kiosks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { createPublicKey, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  REPO, rig, unique, startServer, launchBrowser, makePki, startRecordingProxy, secretsOf, assertNoneContains,
  engineReady, composeSecure, enterPin,
} from './harness.mjs';
import { startVirtualCard, plugInReader } from './virtual-card.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json',
};

/**
 * Serves a built kiosk app the way Chrome serves an installed IWA: cross-origin isolated, and
 * under the IWA's default content security policy (Trusted Types, no inline script), except that
 * it may frame this plain-http test server where an IWA frames only https.
 */
async function serveApp(dir, framed) {
  const app = createServer((req, res) => {
    const path = new URL(req.url, 'http://app').pathname;
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] || 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Content-Security-Policy': `base-uri 'none'; default-src 'self'; object-src 'none'; frame-src 'self' ${framed}; `
        + "connect-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        + "require-trusted-types-for 'script'",
    });
    res.end(readFileSync(file));
  });
  // localhost, while the server is reached at 127.0.0.1: another site, as isolated-app:// is.
  await new Promise((resolve) => app.listen(0, 'localhost', resolve));
  return { origin: `http://localhost:${app.address().port}`, stop: () => new Promise((r) => app.close(r)) };
}

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
  app = await serveApp(appDir, '*');
  server = await startServer({
    pki,
    port: rig.portBase + 88,
    extraWeb: `kiosk_app_origin = "${app.origin}"`,
    extra: '[smime]\nsmart_card_only = true\ncard_removal_signs_out = true\n',
  });
  proxy = await startRecordingProxy(server.url);
  execFileSync(join(REPO, 'scripts/build-kiosk'), ['--server', proxy.url, '--out', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
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

/** RFC 4648 base32, lower case and unpadded, as Web Bundle IDs are written. */
function base32(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

test('build-kiosk --key signs the app into a web bundle whose origin is the key\'s, holding the app for the server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-swbn-'));
  const key = join(dir, 'kiosk-key.pem');
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
  const printed = execFileSync(join(REPO, 'scripts/build-kiosk'),
    ['--server', 'https://mail.example.org', '--key', key, '--out', dir], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();

  // The Web Bundle ID of an Ed25519 key (WICG isolated-web-apps, Scheme.md): the raw public key
  // and the type suffix 00 01 02, in base32.
  const rawKey = createPublicKey(readFileSync(key)).export({ format: 'der', type: 'spki' }).subarray(-32);
  const id = base32(Buffer.concat([rawKey, Buffer.from([0, 1, 2])]));
  const origin = `isolated-app://${id}`;
  assert.match(printed, new RegExp(`kiosk_app_origin\\): ${origin}\n`));

  const kiosk = createRequire(join(REPO, 'apps/package.json'));
  const { Bundle } = kiosk('wbn');
  const { getBundleId } = kiosk('wbn-sign');
  const signed = readFileSync(join(dir, 'sealmail-kiosk.swbn'));
  assert.equal(getBundleId(signed), id);
  // The web bundle follows the integrity block; its last 8 bytes are its length.
  const length = Number(signed.readBigUInt64BE(signed.length - 8));
  const bundle = new Bundle(signed.subarray(signed.length - length));
  const body = (path) => Buffer.from(bundle.getResponse(`${origin}${path}`).body).toString();
  for (const path of ['/', '/index.html', '/app.js', '/reader.js', '/pkg/sealmail_client.js', '/pkg/sealmail_client_bg.wasm']) {
    assert.ok(bundle.urls.includes(`${origin}${path}`), `${path} is in the bundle`);
  }
  const manifest = JSON.parse(body('/.well-known/manifest.webmanifest'));
  assert.deepEqual(manifest.permissions_policy['usb-unrestricted'], ['self']);
  assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(JSON.parse(body('/config.json')), { server: 'https://mail.example.org/' });
});
