// Organising mail in a real browser: the folders page (create, nest, rename, delete with its
// count, special folders kept, empty Trash) and actions on several ticked messages at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  rig, unique, deliverFromOutside, startServer, launchBrowser, signedInPage, waitForMessage,
} from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer({ port: rig.portBase + 84 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const sidebar = (page) => page.getByRole('navigation', { name: 'Folders' });
const notice = (page) => page.locator('p.notice[role=status]');

test('alice makes a nested folder, moves ticked mail into it, renames it and deletes it knowing the count', async () => {
  const top = unique('Projects');
  const renamed = unique('Clients');
  const subjects = [unique('Plan A'), unique('Plan B'), unique('Plan C')];
  for (const subject of subjects) deliverFromOutside({ to: rig.email('alice'), subject });
  const alice = await signedInPage(browser, server, 'alice');
  for (const subject of subjects) await waitForMessage(alice, subject);

  await sidebar(alice).getByRole('link', { name: 'Manage folders' }).click();
  await alice.getByRole('heading', { name: 'Folders', level: 1 }).waitFor();
  await alice.getByLabel('Folder name').fill(top);
  await alice.getByRole('button', { name: 'Create folder' }).click();
  assert.equal(await notice(alice).innerText(), 'The folder was created.');
  await sidebar(alice).getByRole('link', { name: top, exact: true }).waitFor();

  await alice.getByLabel('Folder name').fill('Reports');
  await alice.getByLabel('Inside').selectOption({ label: top });
  await alice.getByRole('button', { name: 'Create folder' }).click();
  const nested = `${top}/Reports`;
  await sidebar(alice).getByRole('link', { name: nested, exact: true }).waitFor();

  // A name with the delimiter is refused with the reason, and nothing appears.
  await alice.getByLabel('Folder name').fill('a/b');
  await alice.getByRole('button', { name: 'Create folder' }).click();
  assert.match(await alice.getByRole('alert').innerText(), /cannot contain "\/"/);
  assert.equal(await alice.getByLabel('Folder name').inputValue(), 'a/b', 'what was typed is kept');
  assert.equal(await sidebar(alice).getByRole('link', { name: 'a/b', exact: true }).count(), 0);

  // Tick two messages in the Inbox and move them into the nested folder.
  await sidebar(alice).getByRole('link', { name: 'Inbox' }).click();
  await alice.getByRole('checkbox', { name: `Select ${subjects[0]}` }).check();
  await alice.getByRole('checkbox', { name: `Select ${subjects[1]}` }).check();
  await alice.getByLabel('Move to').selectOption({ label: nested });
  await alice.getByRole('button', { name: 'Move', exact: true }).click();
  assert.equal(await notice(alice).innerText(), 'The selected messages were moved.');
  assert.equal(await alice.getByRole('link', { name: subjects[0], exact: true }).count(), 0);
  assert.equal(await alice.getByRole('link', { name: subjects[1], exact: true }).count(), 0);
  await alice.getByRole('link', { name: subjects[2], exact: true }).waitFor();
  // Its link now also says how many are unread.
  await sidebar(alice).getByRole('link', { name: `${nested} 2 unread`, exact: true }).click();
  await alice.getByRole('link', { name: subjects[0], exact: true }).waitFor();
  await alice.getByRole('link', { name: subjects[1], exact: true }).waitFor();

  // Rename the top folder: the sidebar follows, its folder inside moves with it.
  await sidebar(alice).getByRole('link', { name: 'Manage folders' }).click();
  await alice.getByLabel(`New name for ${top}`, { exact: true }).fill(renamed);
  await alice.getByRole('button', { name: `Rename ${top}`, exact: true }).click();
  assert.equal(await notice(alice).innerText(), 'The folder was renamed.');
  await sidebar(alice).getByRole('link', { name: renamed, exact: true }).waitFor();
  await sidebar(alice).getByRole('link', { name: `${renamed}/Reports 2 unread`, exact: true }).waitFor();
  assert.equal(await sidebar(alice).getByRole('link', { name: top, exact: true }).count(), 0);

  // Special folders offer no Delete; ordinary ones do.
  assert.equal(await alice.getByRole('button', { name: 'Delete Inbox', exact: true }).count(), 0);
  assert.equal(await alice.getByRole('button', { name: 'Delete Sent', exact: true }).count(), 0);
  assert.equal(await alice.getByRole('button', { name: 'Rename Trash', exact: true }).count(), 0);
  assert.equal(await alice.getByRole('button', { name: `Delete ${renamed}`, exact: true }).count(), 1);

  // Deleting the folder with mail in it names the count first.
  await alice.getByRole('button', { name: `Delete ${renamed}/Reports`, exact: true }).click();
  await alice.getByRole('heading', { name: `Delete folder "${renamed}/Reports"`, level: 1 }).waitFor();
  assert.equal(await alice.locator('#confirm-question').innerText(),
    `Delete folder "${renamed}/Reports" and its 2 messages?`);
  await alice.getByRole('button', { name: 'Delete folder' }).click();
  assert.equal(await notice(alice).innerText(), 'The folder and its messages were deleted.');
  assert.equal(await sidebar(alice).getByRole('link', { name: `${renamed}/Reports` }).count(), 0);
  await alice.getByRole('button', { name: `Delete ${renamed}`, exact: true }).click();
  assert.equal(await alice.locator('#confirm-question').innerText(), `Delete folder "${renamed}"? It is empty.`);
  await alice.getByRole('button', { name: 'Delete folder' }).click();
  assert.equal(await sidebar(alice).getByRole('link', { name: renamed, exact: true }).count(), 0);
  await alice.context().close();
});

test('a forged form to delete or rename Inbox is refused with a clear message', async () => {
  const alice = await signedInPage(browser, server, 'alice');
  await sidebar(alice).getByRole('link', { name: 'Manage folders' }).click();
  // The page's own token, a form the page never offers.
  for (const [action, fields] of [
    ['/folders/delete', { folder: 'INBOX', messages: '0' }],
    ['/folders/rename', { folder: 'Sent', name: 'Old sent' }],
  ]) {
    await alice.evaluate(([to, extra]) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = to;
      const add = (name, value) => {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.append(input);
      };
      add('csrf', document.querySelector('input[name=csrf]').value);
      for (const [name, value] of Object.entries(extra)) add(name, value);
      document.body.append(form);
      form.submit();
    }, [action, fields]);
    await alice.getByRole('heading', { name: 'Folders', level: 1 }).waitFor();
    assert.match(await alice.getByRole('alert').innerText(), /is a special folder .* it cannot be renamed or deleted\./);
  }
  await sidebar(alice).getByRole('link', { name: 'Inbox' }).waitFor();
  await sidebar(alice).getByRole('link', { name: 'Sent', exact: true }).waitFor();
  await alice.context().close();
});

test('bob ticks messages, flags and marks them, selects all, deletes them and empties Trash', async () => {
  const subjects = [unique('Batch one'), unique('Batch two')];
  for (const subject of subjects) deliverFromOutside({ to: rig.email('bob'), subject });
  const bob = await signedInPage(browser, server, 'bob');
  for (const subject of subjects) await waitForMessage(bob, subject);
  const row = (subject) => bob.getByRole('row').filter({ has: bob.getByRole('link', { name: subject, exact: true }) });

  await bob.getByRole('checkbox', { name: `Select ${subjects[0]}` }).check();
  await bob.getByRole('button', { name: 'Flag', exact: true }).click();
  assert.equal(await notice(bob).innerText(), 'The selected messages were flagged.');
  assert.match(await row(subjects[0]).innerText(), /Flagged\./);
  assert.doesNotMatch(await row(subjects[1]).innerText(), /Flagged\./);
  assert.match(await row(subjects[0]).getAttribute('class'), /unread/);

  await bob.getByRole('checkbox', { name: `Select ${subjects[0]}` }).check();
  await bob.getByRole('checkbox', { name: `Select ${subjects[1]}` }).check();
  await bob.getByRole('button', { name: 'Mark as read' }).click();
  assert.equal(await notice(bob).innerText(), 'The selected messages were marked as read.');
  assert.doesNotMatch(await row(subjects[0]).getAttribute('class'), /unread/);
  assert.doesNotMatch(await row(subjects[1]).getAttribute('class') ?? '', /unread/);

  // "Select all on this page" ticks every box, and unticking one makes it partial.
  const all = bob.getByRole('checkbox', { name: 'Select all on this page' });
  await all.check();
  const boxes = bob.locator('input[type=checkbox][name=uid]');
  const n = await boxes.count();
  assert.ok(n >= 2);
  for (let i = 0; i < n; i += 1) assert.equal(await boxes.nth(i).isChecked(), true);
  await all.uncheck();
  for (let i = 0; i < n; i += 1) assert.equal(await boxes.nth(i).isChecked(), false);

  await bob.getByRole('checkbox', { name: `Select ${subjects[0]}` }).check();
  await bob.getByRole('checkbox', { name: `Select ${subjects[1]}` }).check();
  await bob.getByRole('button', { name: 'Delete', exact: true }).click();
  assert.equal(await notice(bob).innerText(), 'The selected messages were moved to Trash.');
  assert.equal(await bob.getByRole('link', { name: subjects[0], exact: true }).count(), 0);

  await sidebar(bob).getByRole('link', { name: 'Trash' }).click();
  await bob.getByRole('link', { name: subjects[0], exact: true }).waitFor();
  await sidebar(bob).getByRole('link', { name: 'Manage folders' }).click();
  await bob.getByRole('button', { name: 'Empty Trash' }).click();
  const question = await bob.locator('#confirm-question').innerText();
  const count = Number(question.match(/^Empty Trash: delete its (\d+) messages? for good\?/)?.[1]);
  assert.ok(count >= 2, question);
  await bob.getByRole('button', { name: 'Empty Trash' }).click();
  assert.equal(await notice(bob).innerText(), 'Trash was emptied.');
  await sidebar(bob).getByRole('link', { name: 'Trash' }).click();
  assert.equal(await bob.getByRole('link', { name: subjects[0], exact: true }).count(), 0);
  await bob.getByText('There are no messages in this folder.').waitFor();
  await bob.context().close();
});
