// Packs a built app folder (the kiosk app or the installed client) into a signed web bundle
// (.swbn), the form in which Chrome installs an Isolated Web App. The bundle's origin comes from the signing key, so the same key
// must sign every update: the server names it (`kiosk_app_origin`, `app_origin`).
//
//   node bundle.mjs <app folder> <Ed25519 private key, PEM> <out.swbn>
//
// Prints the app's origin (isolated-app://…). A key with a passphrase takes it from
// SEALMAIL_APP_KEY_PASSPHRASE.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import * as wbn from 'wbn';
import * as wbnSign from 'wbn-sign';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

const [appDir, keyFile, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node bundle.mjs <app folder> <Ed25519 private key PEM> <out.swbn>');
  process.exit(2);
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

const key = wbnSign.parsePemKey(readFileSync(keyFile, 'utf8'), process.env.SEALMAIL_APP_KEY_PASSPHRASE);
const id = new wbnSign.WebBundleId(key);
const origin = id.serializeWithIsolatedWebAppOrigin().replace(/\/$/, '');

const builder = new wbn.BundleBuilder();
for (const path of files(appDir)) {
  const type = TYPES[extname(path)];
  if (!type) throw new Error(`${path}: no content type is known for this file`);
  const name = relative(appDir, path).split(sep).join('/');
  const body = readFileSync(path);
  builder.addExchange(`${origin}/${name}`, 200, { 'Content-Type': type }, body);
  if (name === 'index.html') builder.addExchange(`${origin}/`, 200, { 'Content-Type': type }, body);
}
const { signedWebBundle } = await new wbnSign.IntegrityBlockSigner(
  builder.createBundle(),
  id.serialize(),
  [new wbnSign.NodeCryptoSigningStrategy(key)],
).sign();
writeFileSync(out, signedWebBundle);
console.log(origin);
