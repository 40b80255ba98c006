// Shared set-up for the browser tests: the rig's addresses, a real Sealmail server process, and
// Debian's Chromium driven by playwright-core. A missing rig or binary fails loudly.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrivateKey } from 'node:crypto';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test (it starts the mail rig)`);
  return value;
}

export const rig = {
  stateDir: need('RIG_STATE_DIR'),
  imapPort: need('RIG_IMAP_PORT'),
  smtpPort: need('RIG_SMTP_PORT'),
  submissionPort: need('RIG_SUBMISSION_PORT'),
  managesievePort: need('RIG_MANAGESIEVE_PORT'),
  outsideDomain: need('RIG_OUTSIDE_DOMAIN'),
  tlsCa: need('RIG_TLS_CA'),
  mailQueue: need('RIG_MAIL_QUEUE'),
  domain: need('RIG_DOMAIN'),
  portBase: Number(need('RIG_PORT_BASE')),
  email: (user) => `${user}@${need('RIG_DOMAIN')}`,
  password: (user) => need(`RIG_PASSWORD_${user}`),
};

/** Runs `scripts/rig <args>` on the test rig (stop Postfix, restart Dovecot…). */
export function rigCommand(...args) {
  execFileSync(join(REPO, 'scripts/rig'), args, { env: { ...process.env, STATE_DIR: rig.stateDir }, stdio: 'inherit' });
}

let counter = 0;
/** A subject no other test run will use. */
export function unique(label) {
  counter += 1;
  return `${label} ${Date.now().toString(36)}-${process.pid}-${counter}`;
}

/** Delivers a message to `to` through Postfix's inbound port with Python's smtplib: another mail client. */
export function deliverFromOutside({ to, subject, body = 'Hello from outside.', attachment }) {
  const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'Olivia Outside <olivia@outside.test>'
m['To'] = sys.argv[1]
m['Subject'] = sys.argv[2]
m.set_content(sys.argv[3])
if len(sys.argv) > 4:
    m.add_attachment(bytes.fromhex(sys.argv[5]), maintype='application', subtype='octet-stream', filename=sys.argv[4])
with smtplib.SMTP('127.0.0.1', ${rig.smtpPort}) as s:
    s.send_message(m)
`;
  const args = ['-c', script, to, subject, body];
  if (attachment) args.push(attachment.name, attachment.bytes.toString('hex'));
  execFileSync('python3', args, { stdio: 'inherit' });
}

/**
 * A test PKI made by scripts/demo-pki (root CA, e-mail CA, and for alice, bob and carol a
 * certificate, key and .p12 whose password is the user name) in a fresh folder.
 */
export function makePki() {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-pki-'));
  execFileSync(join(REPO, 'scripts/demo-pki'), [dir], {
    env: { ...process.env, RIG_DOMAIN: rig.domain, DEMO_USERS: 'alice bob carol' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return {
    dir,
    file: (name) => join(dir, name),
    p12: (user) => readFileSync(join(dir, `${user}.p12`)),
  };
}

/**
 * A new identity issued by the test e-mail CA: `{ p12, cert, key }` (file paths), the .p12's
 * password being `password`. Dates are openssl's YYYYMMDDHHMMSSZ; by default valid now for a year.
 * With `ocsp` (from `ocspIssuer`) the certificate names that OCSP responder and goes into its index.
 */
export function issueIdentity(pki, { email, name, password, start, end, ocsp }) {
  const dir = ocsp?.dir ?? caFolder(pki, '');
  const id = ocsp ? email.split('@')[0] : 'id';
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${name}`);
  const dates = [...(start ? ['-startdate', start] : []), ...(end ? ['-enddate', end] : [])];
  run('ca', '-batch', '-config', 'ca.cnf', '-cert', pki.file('ca.crt'), '-keyfile', pki.file('ca.key'), '-in', `${id}.csr`,
    '-out', `${id}.crt`, '-notext', '-extfile', extensionsFile(dir, email), ...dates);
  run('pkcs12', '-export', '-in', `${id}.crt`, '-inkey', `${id}.key`, '-certfile', pki.file('ca.crt'), '-passout', `pass:${password}`, '-out', `${id}.p12`);
  return { p12: readFileSync(join(dir, `${id}.p12`)), cert: join(dir, `${id}.crt`), key: join(dir, `${id}.key`) };
}

/** A folder where `openssl ca` issues as the test e-mail CA and keeps its index; `aia` is added to every certificate. */
function caFolder(pki, aia) {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-id-'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\nserial=${dir}/serial\n`
    + `new_certs_dir=${dir}\ndefault_md=sha256\npolicy=p\nunique_subject=no\ndefault_days=365\n[p]\ncommonName=supplied\n`);
  writeFileSync(join(dir, 'aia'), aia);
  return dir;
}

function extensionsFile(dir, email) {
  const file = join(dir, `${email}.ext`);
  writeFileSync(file, 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
    + `extendedKeyUsage=emailProtection\nsubjectAltName=email:${email}\n${readFileSync(join(dir, 'aia'), 'utf8')}`);
  return file;
}

/**
 * `openssl ocsp` answering for the test e-mail CA on `port`, from the index of the certificates
 * `issueIdentity` issues with `{ ocsp: responder }`. `revoke(cert)` revokes one; `stop()` ends it.
 */
export function ocspIssuer(pki, port) {
  const dir = caFolder(pki, `authorityInfoAccess=OCSP;URI:http://127.0.0.1:${port}/\n`);
  let child = null;
  return {
    dir,
    revoke: (cert) => execFileSync('openssl', ['ca', '-config', 'ca.cnf', '-cert', pki.file('ca.crt'), '-keyfile', pki.file('ca.key'), '-revoke', cert],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
    /** Starts answering (it reads the index once, so start it after issuing and revoking). */
    start: () => new Promise((resolve, reject) => {
      child = spawn('openssl', ['ocsp', '-index', 'index.txt', '-CA', pki.file('ca.crt'), '-rsigner', pki.file('ca.crt'),
        '-rkey', pki.file('ca.key'), '-ndays', '1', '-port', String(port)], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      // It serves one connection at a time, so a probe would hold it up: wait for it to say it listens.
      child.stderr.on('data', (d) => { if (d.toString().includes('waiting for OCSP client connections')) resolve(); });
      child.once('exit', (code) => reject(new Error(`openssl ocsp exited with ${code}`)));
    }),
    stop: () => new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }),
  };
}

/** Delivers ready-made message bytes (another mail program's output) through Postfix's inbound port. */
export function deliverRaw({ from, to, bytes }) {
  const script = `
import smtplib, sys
raw = sys.stdin.buffer.read()
with smtplib.SMTP('127.0.0.1', ${rig.smtpPort}) as s:
    s.sendmail(sys.argv[1], [sys.argv[2]], raw)
`;
  execFileSync('python3', ['-c', script, from, to], { input: bytes, stdio: ['pipe', 'inherit', 'inherit'] });
}

/** Starts `target/debug/sealmail serve` on its own port with a fresh SQLite database. */
export async function startServer({ port = rig.portBase + 80, pki = null, ...options } = {}) {
  const config = serverConfig({ port, pki, ...options });
  const server = await runServer(config, port);
  if (pki) {
    // Each user's certificate (and the e-mail CA) in the directory, as an admin imports them.
    for (const user of ['alice', 'bob', 'carol']) {
      execFileSync(serverBinary(), ['directory', 'import', '--config', config, '--email', rig.email(user),
        pki.file(`${user}.crt`), pki.file('ca.crt')], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  return server;
}

function serverBinary() {
  const bin = process.env.SEALMAIL_BIN || join(REPO, 'target/debug/sealmail');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with cargo build -p sealmail-server`);
  return bin;
}

/**
 * Writes a configuration for the rig into a new folder and returns its path. The database is a
 * fresh SQLite file there unless `database` names another (PostgreSQL, shared by instances).
 */
export function serverConfig({ port = rig.portBase + 80, extraWeb = '', pki = null, extra = '', revocation = false, smtpPort = rig.submissionPort, extraSmtp = '', extraImap = '', database = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-e2e-'));
  const config = join(dir, 'sealmail.toml');
  writeFileSync(config, `
[web]
listen = "127.0.0.1:${port}"
secure_cookies = false
static_dir = "${join(REPO, 'static')}"
${extraWeb}
[imap]
host = "localhost"
port = ${rig.imapPort}
security = "starttls"
ca_file = "${rig.tlsCa}"
${extraImap}
[smtp]
host = "127.0.0.1"
port = ${smtpPort}
security = "plain"
timeout_seconds = 10
${extraSmtp}
[sieve]
host = "127.0.0.1"
port = ${rig.managesievePort}
timeout_seconds = 10
[database]
url = "${database || `sqlite://${dir}/sealmail.db?mode=rwc`}"
${pki ? `
[pki]
trust_anchors = "${pki.file('anchors')}"
${revocation ? '' : `# The test PKI publishes no CRLs; revocation is covered by the server's crl_fetch tests.
disable_crl_check = true`}
` : ''}
${extra}`);
  return config;
}

/**
 * Runs `sealmail serve --config config` listening on `port` (which overrides the file's, so
 * several instances can share one file) and waits until it answers.
 */
export async function runServer(config, port) {
  const bin = serverBinary();
  const log = [];
  const url = `http://127.0.0.1:${port}`;
  const env = { ...process.env, SEALMAIL_WEB_LISTEN: `127.0.0.1:${port}` };
  const launch = async () => {
    const started = spawn(bin, ['serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env });
    started.stdout.on('data', (d) => log.push(d.toString()));
    started.stderr.on('data', (d) => log.push(d.toString()));
    const deadline = Date.now() + 20000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`sealmail exited early:\n${log.join('')}`);
      try {
        const res = await fetch(`${url}/login`);
        if (res.ok) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`sealmail did not start:\n${log.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return started;
  };
  let child = await launch();
  return {
    url,
    log,
    configFile: config,
    /** The running process's id (for its memory, its connections). */
    get pid() { return child.pid; },
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }),
    /** Asks the server to re-read its configuration now (SIGHUP, as `systemctl reload` does). */
    reload: () => child.kill('SIGHUP'),
    /** Kills the process at once (SIGKILL), as a crash or an OOM kill would. */
    kill: () => child.kill('SIGKILL'),
    /** Starts the server again on the same configuration and database. */
    restart: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); });
      }
      child = await launch();
    },
  };
}

/**
 * A user of the web pages over plain HTTP: cookies kept, redirects not followed (their target
 * is what the user is told).
 */
export class Visitor {
  constructor(base) {
    this.base = base;
    this.cookies = new Map();
  }

  async request(path, { method = 'GET', body, base = this.base, headers: extra = {} } = {}) {
    const headers = { ...extra, cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    const res = await fetch(`${base}${path}`, { method, body, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      if (attributes.some((a) => /max-age=0/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, location: res.headers.get('location') || '', text: await res.text() };
  }

  async signIn(address, password, base = this.base) {
    const form = await this.request('/login', { base });
    const token = field(form.text, 'login_token');
    return this.request('/login', {
      method: 'POST',
      base,
      body: new URLSearchParams({ email: address, password, login_token: token }),
    });
  }

  /**
   * Signs in as a user `scripts/rig add-user` just made: Dovecot rereads its user list once a
   * second, so a refusal is tried again a few times before it counts.
   */
  async signInNew(address, password) {
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.signIn(address, password);
      if (answer.status === 303) return answer;
      if (attempt >= 10) throw new Error(`${address} could not sign in: ${answer.status}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Signs each of `users` in with its visitor, 20 at a time (so Dovecot's logins are not all at once). */
export async function signInAll(visitors, users) {
  for (let i = 0; i < users.length; i += 20) {
    await Promise.all(users.slice(i, i + 20).map((u, j) => visitors[i + j].signInNew(u.address, u.password)));
  }
}

/**
 * The compose form of `page` (its HTML) filled in as its Send button posts it; the page's own
 * send id unless `sendId` is given, and `files` as attachments.
 */
export function composeForm(page, { to, subject, body, sendId = field(page, 'send_id'), files = [] }) {
  const form = new FormData();
  form.set('csrf', field(page, 'csrf'));
  form.set('send_id', sendId);
  form.set('action', 'send');
  form.set('to', to);
  form.set('subject', subject);
  form.set('body', body);
  for (const [name, bytes] of files) form.append('attachments', new Blob([bytes]), name);
  return form;
}

/** The value of the form field `name` in a page's HTML. */
export function field(html, name) {
  const input = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*>`));
  const value = input?.[0].match(/value="([^"]*)"/);
  if (!value) throw new Error(`no ${name} field in the page`);
  return value[1];
}

const APP_TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json',
};

/**
 * Serves a built app folder (scripts/build-app) the way Chrome serves an installed Isolated Web
 * App: cross-origin isolated, and under the IWA's default content security policy (Trusted
 * Types, no inline script). An IWA may frame and fetch any https site; `reach` (a source, or a
 * function giving one when asked) stands for that here, naming the plain-http test server.
 */
export async function serveIsolatedApp(dir, { reach }) {
  const sources = () => (typeof reach === 'function' ? reach() : reach);
  const { createServer } = await import('node:http');
  const app = createServer((req, res) => {
    const path = new URL(req.url, 'http://app').pathname;
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, {
      'Content-Type': APP_TYPES[extname(file)] || 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Content-Security-Policy': `base-uri 'none'; default-src 'self'; object-src 'none'; frame-src 'self' ${sources()}; `
        + `connect-src 'self' ${sources()}; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; `
        + "require-trusted-types-for 'script'",
    });
    res.end(readFileSync(file));
  });
  // localhost, while the server is reached at 127.0.0.1: another site, as isolated-app:// is.
  await new Promise((resolve) => app.listen(0, 'localhost', resolve));
  return { origin: `http://localhost:${app.address().port}`, stop: () => new Promise((r) => app.close(r)) };
}

/**
 * A recording reverse proxy in front of the server: browsers pointed at `url` reach Sealmail
 * through it, and `requests` holds every request exactly as sent (URL, headers, whole body) —
 * including file uploads, which the DevTools protocol does not expose.
 * `tamper({ path, type, body })`, if given, may return other bytes for a response: a server
 * changed to serve something else.
 */
export async function startRecordingProxy(target, { tamper } = {}) {
  const { createServer, request: forward } = await import('node:http');
  const upstream = new URL(target);
  const requests = [];
  const proxy = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ url: req.url, headers: JSON.stringify(req.headers), body });
      // Bodies to be changed are asked for uncompressed.
      const headers = tamper ? { ...req.headers, 'accept-encoding': 'identity' } : req.headers;
      const out = forward({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
        if (!tamper) {
          res.writeHead(answer.statusCode, answer.rawHeaders);
          answer.pipe(res);
          return;
        }
        const parts = [];
        answer.on('data', (c) => parts.push(c));
        answer.on('end', () => {
          const original = Buffer.concat(parts);
          const type = answer.headers['content-type'] || '';
          const changed = tamper({ path: req.url, type, body: original }) ?? original;
          const sent = { ...answer.headers, 'content-length': String(changed.length) };
          delete sent['transfer-encoding'];
          res.writeHead(answer.statusCode, sent);
          res.end(changed);
        });
      });
      out.on('error', () => { res.writeHead(502); res.end(); });
      out.end(body);
    });
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    requests,
    stop: () => new Promise((resolve) => proxy.close(resolve)),
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A new browser context (its own cookies) signed in as `user` through the sign-in page. */
export async function signedInPage(browser, server, user) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByLabel('Email address').fill(rig.email(user));
  await page.getByLabel('Password').fill(rig.password(user));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  return page;
}

/**
 * A new account of the rig's domain (`label` and a unique suffix), signed in through the sign-in
 * page of `server` in a context of its own: `{ page, user: { address, password } }`.
 */
export async function newUserPage(browser, server, label) {
  const name = unique(label).toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  const user = { address: `${name}@${rig.domain}`, password: `${name}-pw` };
  rigCommand('add-user', user.address, user.password);
  const page = await (await browser.newContext()).newPage();
  // Dovecot rereads its user list at most once a second: the first attempt may be too early.
  for (let attempt = 0; ; attempt += 1) {
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email address', { exact: true }).fill(user.address);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const inbox = page.getByRole('heading', { name: 'Inbox', level: 1 });
    try {
      await inbox.waitFor({ timeout: 3000 });
      break;
    } catch (e) {
      if (attempt >= 5) throw e;
    }
  }
  return { page, user };
}

/** Reloads a folder until a message with `subject` is listed (delivery takes a moment). */
export async function waitForMessage(page, subject, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  const link = page.getByRole('link', { name: subject, exact: true });
  while ((await link.count()) === 0) {
    if (Date.now() > deadline) throw new Error(`"${subject}" did not arrive in ${page.url()}`);
    await page.waitForTimeout(300);
    await page.reload();
  }
  return link;
}

/**
 * The raw messages in `user`'s `folder` whose subject contains `subject`, read over IMAP as
 * another mail client would (the server under test is not asked).
 */
export function messagesOverImap(user, folder, subject) {
  const program = `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', ${rig.imapPort})
m.login(sys.argv[1], sys.argv[2])
m.select(sys.argv[3], readonly=True)
found = m.search(None, 'SUBJECT', '"' + sys.argv[4] + '"')[1][0].split()
print(json.dumps([m.fetch(n, '(BODY.PEEK[])')[1][0][1].decode('utf-8', 'replace') for n in found]))
m.logout()
`;
  return JSON.parse(execFileSync('python3', ['-c', program, rig.email(user), rig.password(user), folder, subject]).toString());
}

/** Messages Postfix holds and has not delivered yet (its queue files). */
export function mailQueued() {
  const files = (dir) => (existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }) : [])
    .filter((entry) => !entry.isDirectory()).length;
  return ['maildrop', 'incoming', 'active', 'deferred', 'hold'].reduce((sum, part) => sum + files(join(rig.mailQueue, part)), 0);
}

/**
 * How many messages with `subject` a folder lists, once delivery has settled: when Postfix's
 * queue is empty, everything sent so far is in the mailboxes (Dovecot stores a message before
 * Postfix lets it go).
 */
export async function settledCount(page, folderUrl, subject) {
  for (const started = Date.now(); mailQueued() > 0 && Date.now() - started < 15000;) {
    await page.waitForTimeout(100);
  }
  await page.goto(folderUrl);
  return page.getByRole('link', { name: subject, exact: true }).count();
}

export function readDownload(download) {
  return download.path().then((p) => readFileSync(p));
}

/** Waits for the page's browser security module. `where` is a page, or a frame (FrameLocator). */
export async function engineReady(where) {
  await where.locator('html[data-engine="ready"]').waitFor();
}

/** The passphrase the tests protect imported digital IDs with in the browser. */
export const PASSPHRASE = 'a passphrase for this browser';

/** Imports a .p12 on the Digital IDs page; returns what the page says. */
export async function importDigitalId(page, p12, password, { passphrase = PASSPHRASE } = {}) {
  await page.getByRole('link', { name: 'Digital IDs' }).click();
  await engineReady(page);
  await page.getByLabel('Digital ID file (.p12 or .pfx)').setInputFiles({ name: 'id.p12', mimeType: 'application/x-pkcs12', buffer: p12 });
  await page.getByLabel('Password of the file').fill(password);
  await page.getByLabel('Passphrase to protect it in this browser').fill(passphrase);
  await page.getByRole('button', { name: 'Import' }).click();
  const status = page.locator('#import-status');
  await status.filter({ hasText: /Imported|not imported/ }).waitFor();
  return status.innerText();
}

/** Waits until the compose page says the message was sent; throws the page's words if not. */
export async function sentNotice(page) {
  const failed = page.locator('#seal-status.error');
  await Promise.race([
    page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor({ timeout: 60000 }),
    failed.waitFor({ timeout: 60000 }).then(async () => { throw new Error(`not sent: ${await failed.innerText()}`); }),
  ]);
}

/**
 * Presses Send and waits for "Your message was sent.", giving the passphrase if the page asks for
 * it on the way (it asks once a session).
 */
export async function sendGivingPassphrase(page, passphrase = PASSPHRASE) {
  await page.getByRole('button', { name: 'Send' }).click();
  const asked = page.getByLabel('Passphrase', { exact: true });
  const done = page.getByRole('status').filter({ hasText: 'Your message was sent.' }).or(page.locator('#seal-status.error'));
  await asked.or(done).first().waitFor({ timeout: 60000 });
  if (await asked.isVisible()) {
    await asked.fill(passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
  }
  await sentNotice(page);
}

/**
 * Opens New message in `where` (a page or a frame) and fills it in. `sign` and `encrypt` set
 * those toggles; one not given is left as the page set it.
 */
export async function composeSecure(where, { to, subject, body, files = [], sign, encrypt }) {
  await where.getByRole('button', { name: 'New message' }).click();
  await engineReady(where);
  await where.getByLabel('To', { exact: true }).fill(to);
  await where.getByLabel('Subject', { exact: true }).fill(subject);
  await where.getByLabel('Message', { exact: true }).fill(body);
  if (files.length) await where.getByLabel('Attach files').setInputFiles(files);
  for (const [name, wanted] of [['Add digital signature to this message', sign], ['Encrypt message contents and attachments', encrypt]]) {
    if (wanted === undefined) continue;
    const toggle = where.getByRole('button', { name });
    if ((await toggle.getAttribute('aria-pressed') === 'true') !== wanted) await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), String(wanted));
  }
}

/**
 * Answers the smart card's PIN prompt in `where` (a page or a frame) with `pin`; returns what
 * the prompt said. Fails at once with the page's words if the operation failed instead.
 */
export async function enterPin(where, pin) {
  const field = where.getByLabel('PIN', { exact: true });
  const failed = where.locator('#seal-status.error, #sealed-message[data-state="failed"]');
  await Promise.race([
    field.waitFor({ timeout: 30000 }),
    failed.waitFor({ timeout: 30000 }).then(async () => { throw new Error(`no PIN asked: ${await failed.innerText()}`); }),
  ]);
  const text = await where.locator('dialog.pin').innerText();
  await field.fill(pin);
  await where.getByRole('button', { name: 'OK' }).click();
  return text;
}

/** The secrets of `user`'s key file in `pki`, in the forms a leak could take. */
export function secretsOf(pki, user) {
  const pem = execFileSync('openssl', ['pkcs12', '-in', pki.file(`${user}.p12`), '-nocerts', '-nodes', '-passin', `pass:${user}`]);
  const p12 = pki.p12(user);
  return { ...keyForms(pem), '.p12 bytes': p12, '.p12 base64': Buffer.from(p12.toString('base64').slice(40, 200)) };
}

/** The forms a leak of the RSA private key in `pem` could take: PKCS#8 and its parts, raw and encoded. */
export function keyForms(pem) {
  const key = createPrivateKey(pem);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const jwk = key.export({ format: 'jwk' });
  const forms = { 'PKCS#8 DER': pkcs8, 'PKCS#8 base64': Buffer.from(pkcs8.toString('base64').slice(40, 200)) };
  for (const part of ['d', 'p', 'q']) {
    const value = Buffer.from(jwk[part], 'base64url');
    forms[`RSA ${part}`] = value;
    forms[`RSA ${part} hex`] = Buffer.from(value.toString('hex'));
    forms[`RSA ${part} base64`] = Buffer.from(value.toString('base64').slice(0, 64));
  }
  return forms;
}

/** Fails if any recorded request (URL, headers or body) contains any of `needles`. */
export function assertNoneContains(requests, needles) {
  for (const r of requests) {
    const haystack = Buffer.concat([Buffer.from(r.url), Buffer.from(r.headers), r.body]);
    for (const [what, needle] of Object.entries(needles)) {
      assert.equal(haystack.indexOf(needle), -1, `${what} was sent to the server in ${r.url}`);
    }
  }
}
