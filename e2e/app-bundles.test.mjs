// scripts/build-app --key packs each Isolated Web App (the kiosk app, the installed client) into
// a signed web bundle whose origin is the signing key's, holding what the app needs for the
// server it was built for. (Installing a bundle in headless Chromium did not work here; see the
// README's Smart cards and kiosks.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import { REPO } from './harness.mjs';

const APPS = {
  kiosk: {
    setting: 'kiosk_app_origin',
    files: ['/', '/index.html', '/app.js', '/reader.js', '/pkg/sealmail_client.js', '/pkg/sealmail_client_bg.wasm'],
    checkManifest: (manifest) => assert.deepEqual(manifest.permissions_policy['usb-unrestricted'], ['self']),
  },
  client: {
    setting: 'app_origin',
    files: ['/', '/index.html', '/start.js', '/sw.js', '/shell.js', '/files.json', '/static/app.js', '/static/engine.js',
      '/static/engine-worker.js', '/static/style.css', '/static/pkg/sealmail_client.js', '/static/pkg/sealmail_client_bg.wasm'],
    checkManifest: (manifest) => assert.deepEqual(manifest.permissions_policy['cross-origin-isolated'], ['self']),
  },
};

const bundler = createRequire(join(REPO, 'apps/package.json'));
const { Bundle } = bundler('wbn');
const { getBundleId } = bundler('wbn-sign');

for (const [app, expected] of Object.entries(APPS)) {
  test(`build-app ${app} --key signs the app into a web bundle whose origin is the key's, holding the app for the server`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealmail-swbn-'));
    const key = join(dir, 'app-key.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
    const printed = execFileSync(join(REPO, 'scripts/build-app'),
      [app, '--server', 'https://mail.example.org', '--key', key, '--out', dir], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();

    // The Web Bundle ID of an Ed25519 key (WICG isolated-web-apps, Scheme.md): the raw public
    // key and the type suffix 00 01 02, in base32.
    const rawKey = createPublicKey(readFileSync(key)).export({ format: 'der', type: 'spki' }).subarray(-32);
    const id = base32(Buffer.concat([rawKey, Buffer.from([0, 1, 2])]));
    const origin = `isolated-app://${id}`;
    assert.match(printed, new RegExp(`\\[web\\] ${expected.setting}\\): ${origin}\n`));

    const signed = readFileSync(join(dir, `sealmail-${app}.swbn`));
    assert.equal(getBundleId(signed), id);
    // The web bundle follows the integrity block; its last 8 bytes are its length.
    const length = Number(signed.readBigUInt64BE(signed.length - 8));
    const bundle = new Bundle(signed.subarray(signed.length - length));
    const body = (path) => Buffer.from(bundle.getResponse(`${origin}${path}`).body);
    for (const path of expected.files) {
      assert.ok(bundle.urls.includes(`${origin}${path}`), `${path} is in the bundle`);
    }
    if (app === 'client') {
      // Every file the service worker serves as the bundle's is there, as built from this tree.
      for (const name of JSON.parse(body('/files.json'))) {
        assert.ok(bundle.urls.includes(`${origin}/${name}`), `${name} is in the bundle`);
      }
      assert.deepEqual(body('/static/compose-secure.js'), readFileSync(join(REPO, 'static/compose-secure.js')));
    }
    const manifest = JSON.parse(body('/.well-known/manifest.webmanifest'));
    expected.checkManifest(manifest);
    assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(JSON.parse(body('/config.json')), { server: 'https://mail.example.org/' });
  });
}

/** RFC 4648 base32, lower case and unpadded, as Web Bundle IDs are written. */
function base32(bytes) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
