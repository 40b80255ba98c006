// Faults a user meets with the real server process: it is killed (SIGKILL) right after the
// submission server accepted a message, and started again. What was delivered, what Sent holds,
// and what a retry of that send answers, as the user sees them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import {
  rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, settledCount,
} from './harness.mjs';

/**
 * A loopback proxy in front of the submission server that calls `onAccepted` when the server's
 * answer to a message's final dot arrives, and does not pass that answer on.
 */
async function acceptanceTrap(onAccepted) {
  const proxy = createServer((client) => {
    const server = connect(Number(rig.submissionPort), '127.0.0.1');
    let tail = Buffer.alloc(0);
    let messageEnded = false;
    client.on('data', (chunk) => {
      tail = Buffer.concat([tail, chunk]).subarray(-4 - chunk.length);
      if (tail.includes('\r\n.\r\n')) messageEnded = true;
      server.write(chunk);
    });
    server.on('data', (chunk) => {
      if (messageEnded) {
        onAccepted(chunk.toString());
        client.destroy();
        server.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { port: proxy.address().port, close: () => new Promise((resolve) => proxy.close(resolve)) };
}

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('the server is killed right after Postfix accepted a send: after a restart, one copy delivered, one in Sent, and a retry says sent', async () => {
  let server;
  let answer = '';
  const trap = await acceptanceTrap((reply) => {
    answer = reply;
    server.kill();
  });
  server = await startServer({ port: rig.portBase + 83, smtpPort: trap.port, extraSmtp: 'send_lease_seconds = 5' });
  const folderUrl = (name) => `${server.url}/mail?folder=${encodeURIComponent(name)}`;
  try {
    const subject = unique('Killed mid-send');
    const alice = await signedInPage(browser, server, 'alice');
    await alice.getByRole('button', { name: 'New message' }).click();
    await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
    await alice.getByLabel('Subject', { exact: true }).fill(subject);
    await alice.getByLabel('Message', { exact: true }).fill('Sent once, whatever happens.');
    const sendId = await alice.locator('input[name="send_id"]').inputValue();
    // The page's request dies with the server; the browser shows its own error.
    await alice.getByRole('button', { name: 'Send' }).click().catch(() => {});
    await alice.waitForLoadState().catch(() => {});
    assert.match(answer, /^250/, 'Postfix accepted the message before the server was killed');

    await server.restart();
    const bob = await signedInPage(browser, server, 'bob');
    await waitForMessage(bob, subject);
    assert.equal(await settledCount(bob, folderUrl('INBOX'), subject), 1, 'bob must have exactly one copy');

    // The same send again, as a browser retry of that form: once the dead process's claim has
    // run out (5 s here), it is recognised as sent, not "already being sent" for ever.
    await alice.waitForTimeout(6000);
    await alice.goto(`${server.url}/compose`);
    await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
    await alice.getByLabel('Subject', { exact: true }).fill(subject);
    await alice.getByLabel('Message', { exact: true }).fill('Sent once, whatever happens.');
    await alice.locator('input[name="send_id"]').evaluate((input, id) => { input.value = id; }, sendId);
    await alice.getByRole('button', { name: 'Send' }).click();
    await alice.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor();

    assert.equal(await settledCount(alice, folderUrl('Sent'), subject), 1, "alice's Sent must hold exactly one copy");
    assert.equal(await settledCount(bob, folderUrl('INBOX'), subject), 1, 'the retry must not deliver a second copy');
    await alice.context().close();
    await bob.context().close();
  } finally {
    await server.stop();
    await trap.close();
  }
});
