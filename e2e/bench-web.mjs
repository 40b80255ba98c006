// Benchmarks of the web pages as a browser meets them, against the test rig's Dovecot with its
// stock limits (run by scripts/bench-web, which starts the rig and builds a release server).
// Prints figures; asserts nothing about time.
//
// 1. Side by side with Roundcube (Debian's roundcube-core, served by PHP) on the same Dovecot:
//    the first page of the INBOX and opening a 50 KB message, for a 10,000- and a 100,000-message
//    INBOX, interleaved request by request so both meet the same machine.
// 2. 200 signed-in users loading their folder page, with no pause and with a person's pause
//    between pages: errors, p50/p95, throughput, Sealmail's RSS and its IMAP connections.
// 3. Peak RSS while 20 sends of a 40 MiB message run at once.
// 4. Bytes a browser downloads for the first and for a repeat folder-page load.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  rig, rigCommand, serverConfig, runServer, launchBrowser, signedInPage, Visitor, field, mailQueued,
  signInAll, composeForm,
} from './harness.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS || 30);
const SIZES = (process.env.BENCH_SIZES || '10000 100000').split(' ').map(Number);
const LOAD_USERS = Number(process.env.BENCH_LOAD_USERS || 200);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS || 30);
const SENDS = 20;
const ROUNDCUBE_PORT = rig.portBase + 110;
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** p50 and p95 of a list of milliseconds. */
function percentiles(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p95: at(0.95) };
}
const ms = (t) => `${t.toFixed(1)} ms`;

async function timed(work) {
  const started = process.hrtime.bigint();
  const result = await work();
  return { result, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

/** Memory of a process, from /proc: resident now and its peak, in MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(status.match(new RegExp(`${name}:\\s+(\\d+)`))[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Open TCP connections from this machine to the IMAP ports (Sealmail's, during the load). */
function imapConnections() {
  const ports = [rig.imapPort, process.env.RIG_IMAPS_PORT].map((p) => Number(p)).map((p) => p.toString(16).toUpperCase().padStart(4, '0'));
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .filter((line) => {
      const parts = line.trim().split(/\s+/);
      return parts.length > 3 && parts[3] === '01' && ports.includes(parts[2].split(':')[1]);
    }).length;
}

/**
 * Fills `address`'s INBOX up to `count` small messages, then one 50 KB message on top (the one
 * both web mails open). Returns the 50 KB message's UID.
 */
function seed(address, password, count) {
  const program = `
import imaplib, sys
address, password, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = imaplib.IMAP4('127.0.0.1', ${rig.imapPort})
m.login(address, password)
typ, data = m.select('INBOX')
have = int(data[0])
if have < count:
    print(f'seeding {count - have} messages into {address}', file=sys.stderr)
filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. ' * 12
for i in range(have, count):
    msg = (f'From: Sender {i % 97} <sender{i % 97}@example.test>\\r\\nTo: {address}\\r\\n'
           f'Subject: Benchmark message {i} about topic {i % 13}\\r\\n'
           f'Date: Sat, 21 Nov 2026 10:{i % 60:02d}:00 +0000\\r\\nMessage-ID: <bench-{i}-{address}>\\r\\n\\r\\n{filler}\\r\\n')
    m.append('INBOX', '(\\\\Seen)' if i % 3 else '()', None, msg.encode())
found = m.uid('SEARCH', None, 'SUBJECT', '"Benchmark 50 KB message"')[1][0].split()
if not found:
    line = 'The fifty kilobyte message goes on, line after line, to make its size. '
    body = '\\r\\n'.join([line] * (50 * 1024 // (len(line) + 2)))
    msg = (f'From: Big Sender <big@example.test>\\r\\nTo: {address}\\r\\nSubject: Benchmark 50 KB message\\r\\n'
           f'Date: Sun, 22 Nov 2026 10:00:00 +0000\\r\\nMessage-ID: <bench-50k-{address}>\\r\\n\\r\\n{body}\\r\\n')
    m.append('INBOX', '(\\\\Seen)', None, msg.encode())
    found = m.uid('SEARCH', None, 'SUBJECT', '"Benchmark 50 KB message"')[1][0].split()
print(found[-1].decode())
m.logout()
`;
  return Number(execFileSync('python3', ['-c', program, address, password, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim());
}

/** Roundcube from Debian's package, served by PHP's built-in server on the rig's Dovecot (IMAPS). */
async function startRoundcube() {
  const dir = mkdtempSync(join(tmpdir(), 'roundcube-bench-'));
  execFileSync('mkdir', ['-p', join(dir, 'config'), join(dir, 'temp'), join(dir, 'logs')]);
  const db = join(dir, 'roundcube.db');
  execFileSync('php', ['-r', `$db = new PDO('sqlite:${db}'); $db->exec(file_get_contents('/usr/share/roundcube/SQL/sqlite.initial.sql'));`]);
  // Settings the package's /etc/roundcube/config.inc.php does not make (it is read after this
  // file, so what it sets is overridden through ROUNDCUBE_* variables instead).
  writeFileSync(join(dir, 'config', 'config.inc.php'), `<?php
$config = [];
$config['temp_dir'] = '${join(dir, 'temp')}';
$config['log_dir'] = '${join(dir, 'logs')}';
$config['imap_conn_options'] = ['ssl' => ['cafile' => '${rig.tlsCa}', 'peer_name' => 'localhost', 'verify_peer' => true]];
`);
  // PHP's server passes no environment to the scripts it runs: a router script sets it per request.
  writeFileSync(join(dir, 'router.php'), `<?php
putenv('RCUBE_CONFIG_PATH=${join(dir, 'config')}/');
putenv('ROUNDCUBE_DB_DSNW=sqlite:///${db}?mode=0646');
putenv('ROUNDCUBE_IMAP_HOST=["ssl://localhost:${process.env.RIG_IMAPS_PORT}"]');
return false;
`);
  const php = spawn('php', ['-S', `127.0.0.1:${ROUNDCUBE_PORT}`, '-t', '/usr/share/roundcube', join(dir, 'router.php')], {
    cwd: '/usr/share/roundcube', stdio: 'ignore', env: { ...process.env, PHP_CLI_SERVER_WORKERS: '4' },
  });
  const url = `http://127.0.0.1:${ROUNDCUBE_PORT}`;
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(`${url}/`)).ok) break;
    } catch { /* not up yet */ }
    if (i > 100) throw new Error('Roundcube did not start');
    await pause(100);
  }
  return { url, dir, stop: () => php.kill() };
}

/** A Roundcube user: signs in, lists the INBOX's first page, opens a message. */
class RoundcubeUser extends Visitor {
  async signIn(address, password) {
    const form = await this.request('/');
    const answer = await this.request('/?_task=login', {
      method: 'POST',
      body: new URLSearchParams({
        _token: field(form.text, '_token'), _task: 'login', _action: 'login', _timezone: 'UTC', _url: '',
        _user: address, _pass: password,
      }),
    });
    if (answer.status !== 302) throw new Error(`Roundcube sign-in failed: ${answer.status}`);
  }

  /** What a browser asks for to show the INBOX's first page: the page, then its list. */
  async folderPage() {
    const page = await this.request('/?_task=mail&_mbox=INBOX');
    this.token = page.text.match(/"request_token":"([^"]+)"/)[1];
    const list = await this.request('/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1', { headers: { 'x-roundcube-request': this.token } });
    if ((list.text.match(/add_message_row/g) || []).length !== 50) throw new Error(`Roundcube listed no page: ${list.text.slice(0, 200)}`);
  }

  async open(uid) {
    const page = await this.request(`/?_task=mail&_action=show&_uid=${uid}&_mbox=INBOX`);
    if (!page.text.includes('The fifty kilobyte message goes on')) throw new Error(`Roundcube did not show the message: ${page.status}`);
  }
}

async function sealmailFolderPage(user) {
  const page = await user.request('/mail?folder=INBOX');
  // The 50 KB message is the newest by date and by arrival: it heads the first page.
  if (!page.text.includes('Benchmark 50 KB message')) throw new Error(`Sealmail folder page: ${page.status}`);
}

async function sealmailOpen(user, uid) {
  const page = await user.request(`/message?folder=INBOX&uid=${uid}`);
  if (!page.text.includes('The fifty kilobyte message goes on')) throw new Error(`Sealmail did not show the message: ${page.status}`);
}

async function sideBySide(sealmail, roundcube) {
  console.log(`\n## Side by side with Roundcube on the same Dovecot (${ROUNDS} rounds, interleaved)`);
  console.log('| INBOX | page | Sealmail p50 / p95 | Roundcube p50 / p95 | Roundcube ÷ Sealmail (p50) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const size of SIZES) {
    const name = size === 100000 ? 'bench' : `bench${size / 1000}k`;
    const address = rig.email(name);
    const password = `${name}-secret`;
    if (name !== 'bench') rigCommand('add-user', address, password);
    const uid = seed(address, password, size);
    const ours = new Visitor(sealmail.url);
    await ours.signInNew(address, password);
    const theirs = new RoundcubeUser(roundcube.url);
    await theirs.signIn(address, password);
    const times = { ours: { list: [], open: [] }, theirs: { list: [], open: [] } };
    for (let round = -3; round < ROUNDS; round += 1) { // three rounds to warm up
      const steps = [
        ['ours', 'list', () => sealmailFolderPage(ours)],
        ['theirs', 'list', () => theirs.folderPage()],
        ['ours', 'open', () => sealmailOpen(ours, uid)],
        ['theirs', 'open', () => theirs.open(uid)],
      ];
      for (const [who, what, step] of steps) {
        const { ms: took } = await timed(step);
        if (round >= 0) times[who][what].push(took);
      }
    }
    for (const [what, label] of [['list', 'first folder page'], ['open', 'open a 50 KB message']]) {
      const a = percentiles(times.ours[what]);
      const b = percentiles(times.theirs[what]);
      console.log(`| ${size.toLocaleString('en')} | ${label} | ${ms(a.p50)} / ${ms(a.p95)} | ${ms(b.p50)} / ${ms(b.p95)} | ${(b.p50 / a.p50).toFixed(2)}× |`);
    }
  }
}

/**
 * LOAD_USERS signed-in users loading their folder page for LOAD_SECONDS: first each again the
 * moment the last one came back (the most the machine serves), then with a person's pause of
 * 2 to 8 s between pages (what 200 people reading mail ask of it).
 */
async function manyUsers(sealmail) {
  const run = Date.now().toString(36);
  const users = Array.from({ length: LOAD_USERS }, (_, i) => ({ address: `load-${run}-${i}@${rig.domain}`, password: `load-${run}-${i}-pw` }));
  rigCommand('add-user', ...users.flatMap((u) => [u.address, u.password]));
  const visitors = users.map(() => new Visitor(sealmail.url));
  await signInAll(visitors, users);
  await loadPages(sealmail, visitors, 'at once, no pause between pages', () => 0);
  await loadPages(sealmail, visitors, 'with a pause of 2 to 8 s between pages', () => 2000 + Math.random() * 6000);
}

async function loadPages(sealmail, visitors, how, pauseMs) {
  console.log(`\n## ${visitors.length} signed-in users loading their folder page ${how}, ${LOAD_SECONDS} s`);
  const times = [];
  let errors = 0;
  let connections = 0;
  const ends = Date.now() + LOAD_SECONDS * 1000;
  const watcher = setInterval(() => { connections = Math.max(connections, imapConnections()); }, 250);
  await Promise.all(visitors.map(async (v) => {
    // Spread the first pages over one pause, as people do not all click at once.
    const first = pauseMs() * Math.random();
    if (first) await pause(first);
    while (Date.now() < ends) {
      const { result, ms: took } = await timed(() => v.request('/mail?folder=INBOX').catch(() => ({ status: 0 })));
      if (result.status === 200) times.push(took);
      else errors += 1;
      const next = pauseMs();
      if (next) await pause(next);
    }
  }));
  clearInterval(watcher);
  const { p50, p95 } = percentiles(times);
  const mem = memory(sealmail.pid);
  console.log(`pages: ${times.length} (${(times.length / LOAD_SECONDS).toFixed(0)} a second), errors: ${errors}, `
    + `p50 ${ms(p50)}, p95 ${ms(p95)}; Sealmail RSS ${mem.rss.toFixed(0)} MiB (peak so far ${mem.peak.toFixed(0)} MiB), `
    + `IMAP connections at most ${connections}`);
}

async function largeSends(sealmail) {
  console.log(`\n## ${SENDS} sends of a 40 MiB message at once`);
  const attachment = Buffer.alloc(29 * 1024 * 1024, 'x'); // base64 in the message: 40 MiB
  const before = memory(sealmail.pid);
  const sender = new Visitor(sealmail.url);
  await sender.signIn(rig.email('bench'), 'bench-secret');
  const subject = `Benchmark 40 MiB ${Date.now().toString(36)}`;
  const outcomes = await Promise.all(Array.from({ length: SENDS }, async (_, i) => {
    const page = await sender.request('/compose');
    const form = composeForm(page.text, {
      to: rig.email('bench'), subject: `${subject} ${i}`, body: 'A large attachment.', files: [['large.bin', attachment]],
    });
    return (await sender.request('/compose', { method: 'POST', body: form })).status;
  }));
  const after = memory(sealmail.pid);
  const sent = outcomes.filter((s) => s === 303).length;
  console.log(`sent: ${sent} of ${SENDS} (answers ${[...new Set(outcomes)].join(', ')}); Sealmail RSS before ${before.rss.toFixed(0)} MiB, `
    + `peak ${after.peak.toFixed(0)} MiB, after ${after.rss.toFixed(0)} MiB`);
  // The copies would fill the bench user's mailbox run after run: expunge them again.
  for (let i = 0; mailQueued() > 0 && i < 600; i += 1) await pause(100);
  execFileSync('python3', ['-c', `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', ${rig.imapPort})
m.login('${rig.email('bench')}', 'bench-secret')
for folder in ('INBOX', 'Sent'):
    m.select(folder)
    for n in m.search(None, 'SUBJECT', '"${subject}"')[1][0].split():
        m.store(n, '+FLAGS', '\\\\Deleted')
    m.expunge()
m.logout()
`]);
}

async function pageWeight(sealmail) {
  console.log('\n## Bytes a browser downloads for the folder page');
  const browser = await launchBrowser();
  try {
    const page = await signedInPage(browser, sealmail, 'alice');
    const client = await page.context().newCDPSession(page);
    await client.send('Network.enable');
    let bytes = 0;
    client.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
    const load = async () => {
      bytes = 0;
      // Not 'networkidle': the list keeps a request open for new mail.
      await page.goto(`${sealmail.url}/mail?folder=INBOX`, { waitUntil: 'load' });
      await page.waitForTimeout(2000);
      return bytes;
    };
    // The sign-in already loaded the page once, in a fresh browser: clear the cache for a first load.
    await client.send('Network.clearBrowserCache');
    const first = await load();
    const repeat = await load();
    console.log(`first load ${(first / 1024).toFixed(1)} KiB, repeat load ${(repeat / 1024).toFixed(1)} KiB`);
  } finally {
    await browser.close();
  }
}

const config = serverConfig({
  port: rig.portBase + 111,
  extraWeb: 'page_size = 50\nmax_upload_bytes = 41943040',
});
const sealmail = await runServer(config, rig.portBase + 111);
if (!existsSync('/usr/share/roundcube/index.php')) throw new Error('Roundcube is not installed: run scripts/bench-web');
const roundcube = await startRoundcube();
try {
  console.log(`# Sealmail (${process.env.SEALMAIL_BIN}) and Roundcube on the rig's Dovecot, ${new Date().toISOString()}`);
  const parts = (process.env.BENCH_PARTS || 'side-by-side users sends bytes').split(' ');
  if (parts.includes('side-by-side')) await sideBySide(sealmail, roundcube);
  if (parts.includes('users')) await manyUsers(sealmail);
  if (parts.includes('sends')) await largeSends(sealmail);
  if (parts.includes('bytes')) await pageWeight(sealmail);
} finally {
  roundcube.stop();
  await sealmail.stop();
}
