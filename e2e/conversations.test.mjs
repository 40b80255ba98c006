// Conversations in a real browser: alice switches her Inbox to conversations, opens one to read
// a reply inside it, and switches back to the plain list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  rig, unique, deliverRaw, startServer, launchBrowser, signedInPage, waitForMessage,
} from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 98 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

function message({ subject, id, replyingTo = [] }) {
  const threading = replyingTo.length
    ? `In-Reply-To: <${replyingTo.at(-1)}>\r\nReferences: ${replyingTo.map((r) => `<${r}>`).join(' ')}\r\n`
    : '';
  return Buffer.from(`From: Olivia Outside <olivia@${rig.outsideDomain}>\r\nTo: ${rig.email('alice')}\r\n`
    + `Subject: ${subject}\r\nMessage-ID: <${id}>\r\n${threading}MIME-Version: 1.0\r\n`
    + 'Content-Type: text/plain\r\n\r\nShall we meet?\r\n');
}

test('alice reads her Inbox as conversations and goes back to the list', async () => {
  const topic = unique('Lunch plans');
  const [root, reply, answer] = ['root', 'reply', 'answer'].map((w) => `${unique(w)}@${rig.outsideDomain}`);
  const send = (m) => deliverRaw({ from: `olivia@${rig.outsideDomain}`, to: rig.email('alice'), bytes: message(m) });
  send({ subject: topic, id: root });
  send({ subject: `Re: ${topic} – yes`, id: reply, replyingTo: [root] });
  send({ subject: `Re: ${topic} – at noon`, id: answer, replyingTo: [root, reply] });
  const alice = await signedInPage(browser, server, 'alice');
  for (const subject of [topic, `Re: ${topic} – yes`, `Re: ${topic} – at noon`]) await waitForMessage(alice, subject);

  await alice.getByRole('button', { name: 'Show as conversations' }).click();
  await alice.getByRole('button', { name: 'Show as a list' }).waitFor();
  assert.equal(await alice.locator('table.messages').count(), 0, 'the plain list is gone');
  const closed = alice.locator('summary', { hasText: topic });
  assert.match(await closed.innerText(), /3 messages/);
  const noon = alice.getByRole('link', { name: `Re: ${topic} – at noon`, exact: true });
  assert.equal(await noon.isVisible(), false, 'a conversation starts closed');

  // j selects the newest conversation, o opens it; its replies are in order, indented under what
  // they answer.
  await alice.keyboard.press('j');
  assert.equal(await closed.evaluate((summary) => summary === document.activeElement), true, 'j selects the conversation');
  await alice.keyboard.press('o');
  await noon.waitFor();
  const indents = await alice.locator('details[open] ol.thread > li').evaluateAll((items) => items.map((li) => [li.querySelector('a').textContent, li.getBoundingClientRect().left]));
  assert.deepEqual(indents.map(([subject]) => subject), [topic, `Re: ${topic} – yes`, `Re: ${topic} – at noon`]);
  assert.ok(indents[0][1] < indents[1][1] && indents[1][1] < indents[2][1], `replies are indented: ${JSON.stringify(indents)}`);
  await noon.click();
  await alice.getByRole('heading', { name: `Re: ${topic} – at noon`, level: 1 }).waitFor();

  // The choice is remembered: back in the Inbox it is still conversations, until switched back.
  await alice.getByRole('link', { name: 'Back to Inbox' }).click();
  await alice.getByRole('button', { name: 'Show as a list' }).click();
  await alice.getByRole('button', { name: 'Show as conversations' }).waitFor();
  await alice.getByRole('link', { name: `Re: ${topic} – yes`, exact: true }).waitFor();
  assert.equal(await alice.locator('table.messages').count(), 1);
});
