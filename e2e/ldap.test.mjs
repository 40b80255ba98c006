// The live LDAP directory, as a user sees it: recipients whose certificates only the rig's
// OpenLDAP holds get encrypted mail, a group there expands to its members, and with slapd
// stopped the page says so and the certificate in the user's contacts is used instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO, rig, unique, startServer, launchBrowser, signedInPage, waitForMessage, makePki, rigCommand,
  composeSecure, importDigitalId, PASSPHRASE, sentNotice,
} from './harness.mjs';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start the rig's OpenLDAP with scripts/rig ldap-start`);
  return value;
}

const ldap = {
  url: need('RIG_LDAP_URL'),
  bindDn: need('RIG_LDAP_BIND_DN'),
  password: need('RIG_LDAP_BIND_PASSWORD'),
  base: need('RIG_LDAP_BASE_DN'),
};

let pki;
let server;
let browser;
before(async () => {
  pki = makePki();
  // No `pki` argument: that would import everyone's certificate into the server's own
  // directory tables, and these tests need LDAP to be the only place that has them.
  server = await startServer({
    port: rig.portBase + 95,
    extra: `
[pki]
trust_anchors = "${pki.file('anchors')}"
disable_crl_check = true
[directory]
ldap_url = "${ldap.url}"
bind_dn = "${ldap.bindDn}"
bind_password = "${ldap.password}"
base_dn = "${ldap.base}"
timeout_seconds = 3
cache_seconds = 0
`,
  });
  // The admin imports alice's certificate with the e-mail CA, which validation needs as an
  // intermediate; bob's and carol's certificates are only ever in LDAP.
  execFileSync(process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail'), ['directory', 'import', '--config',
    server.configFile, '--email', rig.email('alice'), pki.file('alice.crt'), pki.file('ca.crt')],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Feeds LDIF to `scripts/rig ldap-add` or `ldap-modify`. */
function ldif(command, text) {
  const file = join(mkdtempSync(join(tmpdir(), 'sealmail-ldif-')), 'change.ldif');
  writeFileSync(file, text);
  rigCommand(command, file);
}

const der = (user) => execFileSync('openssl', ['x509', '-in', pki.file(`${user}.crt`), '-outform', 'DER']);

/** Puts `user`'s certificate from the test PKI into their LDAP entry's userCertificate;binary. */
function publishInLdap(user) {
  ldif('ldap-modify', `dn: uid=${user},ou=people,${ldap.base}\nchangetype: modify\n`
    + `replace: userCertificate;binary\nuserCertificate;binary:: ${der(user).toString('base64')}\n-\n`);
}

function openssl(args, input) {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

async function unlockIfAsked(page) {
  const field = page.getByLabel('Passphrase', { exact: true });
  const failed = page.locator('#seal-status.error');
  await Promise.race([
    field.waitFor({ timeout: 15000 }),
    failed.waitFor({ timeout: 15000 }).then(async () => { throw new Error(`not sent: ${await failed.innerText()}`); }),
  ]);
  await field.fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
}

/** What `user`'s mailbox got under `subject`, decrypted with their key from the test PKI. */
async function openedBy(user, subject) {
  const page = await signedInPage(browser, server, user);
  await (await waitForMessage(page, subject)).click();
  const rawHref = await page.locator('#sealed-message').getAttribute('data-raw-href');
  const raw = await (await page.request.get(`${server.url}${rawHref}`)).body();
  await page.context().close();
  // Triple wrapped: the outer signature, then the envelope.
  const enveloped = openssl(['cms', '-verify', '-CAfile', pki.file('root.crt')], raw);
  return openssl(['cms', '-decrypt', '-recip', pki.file(`${user}.crt`), '-inkey', pki.file(`${user}.key`)], enveloped).toString();
}

/** What the compose page hears from the recipients API for `to`. */
async function lookup(page, to) {
  return page.evaluate(async (recipients) => {
    const token = document.querySelector('input[name="csrf"]').value;
    const res = await fetch('/api/recipients', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ recipients }),
    });
    return res.json();
  }, to);
}

test('an LDAP group expands to bob and carol, and mail to them is encrypted to the certificates only LDAP holds', async () => {
  publishInLdap('bob');
  publishInLdap('carol');
  const group = `e2e-${Date.now().toString(36)}@${rig.domain}`;
  const cn = group.split('@')[0];
  ldif('ldap-add', `dn: cn=${cn},ou=groups,${ldap.base}\nobjectClass: groupOfNames\nobjectClass: sealmailRecipient\n`
    + `cn: ${cn}\nmail: ${group}\n`
    + `member: uid=bob,ou=people,${ldap.base}\nmember: uid=carol,ou=people,${ldap.base}\n`);

  const alice = await signedInPage(browser, server, 'alice');
  const answer = await lookup(alice, [group]);
  assert.deepEqual(answer.recipients.map((r) => r.address).sort(), [rig.email('bob'), rig.email('carol')], JSON.stringify(answer));
  for (const r of answer.recipients) {
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.equal(r.source, 'directory userCertificate');
    assert.equal(r.via, group);
  }
  assert.deepEqual(answer.problems, []);

  // Delivering to the group's own address is the mail server's job (the rig's Postfix has no
  // such alias), so alice expands it on the page: its token puts its members in its place.
  const subject = unique('To the LDAP group');
  const text = `Only bob and carol can read ${Date.now().toString(36)}.`;
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);
  await composeSecure(alice, { to: group, subject, body: text, sign: true, encrypt: true });
  // Leaving the field twice at once sends two overlapping lookups; the list still has 2 members.
  await alice.getByLabel('To', { exact: true }).evaluate((to) => {
    to.dispatchEvent(new Event('change'));
    to.dispatchEvent(new Event('change'));
  });
  const tokens = alice.getByRole('list', { name: 'Recipients in To' });
  const listToken = tokens.getByRole('listitem').filter({ hasText: group });
  await listToken.filter({ hasText: 'list of 2: all can encrypt' }).waitFor({ timeout: 30000 });
  await listToken.getByRole('button', { name: `Put the 2 members of ${group} in To` }).click();
  assert.deepEqual((await alice.getByLabel('To', { exact: true }).inputValue()).split(/,\s*/).filter(Boolean).sort(),
    [rig.email('bob'), rig.email('carol')]);
  await tokens.getByRole('listitem').filter({ hasText: rig.email('carol') }).filter({ hasText: 'can encrypt' }).waitFor({ timeout: 30000 });
  await alice.getByRole('button', { name: 'Send' }).click();
  await unlockIfAsked(alice);
  await sentNotice(alice);
  await alice.context().close();

  assert.match(await openedBy('bob', subject), new RegExp(text));
  assert.match(await openedBy('carol', subject), new RegExp(text));
});

test('with the directory stopped, alice is told so and bob\'s certificate from her contacts is used', async () => {
  const subject = unique('Directory down');
  const text = `Sealed while the directory was away ${Date.now().toString(36)}.`;
  const alice = await signedInPage(browser, server, 'alice');
  // bob's certificate in alice's contacts, as "Add to contacts" on a signed message puts it.
  const added = await alice.evaluate(async (pem) => {
    const token = document.querySelector('input[name="csrf"]').value;
    const res = await fetch('/api/contacts/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ certificates: [pem] }),
    });
    return res.status;
  }, readFileSync(pki.file('bob.crt'), 'utf8'));
  assert.equal(added, 200);
  assert.match(await importDigitalId(alice, pki.p12('alice'), 'alice'), /Imported .*Alice/);

  rigCommand('ldap-stop');
  try {
    await composeSecure(alice, { to: rig.email('bob'), subject, body: text, sign: true, encrypt: true });
    await alice.getByRole('button', { name: 'Send' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Not every recipient could be looked up' });
    await dialog.waitFor({ timeout: 30000 });
    assert.match(await dialog.innerText(), /The directory could not be reached .*certificates from your contacts/s);
    await dialog.getByRole('button', { name: 'Send' }).click();
    await unlockIfAsked(alice);
    await sentNotice(alice);
  } finally {
    rigCommand('ldap-start');
  }
  await alice.context().close();
  assert.match(await openedBy('bob', subject), new RegExp(text));
});
