// The installed client (apps/client, scripts/build-app client), end to end, against a server
// that has been changed to plant code in what it serves: its pages lose their integrity
// attributes and its app.js gains a few lines that mark the page and send the page's text
// home. In an ordinary tab that code runs (the control); in the app, the pages come from the
// same server, yet every script and the module are the app's own, so alice signs in, imports
// her digital ID, sends herself an encrypted message and reads it, and the planted code never
// runs. The app is served from its own origin with the headers an installed Isolated Web App
// gets, as in kiosk.test.mjs (an IWA cannot be installed in headless Chromium here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  REPO, rig, unique, startServer, serveIsolatedApp, launchBrowser, makePki, startRecordingProxy, signedInPage,
  secretsOf, assertNoneContains, engineReady, importDigitalId, composeSecure, sendGivingPassphrase, waitForMessage,
} from './harness.mjs';

const PLANTED = ";document.documentElement.dataset.planted = 'yes';"
  + "fetch('/planted?' + encodeURIComponent(document.body.innerText.slice(0, 500)));\n";

/** What the changed server serves: planted code in app.js, and pages that no longer pin it. */
function plant({ path, type, body }) {
  if (type.startsWith('text/html')) {
    return Buffer.from(body.toString()
      .replace(/ integrity="[^"]*"/g, '')
      .replace(/"[^"]*\/app\.js":"sha384-[^"]*",?/, ''));
  }
  if (/\/app\.js$/.test(new URL(path, 'http://x').pathname)) return Buffer.concat([body, Buffer.from(PLANTED)]);
  return null;
}

let pki;
let server;
let proxy;
let app;
let browser;
before(async () => {
  pki = makePki();
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-client-'));
  // The server must know the app's origin before the app is built for the server's address.
  app = await serveIsolatedApp(join(dir, 'app'), { reach: () => new URL(proxy.url).origin });
  server = await startServer({ pki, port: rig.portBase + 112, extraWeb: `app_origin = "${app.origin}"` });
  proxy = await startRecordingProxy(server.url, { tamper: plant });
  execFileSync(join(REPO, 'scripts/build-app'), ['client', '--server', proxy.url, '--out', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await app?.stop();
  await proxy?.stop();
  await server?.stop();
});

test('the server plants code in its scripts: an ordinary tab runs it, the installed app runs only its own and still reads and writes encrypted mail', async () => {
  // The control: the same server, in an ordinary tab, gets its planted code run.
  const tab = await signedInPage(browser, { url: proxy.url }, 'alice');
  await tab.locator('html[data-planted="yes"]').waitFor();
  assert.ok(proxy.requests.some((r) => r.url.startsWith('/planted?')), 'the planted code ran in the ordinary tab');
  await tab.context().close();

  const start = proxy.requests.length;
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    const page = await context.newPage();
    if (process.env.DEBUG_PAGES) page.on('console', (m) => console.log('page:', m.text()));
    await page.goto(`${app.origin}/`);
    await page.getByLabel('Email address').fill(rig.email('alice'));
    await page.getByLabel('Password').fill(rig.password('alice'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).origin, app.origin, 'the page is the app\'s own');
    await engineReady(page);

    assert.match(await importDigitalId(page, pki.p12('alice'), 'alice'), /Imported .*Alice/);
    const subject = unique('From the installed app');
    const text = `Sealed in the installed app ${randomBytes(8).toString('hex')}.`;
    await composeSecure(page, { to: rig.email('alice'), subject, body: text, sign: true, encrypt: true });
    await sendGivingPassphrase(page);

    await page.goto(`${app.origin}/`);
    await (await waitForMessage(page, subject)).click();
    const region = page.locator('#sealed-message[data-state="opened"]');
    await region.waitFor({ timeout: 30000 });
    assert.match(await region.innerText(), new RegExp(text.replace(/[.]/g, '\\.')));
    assert.match(await region.innerText(), /Signed by alice@.*The signature is valid and the digital ID is trusted/s);

    assert.equal(await page.locator('html').getAttribute('data-planted'), null, 'the planted code did not run in the app');
    const mine = proxy.requests.slice(start);
    assert.deepEqual(mine.filter((r) => r.url.startsWith('/planted') || r.url.startsWith('/static/')).map((r) => r.url), [],
      'the app asked the server for no script, stylesheet or module');
    assertNoneContains(mine, { ...secretsOf(pki, 'alice'), 'the plaintext': Buffer.from(text) });
  } finally {
    await context.close();
  }
});
