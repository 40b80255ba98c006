// Two Sealmail instances on one PostgreSQL behind HAProxy (scripts/rig haproxy-start), as an
// admin runs several servers. What must hold: a session, the sign-in throttle and the
// configuration in force are the same whichever instance answers; and with many users at work,
// killing one instance and starting it again loses no send and doubles none, and costs no error
// beyond the requests that were inside the killed instance.
//
// The users of the soak are simulated over HTTP (a browser each would not fit this machine); one
// of them is a real Chromium page that keeps working through the kill.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  rig, rigCommand, serverConfig, runServer, launchBrowser, signedInPage, sentNotice, messagesOverImap, mailQueued,
  Visitor, field, signInAll, composeForm,
} from './harness.mjs';

const USERS = Number(process.env.SOAK_USERS || 200);
const SECONDS = Number(process.env.SOAK_SECONDS || 90);
// A request that was inside the killed instance fails (HAProxy answers 502); those are the only
// errors allowed, and they come within moments of the kill.
const KILL_WINDOW_MS = 3000;

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start HAProxy and PostgreSQL with scripts/rig (scripts/test does)`);
  return value;
}

const run = Date.now().toString(36);
let front; // HAProxy
let instances = []; // [a, b]
let config;
let browser;

before(async () => {
  front = need('RIG_HAPROXY_URL');
  const ports = need('RIG_HAPROXY_BACKEND_PORTS').split(' ').map(Number);
  // A database of this run's own on the rig's PostgreSQL, shared by both instances.
  const shared = need('RIG_DATABASE_URL');
  const database = `soak_${run}`;
  execFileSync('psql', [shared, '-qc', `create database ${database}`]);
  config = serverConfig({
    database: shared.replace(/\/[^/]*$/, `/${database}`),
    // A crashed instance's claim on a send is recovered after 10 s instead of 10 minutes, so
    // a retry from the other instance settles within the soak.
    extraSmtp: 'send_lease_seconds = 10',
    // Dovecot's stock limit is 100 imap-login processes, and over TLS each connection keeps one:
    // two instances stay under it with 40 each (the default of 64 is for one instance).
    extraImap: 'max_connections = 40',
    // Quick lockout, so the throttle test spreads its failures over both instances.
    extra: '[login]\nfree_failures = 2\ndelay_step_ms = 10\nlockout_failures = 6\nwindow_seconds = 600\n',
  });
  // One after the other: the first runs the migrations.
  instances = [await runServer(config, ports[0]), await runServer(config, ports[1])];
  await bothInRotation();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all(instances.map((i) => i.stop()));
});

/** Until HAProxy's health checks have both instances in rotation (two checks, 500 ms apart). */
async function bothInRotation() {
  const answered = new Set();
  for (const started = Date.now(); answered.size < 2;) {
    if (Date.now() - started > 20000) throw new Error('HAProxy did not put both instances in rotation');
    const res = await fetch(`${front}/readyz`);
    if (res.ok) answered.add((await res.json()).instance); // else HAProxy's 503: none in rotation yet
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a session, the sign-in throttle and the configuration in force are the same on both instances', async () => {
  const [a, b] = instances;
  const user = { address: `multi-${run}@${rig.domain}`, password: `multi-${run}-pw` };
  const locked = { address: `locked-${run}@${rig.domain}`, password: `locked-${run}-pw` };
  rigCommand('add-user', user.address, user.password, locked.address, locked.password);

  // Signed in on one instance, the same cookie opens the inbox on the other; signing out on
  // the second ends it on the first.
  const visitor = new Visitor(a.url);
  const signedIn = await visitor.signInNew(user.address, user.password);
  assert.equal(signedIn.location, '/mail?folder=INBOX');
  const inbox = await visitor.request('/mail?folder=INBOX', { base: b.url });
  assert.equal(inbox.status, 200);
  assert.match(inbox.text, /<h1[^>]*>Inbox<\/h1>/);
  const out = await visitor.request('/logout', {
    method: 'POST', base: b.url, body: new URLSearchParams({ csrf: field(inbox.text, 'csrf') }),
  });
  assert.equal(out.status, 303);
  const after = await visitor.request('/mail?folder=INBOX', { base: a.url });
  assert.equal(after.status, 303, 'signed out on one instance, the session is over on the other');
  assert.match(after.location, /^\/login/);

  // Wrong passwords spread over both: each instance saw 3, under the lockout of 6, yet the
  // address is locked everywhere, even for the right password.
  for (let i = 0; i < 6; i += 1) {
    const wrong = await new Visitor([a, b][i % 2].url).signIn(locked.address, 'not the password');
    assert.equal(wrong.status, 401, wrong.text.slice(0, 200));
  }
  for (const instance of [a, b]) {
    const refused = await new Visitor(instance.url).signIn(locked.address, locked.password);
    assert.equal(refused.status, 429);
    assert.match(refused.text, /Too many failed sign-in attempts for this address/);
  }

  // One configuration file for both (as configuration management keeps it): a change is in
  // force on both, /readyz shows each the same new version, and a plain send is refused on both.
  const version = async (instance) => (await (await fetch(`${instance.url}/readyz`)).json()).config_version;
  const versionsBecome = async (wanted) => {
    for (const started = Date.now(); ;) {
      const [va, vb] = [await version(a), await version(b)];
      if (wanted(va) && va === vb) return va;
      assert.ok(Date.now() - started < 15000, `the two instances did not take up the change: ${va}, ${vb}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const original = readFileSync(config, 'utf8');
  const first = await versionsBecome(() => true);
  writeFileSync(config, `${original}\n[smime]\nalways_sign = true\n`);
  a.reload();
  b.reload();
  await versionsBecome((v) => v !== first);
  for (const instance of [a, b]) {
    const sender = new Visitor(instance.url);
    assert.equal((await sender.signIn(user.address, user.password)).status, 303);
    const refused = await sendPlain(sender, { to: user.address, subject: `Unsigned ${run}`, sendId: newSendId() });
    assert.equal(refused.status, 422);
    assert.match(refused.text, /your organization requires a digital signature on every message/);
  }
  writeFileSync(config, original);
  a.reload();
  b.reload();
  await versionsBecome((v) => v === first);
});

let sends = 0;
function newSendId() {
  sends += 1;
  return `soak-${run}-${process.pid}-${sends}`.padEnd(16, '0');
}

/** The compose form of `page` (its HTML) for a plain message of the soak, with the given send id. */
function sendForm(page, { to, subject, sendId }) {
  return composeForm(page, { to, subject, sendId, body: `Sent in the soak as ${subject}.` });
}

/** Sends a plain message as the compose page does, with the given send id. */
async function sendPlain(visitor, message) {
  const page = await visitor.request('/compose');
  if (page.status !== 200) return page;
  return visitor.request('/compose', { method: 'POST', body: sendForm(page.text, message) });
}

/** Which subjects each user's INBOX, Sent and Drafts hold, read over IMAP (not through Sealmail). */
function mailboxesOverImap(users, prefix) {
  const program = `
import imaplib, json, sys
users, prefix = json.load(sys.stdin), sys.argv[1]
found = {}
for address, password in users:
    m = imaplib.IMAP4('127.0.0.1', ${rig.imapPort})
    m.login(address, password)
    found[address] = {}
    for folder in ('INBOX', 'Sent', 'Drafts'):
        subjects = []
        if m.select(folder, readonly=True)[0] == 'OK':
            numbers = m.search(None, 'SUBJECT', '"' + prefix + '"')[1][0].split()
            for n in numbers:
                header = m.fetch(n, '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1][0][1].decode()
                subjects.append(header.split(':', 1)[1].strip())
        found[address][folder] = subjects
    m.logout()
print(json.dumps(found))
`;
  const input = JSON.stringify(users.map((u) => [u.address, u.password]));
  return JSON.parse(execFileSync('python3', ['-c', program, prefix], { input, maxBuffer: 64 << 20 }).toString());
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

test(`${USERS} users work through HAProxy while one instance is killed and started again: no send lost or doubled, no error beyond the kill`, async () => {
  const [a] = instances;
  const prefix = `Soak ${run}`;
  const users = Array.from({ length: USERS }, (_, i) => ({
    address: `soak-${run}-${i}@${rig.domain}`,
    password: `soak-${run}-${i}-pw`,
  }));
  rigCommand('add-user', ...users.flatMap((u) => [u.address, u.password]));

  // Every response, with when it was asked and answered, and every send with what the user was told.
  const answers = [];
  const told = [];
  const timed = async (visitor, path, options) => {
    const asked = Date.now();
    let answer;
    try {
      answer = await visitor.request(path, options);
    } catch (e) {
      answer = { status: 0, text: String(e), location: '' };
    }
    answers.push({ path, asked, answered: Date.now(), status: answer.status });
    return answer;
  };

  // Sign-in, 20 at a time (Dovecot rereads its user list each second: new users may need a retry).
  const visitors = users.map(() => new Visitor(front));
  await signInAll(visitors, users);

  // A user sends until told sent (or told it may have been sent): a failed request is tried
  // again with the same send id, as pressing Send again on the page does.
  const send = async (visitor, from, to, subject) => {
    const sendId = newSendId();
    const record = { from, to, subject, outcome: null, attempts: 0 };
    told.push(record);
    for (let started = Date.now(); Date.now() - started < 60000;) {
      record.attempts += 1;
      const page = await timed(visitor, '/compose');
      if (page.status !== 200) {
        await pause(500);
        continue;
      }
      const answer = await timed(visitor, '/compose', { method: 'POST', body: sendForm(page.text, { to, subject, sendId }) });
      if (answer.status === 303 && answer.location.includes('notice=sent')) {
        record.outcome = 'sent';
        return;
      }
      if (answer.status === 409 && /cannot tell whether this message was sent/.test(answer.text)) {
        record.outcome = 'uncertain';
        return;
      }
      // 409 "already being sent" (the killed instance's claim, until its lease ends), a 502
      // from HAProxy, or "not sent" with the draft kept: the user presses Send again.
      record.last = `${answer.status} ${answer.text.match(/class="error"[^>]*>([^<]*)/)?.[1] || ''}`;
      await pause(1000);
    }
    record.outcome = `no answer after ${record.attempts} attempts (${record.last})`;
  };

  const ends = Date.now() + SECONDS * 1000;
  let sendsStarted = 0;
  const work = users.map(async (user, i) => {
    const visitor = visitors[i];
    let n = 0;
    await pause(Math.random() * 2000);
    while (Date.now() < ends) {
      const page = await timed(visitor, '/mail?folder=INBOX');
      if (page.status === 303) throw new Error(`${user.address} was signed out: ${page.location}`);
      n += 1;
      if (n % 8 === 0) {
        sendsStarted += 1;
        const to = users[(i + n) % users.length].address;
        await send(visitor, user.address, to, `${prefix} ${i}-${n}`);
      }
      await pause(1000 + Math.random() * 2000);
    }
  });

  // A real browser among them: signed in through HAProxy before the kill, it reads and sends after.
  const alice = await signedInPage(browser, { url: front }, 'alice');

  // Kill the first instance a third of the way in, start it again ten seconds later.
  await pause(SECONDS * 1000 / 3);
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  const served = metrics.split('\n').filter((l) => l.startsWith('sealmail_http_request_duration_seconds_count{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  assert.ok(served > 100, `the instance to be killed had served ${served} requests`);
  const killedAt = Date.now();
  a.kill();
  await pause(10000);
  await a.restart();
  const restartedAt = Date.now();

  const subject = `${prefix} from the browser`;
  await alice.goto(`${front}/mail?folder=INBOX`);
  await alice.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  await alice.getByRole('button', { name: 'New message' }).click();
  await alice.getByLabel('To', { exact: true }).fill(rig.email('bob'));
  await alice.getByLabel('Subject', { exact: true }).fill(subject);
  await alice.getByLabel('Message', { exact: true }).fill('Written while one server was away.');
  await alice.getByRole('button', { name: 'Send' }).click();
  await sentNotice(alice);
  await alice.context().close();

  await Promise.all(work);
  // The users' next page files any Sent copy a send left for it.
  await Promise.all(visitors.map((v) => timed(v, '/mail?folder=Sent')));
  for (const started = Date.now(); mailQueued() > 0 && Date.now() - started < 60000;) await pause(200);

  // What users were told.
  const unsettled = told.filter((t) => t.outcome !== 'sent' && t.outcome !== 'uncertain');
  assert.deepEqual(unsettled, [], 'every send ended with the user told sent or "may have been sent"');
  const sent = told.filter((t) => t.outcome === 'sent');
  const uncertain = told.filter((t) => t.outcome === 'uncertain');
  assert.ok(sent.length >= USERS / 2, `only ${sent.length} sends: the soak did not do its work`);

  // What was delivered, filed and left in Drafts, as another mail client reads the mailboxes.
  const boxes = mailboxesOverImap(users, prefix);
  const count = (list, subject) => list.filter((s) => s === subject).length;
  const wrong = [];
  for (const t of told) {
    const delivered = count(boxes[t.to].INBOX, t.subject);
    const filed = count(boxes[t.from].Sent, t.subject);
    const drafts = count(boxes[t.from].Drafts, t.subject);
    const ok = t.outcome === 'sent'
      ? delivered === 1 && filed === 1 && drafts === 0
      : delivered <= 1 && filed <= 1;
    if (!ok) wrong.push({ ...t, delivered, filed, drafts });
  }
  assert.deepEqual(wrong, [], 'each send told "sent" is delivered once, in Sent once, and not left in Drafts');
  assert.equal(messagesOverImap('bob', 'INBOX', subject).length, 1, 'the browser user\'s message arrived once');
  assert.equal(messagesOverImap('alice', 'Sent', subject).length, 1, 'and is in her Sent once');

  // Errors: only requests that were inside the killed instance, answered within moments of the kill.
  const errors = answers.filter((r) => r.status === 0 || r.status >= 500);
  const outside = errors.filter((r) => r.answered < killedAt || r.asked > killedAt + KILL_WINDOW_MS);
  assert.deepEqual(outside, [], 'no error beyond the kill window');

  const pages = answers.filter((r) => r.path === '/mail?folder=INBOX' && r.status === 200).map((r) => r.answered - r.asked)
    .sort((x, y) => x - y);
  const p = (q) => pages[Math.min(pages.length - 1, Math.floor(q * pages.length))];
  console.log(`# soak: ${USERS} users, ${SECONDS} s, ${answers.length} requests, ${errors.length} errors in the kill window; `
    + `${sent.length} sends told sent (${told.filter((t) => t.attempts > 1).length} after pressing Send again), `
    + `${uncertain.length} "may have been sent", ${sendsStarted} begun; `
    + `folder page p50 ${p(0.5)} ms, p95 ${p(0.95)} ms; instance down ${restartedAt - killedAt} ms`);
});
