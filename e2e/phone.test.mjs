// Sealmail on a phone (375 × 740, touch): every page fits the width with no sideways scrolling,
// the folder list folds away behind a button, the main controls are big enough to tap, and an
// encrypted message opens with a digital ID in the browser. Screenshots of each page are left
// in e2e/test-results/ for a person to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  REPO, rig, unique, deliverFromOutside, startServer, launchBrowser, waitForMessage, makePki,
  importDigitalId, composeSecure, sentNotice, PASSPHRASE,
} from './harness.mjs';

const WIDTH = 375;
const SHOTS = join(REPO, 'e2e/test-results');
let server;
let browser;
let pki;
before(async () => {
  pki = makePki();
  server = await startServer({ port: rig.portBase + 96, pki });
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function phoneSignedIn(user) {
  const context = await browser.newContext({ viewport: { width: WIDTH, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await fits(page, 'sign-in');
  await page.getByLabel('Email address').fill(rig.email(user));
  await page.getByLabel('Password').fill(rig.password(user));
  await page.getByRole('button', { name: 'Sign in' }).tap();
  await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  return page;
}

/** The page is no wider than the phone; a screenshot is kept under `name`. */
async function fits(page, name) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= WIDTH, `${name}: the page is ${width} px wide on a ${WIDTH} px screen`);
  await page.screenshot({ path: join(SHOTS, `phone-${name}.png`), fullPage: true });
}

/** A control is on screen, inside the width, at least 44 px each way, and nothing covers it. */
async function tappable(locator, what) {
  await locator.waitFor();
  const box = await locator.boundingBox();
  assert.ok(box, `${what} is not shown`);
  assert.ok(box.x >= 0 && box.x + box.width <= WIDTH, `${what} sticks out of the screen (${box.x}+${box.width})`);
  assert.ok(box.width >= 44 && box.height >= 44, `${what} is ${box.width}×${box.height} px, under 44 px to tap`);
  await locator.tap({ trial: true });
}

const nav = (page) => page.getByRole('navigation', { name: 'Folders' });
async function openFolders(page) {
  const toggle = nav(page).getByRole('button', { name: 'Folders' });
  await tappable(toggle, 'the Folders button');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.tap();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
}

async function unlockIfAsked(page) {
  const field = page.getByLabel('Passphrase', { exact: true });
  await field.waitFor({ timeout: 15000 });
  await field.fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).tap();
}

test('alice uses the folder list, message list, a message, compose and Digital IDs on a phone', async () => {
  const subject = unique('On the phone');
  deliverFromOutside({ to: rig.email('alice'), subject, body: `A line long enough to wrap on a small screen: ${'word '.repeat(40)}and https://example.org/${'x'.repeat(120)}` });
  const alice = await phoneSignedIn('alice');
  const link = await waitForMessage(alice, subject);

  // The folder list is folded away; the button opens it, and its links are big enough.
  const inboxLink = nav(alice).getByRole('link', { name: /^Inbox/ });
  assert.equal(await inboxLink.isVisible(), false, 'the folder list takes the screen before it is asked for');
  await tappable(nav(alice).getByRole('button', { name: 'New message' }), 'New message');
  await fits(alice, 'message-list');
  await openFolders(alice);
  await tappable(inboxLink, 'the Inbox link');
  await tappable(nav(alice).getByRole('link', { name: 'Digital IDs' }), 'the Digital IDs link');
  await fits(alice, 'folder-list');

  // The message list: each message's subject and box can be tapped.
  await tappable(link, 'the message\'s subject');
  await tappable(alice.locator('tr', { has: link }).locator('label.tap'), 'the message\'s checkbox');
  await tappable(alice.getByRole('searchbox', { name: 'Search mail' }), 'the search box');
  await link.tap();

  // Reading: the long line wraps, the actions are there.
  await alice.getByRole('heading', { name: subject, level: 1 }).waitFor();
  await fits(alice, 'read');
  for (const name of ['Reply', 'Reply all', 'Forward', 'Delete']) {
    await tappable(alice.getByRole('button', { name, exact: true }), name);
  }
  await tappable(alice.getByRole('link', { name: 'Back to Inbox' }), 'Back to Inbox');

  // Writing: a reply.
  await alice.getByRole('button', { name: 'Reply', exact: true }).tap();
  await alice.getByRole('heading', { name: 'Reply', level: 1 }).waitFor();
  await fits(alice, 'compose');
  for (const label of ['To', 'Subject', 'Message']) await tappable(alice.getByLabel(label, { exact: true }), label);
  await tappable(alice.getByRole('button', { name: 'Send' }), 'Send');

  // Digital IDs.
  await openFolders(alice);
  await nav(alice).getByRole('link', { name: 'Digital IDs' }).tap();
  await alice.getByRole('heading', { name: 'Digital IDs', level: 1 }).waitFor();
  await fits(alice, 'digital-ids');
  await tappable(alice.getByLabel('Passphrase to protect it in this browser'), 'the passphrase field');
  await tappable(alice.getByRole('button', { name: 'Import' }), 'Import');

  // The folder as conversations fits too, its closed lines big enough to tap.
  await alice.goto(`${server.url}/mail?folder=INBOX`);
  await alice.getByRole('button', { name: 'Show as conversations' }).tap();
  await tappable(alice.locator('ul.conversations summary').first().or(alice.locator('ul.conversations a[href]').first()).first(), 'a conversation');
  await fits(alice, 'conversations');
  await alice.getByRole('button', { name: 'Show as a list' }).tap();
  await alice.locator('table.messages').waitFor();

  // The other pages fit too.
  for (const [path, name] of [['/folders', 'manage-folders'], ['/contacts', 'address-book'], ['/options', 'options'],
    ['/filters', 'filters'], [`/search?folder=INBOX&q=${encodeURIComponent(subject)}`, 'search']]) {
    await alice.goto(`${server.url}${path}`);
    await fits(alice, name);
  }
  await alice.context().close();
});

test('bob opens an encrypted message with his digital ID on a phone', async () => {
  const subject = unique('Sealed on the phone');
  const text = `Only bob reads this ${unique('secret')}.`;
  const alice = await phoneSignedIn('alice');
  await openFolders(alice);
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  await composeSecure(alice, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: true });
  await fits(alice, 'compose-secure');
  await alice.getByRole('button', { name: 'Send' }).tap();
  await unlockIfAsked(alice);
  await sentNotice(alice);

  const bob = await phoneSignedIn('bob');
  await openFolders(bob);
  assert.match(await importDigitalId(bob, pki.p12('bob'), 'bob'), /Imported .*Bob/);
  await bob.goto(`${server.url}/mail?folder=INBOX`);
  const link = await waitForMessage(bob, subject);
  await link.tap();
  await bob.getByText('Encrypted message').waitFor();
  await unlockIfAsked(bob);
  await bob.locator('#sealed-message[data-state="opened"]').waitFor({ timeout: 30000 });
  assert.match(await bob.getByRole('region', { name: 'Message body' }).innerText(), new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.match(await bob.locator('#sealed-message .smime-banner').first().innerText(), /Signed by alice@/);
  await tappable(bob.getByRole('button', { name: 'Verify signature' }), 'Verify signature');
  await fits(bob, 'read-encrypted');
  await alice.context().close();
  await bob.context().close();
});
