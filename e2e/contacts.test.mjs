// The personal address book, as a user meets it: adding a contact by hand, importing a .vcf of
// 100 contacts, being offered them (and the organisation's directory, with "can encrypt") while
// typing a recipient, exporting them all, and a damaged file that is refused and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO, rig, unique, startServer, launchBrowser, signedInPage, makePki, readDownload, deliverFromOutside, waitForMessage,
} from './harness.mjs';

let pki;
let server;
let browser;
before(async () => {
  pki = makePki();
  server = await startServer({ pki, port: rig.portBase + 94 });
  // Bob is in the directory with his certificate (startServer imported it); an admin gave him a name.
  const bin = process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail');
  execFileSync(bin, ['directory', 'import', '--config', server.configFile, '--email', rig.email('bob'),
    '--name', 'Bob Directory', pki.file('bob.crt'), pki.file('ca.crt')], { stdio: ['ignore', 'ignore', 'inherit'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const dir = mkdtempSync(join(tmpdir(), 'sealmail-contacts-'));

/** A .vcf with `count` people named "<label> Person<i>", as Thunderbird (4.0) and Google (3.0) write them. */
function vcf(label, count) {
  let text = '';
  for (let i = 0; i < count; i += 1) {
    const address = `${label.toLowerCase()}.person${i}@outside.test`;
    text += i % 2
      ? `BEGIN:VCARD\r\nVERSION:4.0\r\nFN:${label} Person${i}\r\nEMAIL;PREF=1:${address}\r\nUID:urn:uuid:${label}-${i}\r\nEND:VCARD\r\n`
      : `BEGIN:VCARD\r\nVERSION:3.0\r\nN:Person${i};${label};;;\r\nFN:${label} Person${i}\r\nEMAIL;TYPE=INTERNET:${address}\r\n`
        + `NOTE:From the import\\, card ${i}\r\nEND:VCARD\r\n`;
  }
  return text;
}

async function importFile(page, name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  await page.getByLabel('Import contacts from a .vcf file').setInputFiles(file);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByRole('heading', { name: 'Address book', level: 1 }).waitFor();
}

test('alice keeps an address book, is offered its people while writing, exports it, and a damaged file changes nothing', async () => {
  const alice = await signedInPage(browser, server, 'alice');
  const label = `Imp${Date.now().toString(36)}`;

  // By hand: a mistake is named and what was typed stays, then the contact is saved.
  await alice.getByRole('link', { name: 'Address book' }).click();
  await alice.getByRole('link', { name: 'Add a contact' }).click();
  await alice.getByLabel('Name').fill(`Zofia ${label}`);
  await alice.getByLabel('E-mail addresses').fill('zofia at example');
  await alice.getByRole('button', { name: 'Save contact' }).click();
  assert.match(await alice.getByRole('alert').innerText(), /"zofia at example" is not an e-mail address/);
  assert.equal(await alice.getByLabel('Name').inputValue(), `Zofia ${label}`);
  await alice.getByLabel('E-mail addresses').fill(`zofia.${label.toLowerCase()}@outside.test`);
  await alice.getByLabel('Phone').fill('+48 22 123 45 67');
  await alice.getByRole('button', { name: 'Save contact' }).click();
  await alice.getByText('The contact was saved.').waitFor();
  const people = alice.getByRole('table', { name: 'Your contacts' });
  const zofia = people.getByRole('row').filter({ hasText: `Zofia ${label}` });
  assert.match(await zofia.innerText(), /cannot receive encrypted mail/);

  // 100 contacts from a file.
  await importFile(alice, 'hundred.vcf', vcf(label, 100));
  assert.equal(await alice.locator('#import-report').innerText(), '100 contacts added, 0 updated, 0 skipped.');
  assert.equal(await people.getByRole('row').filter({ hasText: `${label} Person` }).count(), 100);
  assert.match(await people.getByRole('row').filter({ hasText: `${label} Person42` }).innerText(), /From the import, card 42/);
  // A hundred to a page, by name: Zofia comes after them.
  assert.equal(await alice.locator('#people-shown').innerText(), 'Contacts 1–100 of 101.');
  await alice.getByRole('navigation', { name: 'Pages of contacts' }).getByRole('link', { name: 'Next' }).click();
  assert.equal(await people.getByRole('row').filter({ hasText: `Zofia ${label}` }).count(), 1);

  // Writing: part of a name brings the contact; the directory's Bob says "can encrypt".
  await alice.getByRole('button', { name: 'New message' }).click();
  const to = alice.getByRole('combobox', { name: 'To' });
  await to.pressSequentially(`${label} person4`, { delay: 20 });
  const listbox = alice.getByRole('listbox', { name: 'Suggestions for To' });
  const option42 = listbox.getByRole('option', { name: new RegExp(`${label} Person42 <`) });
  await option42.waitFor();
  assert.match(await option42.innerText(), /no certificate/);
  await option42.click();
  assert.equal(await to.inputValue(), `"${label} Person42" <${label.toLowerCase()}.person42@outside.test>, `);
  assert.equal(await to.getAttribute('aria-expanded'), 'false');

  await to.pressSequentially('bob dir', { delay: 20 });
  const bob = listbox.getByRole('option', { name: /Bob Directory/ });
  await bob.waitFor();
  assert.match(await bob.innerText(), /Bob Directory <bob@[^>]+> — can encrypt/);
  await to.press('ArrowDown');
  assert.equal(await bob.getAttribute('aria-selected'), 'true');
  assert.equal(await to.getAttribute('aria-activedescendant'), await bob.getAttribute('id'));
  await to.press('Enter');
  assert.equal(await to.inputValue(),
    `"${label} Person42" <${label.toLowerCase()}.person42@outside.test>, "Bob Directory" <${rig.email('bob')}>, `);
  assert.equal(await alice.getByRole('heading', { name: 'New message', level: 1 }).count(), 1, 'Enter chose; it did not send');

  // Each chosen recipient is a token saying whether mail to them can be encrypted.
  const tokens = alice.getByRole('list', { name: 'Recipients in To' });
  const person42 = `${label.toLowerCase()}.person42@outside.test`;
  const bobToken = tokens.getByRole('listitem').filter({ hasText: 'Bob Directory' });
  await bobToken.waitFor({ timeout: 30000 });
  assert.match(await bobToken.textContent(), new RegExp(`Bob Directory <${rig.email('bob')}> — can encrypt`));
  assert.match(await tokens.getByRole('listitem').filter({ hasText: person42 }).textContent(), /— no certificate/);
  // Removing a token takes that recipient out of the field, and only that one.
  await tokens.getByRole('button', { name: `Remove ${person42} from To` }).click();
  assert.equal(await to.inputValue(), `"Bob Directory" <${rig.email('bob')}>, `);
  await tokens.getByRole('listitem').filter({ hasText: person42 }).waitFor({ state: 'detached' });
  assert.equal(await tokens.getByRole('listitem').count(), 1);

  // Export: one .vcf with everyone.
  await alice.getByRole('link', { name: 'Address book' }).click();
  const [download] = await Promise.all([
    alice.waitForEvent('download'),
    alice.getByRole('link', { name: 'Export all contacts (.vcf)' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'contacts.vcf');
  const exported = (await readDownload(download)).toString('utf8');
  assert.equal(exported.match(/^BEGIN:VCARD\r$/gm).length, 101);
  assert.match(exported, new RegExp(`FN:Zofia ${label}`));
  assert.match(exported, new RegExp(`EMAIL:${label.toLowerCase()}.person99@outside.test`, 'i'));

  // A damaged file: refused in words, nothing of it kept, everything else still there.
  const good = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Never ${label}\r\nEMAIL:never.${label.toLowerCase()}@outside.test\r\nEND:VCARD\r\n`;
  await importFile(alice, 'damaged.vcf', `${good}BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cut off\r\nEMAIL:cut`);
  assert.match(await alice.getByRole('alert').innerText(),
    /Nothing was imported\. The file is damaged near contact 2: the card is cut off/);
  assert.equal(await alice.locator('#people-shown').innerText(), 'Contacts 1–100 of 101.');
  assert.equal(await people.getByRole('row').filter({ hasText: `${label} Person` }).count(), 100);
  await alice.getByLabel('Find a contact').fill('never');
  await alice.getByRole('button', { name: 'Find', exact: true }).click();
  assert.match(await alice.locator('#people-empty').innerText(), /No contact matches "never"/);
  await alice.getByLabel('Find a contact').fill('zofia');
  await alice.getByRole('button', { name: 'Find', exact: true }).click();
  assert.equal(await people.getByRole('row').filter({ hasText: `Zofia ${label}` }).count(), 1);
  await alice.context().close();
});

test('bob adds the sender of a message to his contacts in one click', async () => {
  const subject = unique('Add me');
  deliverFromOutside({ to: rig.email('bob'), subject });
  const bob = await signedInPage(browser, server, 'bob');
  await (await waitForMessage(bob, subject)).click();
  await bob.getByRole('button', { name: 'Add sender to contacts' }).click();
  await bob.getByText('The sender was added to your contacts.').waitFor();
  const row = bob.getByRole('table', { name: 'Your contacts' }).getByRole('row').filter({ hasText: 'Olivia Outside' });
  assert.match(await row.innerText(), /olivia@outside\.test/);
  await bob.context().close();
});
