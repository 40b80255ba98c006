// Accessibility: axe-core (the engine behind Chrome's Lighthouse audit) checks every page a user
// meets, signed out and signed in, with no serious or critical finding allowed; and the main
// pages can be worked through from the keyboard with the focus always visible.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  rig, unique, deliverFromOutside, startServer, launchBrowser, signedInPage, waitForMessage, makePki, engineReady,
} from './harness.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 97, pki: makePki() });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** axe-core's serious and critical findings on the page as it is now, one line each. */
async function findings(page) {
  // Evaluated through the DevTools protocol, which the pages' Content-Security-Policy allows.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${v.help} at ${n.target.join(' ')}`));
}

async function assertClean(page, name) {
  const found = await findings(page);
  assert.deepEqual(found, [], `${name} (${page.url()}):\n${found.join('\n')}`);
}

test('every page passes axe-core with no serious or critical finding', async () => {
  const subject = unique('Accessible');
  deliverFromOutside({ to: rig.email('alice'), subject, body: 'A message to read with a screen reader.' });

  const signedOut = await (await browser.newContext()).newPage();
  await signedOut.goto(`${server.url}/login`);
  await assertClean(signedOut, 'sign-in');

  const alice = await signedInPage(browser, server, 'alice');
  const link = await waitForMessage(alice, subject);
  await assertClean(alice, 'message list');
  await link.click();
  await alice.getByRole('heading', { name: subject }).waitFor();
  await assertClean(alice, 'message');

  await alice.goto(`${server.url}/mail?folder=INBOX`);
  await alice.getByRole('button', { name: 'Show as conversations' }).click();
  await alice.getByRole('button', { name: 'Show as a list' }).waitFor();
  await assertClean(alice, 'conversations');
  await alice.getByRole('button', { name: 'Show as a list' }).click();
  await alice.getByRole('button', { name: 'Show as conversations' }).waitFor();

  const pages = [
    ['search results', `/search?folder=INBOX&q=${encodeURIComponent('screen reader')}`],
    ['compose', '/compose'],
    ['Digital IDs', '/keys'],
    ['options', '/options'],
    ['identities', '/identities'],
    ['contacts', '/contacts'],
    ['folders', '/folders'],
    ['out of office', '/vacation'],
    ['filters', '/filters'],
  ];
  for (const [name, path] of pages) {
    const response = await alice.goto(`${server.url}${path}`);
    assert.equal(response.status(), 200, `${name}: ${path} answered ${response.status()}`);
    if (name === 'compose' || name === 'Digital IDs') await engineReady(alice);
    await assertClean(alice, name);
  }
  // Compose in formatted text (the format choice, the toolbar, the editor), with a recipient
  // shown as a token.
  await alice.goto(`${server.url}/compose`);
  await engineReady(alice);
  await alice.getByLabel('Format', { exact: true }).selectOption('html');
  await alice.getByRole('toolbar', { name: 'Formatting' }).waitFor();
  await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await alice.getByLabel('To', { exact: true }).dispatchEvent('change');
  await alice.getByRole('list', { name: 'Recipients in To' }).getByRole('listitem').waitFor({ timeout: 30000 });
  await assertClean(alice, 'compose in formatted text, with a recipient token');
  await alice.context().close();
});

test('the message list, a message and compose can be worked from the keyboard, with the focus always visible', async () => {
  const subject = unique('By keyboard');
  deliverFromOutside({ to: rig.email('alice'), subject });
  const alice = await signedInPage(browser, server, 'alice');
  await waitForMessage(alice, subject);

  /** Tabs until `matches` holds for the focused element; each stop must show where it is. */
  const tabTo = async (what, matches) => {
    for (let stop = 0; stop < 80; stop += 1) {
      await alice.keyboard.press('Tab');
      const focused = await alice.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {
          text: (el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 80),
          tag: el.tagName,
          visible: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 || style.boxShadow !== 'none',
        };
      });
      assert.ok(focused.visible, `the focus on ${focused.tag} "${focused.text}" is not visible`);
      if (matches(focused)) return;
    }
    assert.fail(`${what} cannot be reached with Tab`);
  };
  await tabTo(`the message "${subject}"`, (f) => f.tag === 'A' && f.text.includes(subject));
  await alice.keyboard.press('Enter');
  await alice.getByRole('heading', { name: subject }).waitFor();
  await tabTo('Reply', (f) => f.text === 'Reply');
  await alice.keyboard.press('Enter');
  await alice.getByLabel('Message', { exact: true }).waitFor();
  await alice.context().close();
});
