// A smart card for browser tests: a USB CCID reader model with a real PIV card inside (the
// `virtual-card` binary: piv-authenticator on trussed), and a stand-in for `navigator.usb` in the
// page that carries the page's USB transfers to it. Everything above the USB transfers is the
// product's own code: the page's WebUSB calls, the CCID driver and PIV client in WebAssembly.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './harness.mjs';

const BINARY = join(REPO, 'target/debug/virtual-card');

/** PKCS#8 DER of a PEM private key file (the card imports PKCS#8). */
function pkcs8Der(keyFile, dir, name) {
  const out = join(dir, `${name}.pk8.der`);
  execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', keyFile, '-outform', 'DER', '-out', out]);
  return out;
}

function certDer(certFile, dir, name) {
  const out = join(dir, `${name}.cert.der`);
  execFileSync('openssl', ['x509', '-in', certFile, '-outform', 'DER', '-out', out]);
  return out;
}

/**
 * Starts a card reader with a card provisioned with `slots` ([{ slot: '9c', key: PEM file,
 * certificate: PEM file }]). `reader` picks the reader model: 'extended' (APDU level), 'short',
 * or 'tpdu' (T=1 on the host), with time extensions before every answer.
 */
export async function startVirtualCard({ slots, pin = '123456', reader = 'extended' }) {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-card-'));
  const config = {
    exchange: reader,
    timeExtensions: 1,
    maxMessageLength: reader === 'short' ? 271 : 1034,
    ifsc: 32,
    pin,
    slots: slots.map((s, i) => ({
      slot: s.slot,
      key: pkcs8Der(s.key, dir, `slot${i}`),
      certificate: certDer(s.certificate, dir, `slot${i}`),
    })),
  };
  const configFile = join(dir, 'card.json');
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(BINARY, ['--config', configFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise((resolve) => waiting.push(resolve));
  // One command at a time: the reader answers in order.
  let queue = Promise.resolve();
  const ask = (command) => {
    const answer = queue.then(() => { child.stdin.write(`${command}\n`); return nextLine(); });
    queue = answer.catch(() => {});
    return answer;
  };
  const ready = await nextLine();
  if (!ready.startsWith('ready ')) throw new Error(`virtual-card did not start: ${ready}`);
  return {
    classDescriptor: ready.slice('ready '.length),
    /** Host → reader; resolves to the reader's answers (hex), in order. */
    async out(hex) {
      const line = await ask(`out ${hex}`);
      return line.split(' ').slice(1).filter(Boolean);
    },
    /** A command APDU straight to the card (what PC/SC delivers); resolves to the response (hex). */
    async apdu(hex) {
      const line = await ask(`apdu ${hex}`);
      if (!line.startsWith('rapdu ')) throw new Error(line);
      return line.slice('rapdu '.length);
    },
    /** The reader's next interrupt-IN message (hex), or null. */
    async interrupt() {
      const line = await ask('interrupt');
      return line.split(' ')[1] || null;
    },
    remove: () => ask('remove'),
    insert: () => ask('insert'),
    stop() {
      child.stdin.end();
      child.kill();
    },
  };
}

/**
 * Gives every page of `context` a `navigator.usb` whose one device is `card`'s reader. The
 * browser's own chooser is what a user sees; here `requestDevice` picks the reader at once, and
 * later pages find it allowed through `getDevices`, as they would after the user chose it.
 * With `onlyIn` (an origin), only documents of that origin get it, as only a kiosk app may
 * claim a reader.
 */
export async function plugInReader(context, card, { onlyIn = null } = {}) {
  let allowed = false;
  await context.exposeBinding('__virtualReader', async (_source, op, arg) => {
    if (op === 'descriptor') return card.classDescriptor;
    if (op === 'allow') { allowed = true; return true; }
    if (op === 'allowed') return allowed;
    if (op === 'out') return card.out(arg);
    if (op === 'interrupt') return card.interrupt();
    throw new Error(`unknown reader operation ${op}`);
  });
  await context.addInitScript(standIn, onlyIn);
  return {
    /** Pulls the reader out: every page gets the `disconnect` event, as with a real device. */
    async unplug() {
      for (const page of context.pages()) await page.evaluate(() => globalThis.__unplugVirtualReader?.());
      allowed = false;
    },
  };
}

// Runs in the page before its own scripts. Only USB transfers cross to the test; the bytes are
// the CCID messages the product's driver writes and the reader model answers.
function standIn(onlyIn) {
  if (onlyIn && globalThis.location.origin !== onlyIn) return;
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const bytesOf = (text) => new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) || []);
  const toView = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events = new EventTarget();
  let device = null;

  function makeDevice(classDescriptor) {
    const ccid = bytesOf(classDescriptor);
    const endpoints = [[0x81, 0x02, 64], [0x02, 0x02, 64], [0x83, 0x03, 8]];
    const total = 9 + 9 + ccid.length + 7 * endpoints.length;
    const configuration = new Uint8Array([
      9, 2, total & 0xff, total >> 8, 1, 1, 0, 0x80, 50,
      9, 4, 0, 0, endpoints.length, 0x0b, 0, 0, 0,
      ...ccid,
      ...endpoints.flatMap(([address, kind, size]) => [7, 5, address, kind, size, 0, kind === 3 ? 10 : 0]),
    ]);
    const answers = [];
    const state = { opened: false, configuration: null, claimed: new Set() };
    return {
      vendorId: 0x20a0, productId: 0x42b2, productName: 'Virtual PIV reader', manufacturerName: 'Sealmail tests',
      get opened() { return state.opened; },
      get configuration() { return state.configuration; },
      configurations: [{
        configurationValue: 1,
        interfaces: [{ interfaceNumber: 0, alternates: [{ alternateSetting: 0, interfaceClass: 0x0b }] }],
      }],
      async open() { state.opened = true; },
      async close() { state.opened = false; },
      async selectConfiguration(value) { state.configuration = { configurationValue: value }; },
      async claimInterface(number) {
        if (!state.opened) throw new DOMException('The device must be opened first.', 'InvalidStateError');
        state.claimed.add(number);
      },
      async selectAlternateInterface() {},
      async releaseInterface(number) { state.claimed.delete(number); },
      async controlTransferIn(setup, length) {
        if (setup.requestType !== 'standard' || setup.request !== 6 || setup.value !== 0x0200) {
          return { status: 'stall', data: null };
        }
        return { status: 'ok', data: toView(configuration.slice(0, length)) };
      },
      async transferOut(endpoint, data) {
        if (!device) throw new DOMException('The device was disconnected.', 'NotFoundError');
        if (!state.claimed.has(0)) throw new DOMException('The interface is not claimed.', 'InvalidStateError');
        const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer || data);
        for (const answer of await globalThis.__virtualReader('out', hex(bytes))) answers.push(bytesOf(answer));
        return { status: 'ok', bytesWritten: bytes.length };
      },
      async transferIn(endpoint, length) {
        if (!device) throw new DOMException('The device was disconnected.', 'NotFoundError');
        if (endpoint === 3) {
          // The interrupt endpoint answers when the reader has something to say.
          for (;;) {
            const message = await globalThis.__virtualReader('interrupt');
            if (message) return { status: 'ok', data: toView(bytesOf(message).slice(0, length)) };
            await new Promise((resolve) => setTimeout(resolve, 100));
            if (!device) throw new DOMException('The device was disconnected.', 'NotFoundError');
          }
        }
        const next = answers.shift();
        if (!next) throw new Error('virtual reader: the host read with nothing pending');
        return { status: 'ok', data: toView(next.slice(0, length)) };
      },
    };
  }

  async function theDevice() {
    if (!device) device = makeDevice(await globalThis.__virtualReader('descriptor'));
    return device;
  }

  const usb = {
    async getDevices() {
      return (await globalThis.__virtualReader('allowed')) ? [await theDevice()] : [];
    },
    async requestDevice({ filters = [] } = {}) {
      if (!filters.some((f) => f.classCode === 0x0b)) throw new DOMException('No device selected.', 'NotFoundError');
      await globalThis.__virtualReader('allow');
      return theDevice();
    },
    addEventListener: (...args) => events.addEventListener(...args),
    removeEventListener: (...args) => events.removeEventListener(...args),
  };
  Object.defineProperty(Navigator.prototype, 'usb', { get: () => usb, configurable: true });
  // Like a browser, every page that may use the device hears it leave, touched or not.
  globalThis.__unplugVirtualReader = async () => {
    if (!(await globalThis.__virtualReader('allowed'))) return;
    const gone = await theDevice();
    device = null;
    const event = new Event('disconnect');
    event.device = gone;
    events.dispatchEvent(event);
  };
}

/**
 * Gives every page of `context` a `navigator.smartCard` (the Web Smart Card API, as ChromeOS
 * offers it to Isolated Web Apps) with one reader holding `card`. The page's APDUs go to the
 * card as the operating system's PC/SC stack would deliver them.
 */
export async function insertIntoSmartCardReader(context, card) {
  let present = true;
  await context.exposeBinding('__virtualPcsc', async (_source, op, arg) => {
    if (op === 'present') return present;
    if (op === 'transmit') {
      if (!present) throw new Error('removed-card');
      return card.apdu(arg);
    }
    throw new Error(`unknown smart card operation ${op}`);
  });
  await context.addInitScript(smartCardStandIn);
  return {
    /** Takes the card out: pending status watches see it leave. */
    async remove() {
      present = false;
      for (const page of context.pages()) await page.evaluate(() => globalThis.__virtualCardRemoved?.());
    },
  };
}

function smartCardStandIn() {
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const bytesOf = (text) => new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) || []);
  const READER = 'Virtual PIV Reader 00 00';
  const failure = (code) => Object.assign(new DOMException(code, 'SmartCardError'), { responseCode: code });
  const watchers = new Set();
  globalThis.__virtualCardRemoved = () => { for (const wake of watchers) wake(); };
  const context = {
    async listReaders() { return [READER]; },
    async connect(reader, accessMode) {
      if (reader !== READER) throw failure('unknown-reader');
      if (!(await globalThis.__virtualPcsc('present'))) throw failure('no-smartcard');
      return {
        activeProtocol: 't1',
        connection: {
          accessMode,
          async transmit(command) {
            try {
              return bytesOf(await globalThis.__virtualPcsc('transmit', hex(new Uint8Array(command)))).buffer;
            } catch {
              throw failure('removed-card');
            }
          },
          async disconnect() {},
        },
      };
    },
    // Resolves when the reader's state differs from what the caller last saw.
    async getStatusChange(states) {
      const present = await globalThis.__virtualPcsc('present');
      const seen = states[0]?.currentState || {};
      if (Boolean(seen.present) === present) {
        await new Promise((resolve) => { watchers.add(resolve); });
      }
      const now = await globalThis.__virtualPcsc('present');
      return [{ readerName: READER, eventState: { present: now, empty: !now } }];
    },
  };
  Object.defineProperty(Navigator.prototype, 'smartCard', {
    get: () => ({ establishContext: async () => context }),
    configurable: true,
  });
}
