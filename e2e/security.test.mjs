// What a person sees when sign-in fails or a request is not genuine: each is refused with a
// clear page, and nothing changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { rig, startServer, launchBrowser, signedInPage } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 81 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a wrong password is refused with a message that does not say whether the user exists', async () => {
  const page = await browser.newPage();
  for (const address of [rig.email('bob'), rig.email('nobody-here')]) {
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email address').fill(address);
    await page.getByLabel('Password').fill('certainly-wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal(await page.getByRole('alert').innerText(), 'The email address or password is incorrect.');
    await page.getByRole('heading', { name: 'Sign in to Sealmail' }).waitFor();
  }
  await page.close();
});

test('the browser module loads on every page', async () => {
  const page = await signedInPage(browser, server, 'carol');
  await page.locator('html[data-engine="ready"]').waitFor();
  assert.match(await page.locator('#engine-status').innerText(), /Browser security module \d+\.\d+\.\d+ ready/);
  await page.context().close();
});

/** Serves `pattern` (a static file) changed by one byte on its way to the page. */
async function tampered(page, pattern) {
  await page.route(pattern, async (route) => {
    const response = await route.fetch();
    const body = Buffer.from(await response.body());
    body[body.length - 1] ^= 1;
    await route.fulfill({ response, body });
  });
}

test('a browser module changed on its way to the page is never run', async () => {
  const page = await signedInPage(browser, server, 'carol');
  await tampered(page, '**/pkg/sealmail_client_bg.wasm');
  await page.reload();
  await page.locator('html[data-engine="unavailable"]').waitFor();
  assert.equal(await page.locator('#engine-status').innerText(), 'Browser security module unavailable');
  await page.context().close();
});

test('a page script changed on its way to the page is refused, so nothing is sealed with it', async () => {
  const page = await signedInPage(browser, server, 'carol');
  await tampered(page, '**/compose-secure.js');
  const refused = page.waitForEvent('console', (m) => /integrity/i.test(m.text()));
  await page.getByRole('button', { name: 'New message' }).click();
  await page.locator('html[data-engine="ready"]').waitFor();
  await refused;
  assert.equal(await page.getByRole('button', { name: 'Encrypt message contents and attachments' }).isVisible(), false);
  await page.context().close();
  // The untouched script in a fresh browser gets them: the refusal was the change, not the page.
  // (The same browser keeps refusing: the changed file sits in its cache, still failing the check.)
  const fresh = await signedInPage(browser, server, 'carol');
  await fresh.getByRole('button', { name: 'New message' }).click();
  await fresh.getByRole('button', { name: 'Encrypt message contents and attachments' }).waitFor();
  await fresh.context().close();
});

test('a forged CSRF token is refused and the user stays signed in', async () => {
  const page = await signedInPage(browser, server, 'alice');
  await page.locator('form.signout input[name="csrf"]').evaluate((input) => { input.value = 'forged'; });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Request refused' }).waitFor();
  assert.match(await page.getByRole('alert').innerText(), /Nothing was changed/);
  await page.goto(`${server.url}/mail?folder=INBOX`);
  await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  await page.context().close();
});

test('a form on another site cannot post to Sealmail', async () => {
  const page = await signedInPage(browser, server, 'alice');
  // A different site: "localhost" is not "127.0.0.1" to the browser.
  const evil = createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<form id="f" method="post" action="${server.url}/logout"><input name="csrf" value="x"></form>
             <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((r) => evil.listen(rig.portBase + 82, '127.0.0.1', r));
  try {
    await page.goto(`http://localhost:${rig.portBase + 82}/`);
    await page.getByRole('heading', { name: 'Request refused' }).waitFor();
    assert.match(await page.getByRole('alert').innerText(), /another site/);
  } finally {
    evil.close();
  }
  await page.goto(`${server.url}/mail?folder=INBOX`);
  await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  await page.context().close();
});

test('a session ended elsewhere sends the user to sign in again, with a reason', async () => {
  const first = await signedInPage(browser, server, 'bob');
  const second = await (await browser.newContext()).newPage();
  await second.context().addCookies(await first.context().cookies());
  await second.goto(`${server.url}/mail?folder=INBOX`);
  await second.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  await first.getByRole('button', { name: 'Sign out' }).click();
  await first.getByRole('status').filter({ hasText: 'You have signed out.' }).waitFor();
  await second.reload();
  await second.getByRole('heading', { name: 'Sign in to Sealmail' }).waitFor();
  assert.equal(await second.getByRole('status').innerText(), 'Your session has ended. Please sign in again.');
  await first.context().close();
  await second.context().close();
});
