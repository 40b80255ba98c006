// The Sealmail kiosk app (an Isolated Web App). Chrome lets an IWA claim a smart-card reader,
// but an IWA serves only the pages in its own bundle, so Sealmail's pages come from the server in
// a frame. This app holds the reader and carries raw APDUs for the framed page, which runs PIV,
// asks for the PIN and does every key operation itself, exactly as with a reader of its own
// (static/smartcard.js). The app does not interpret the APDUs (the PIN does pass through it,
// inside the VERIFY command, as it would through any reader driver).
//
// The messages, all over a MessageChannel the page opens:
//   page → app   { sealmail: 'card-connect', ask } (window message, carrying the page's port)
//   app  → page  { kind: 'connected', extendedApdus } | { kind: 'none' } | { kind: 'refused', message, responseCode }
//   page → app   { kind: 'transmit', id, apdu }
//   app  → page  { kind: 'answer', id, apdu } | { kind: 'failed', id, message, responseCode }
//   page → app   { sealmail: 'card-watch' } (window message): the port only hears of removal
//   app  → page  { kind: 'removed' }
import init, { KioskReader } from '/pkg/sealmail_client.js';
import { cardLeft, smartCardReader, usbReader } from './reader.js';

const status = document.getElementById('reader');
const choose = document.getElementById('choose');
const frame = document.getElementById('mail');

/**
 * The open reader: `{ transmit(bytes) → Promise<Uint8Array>, extendedApdus, release() }`.
 * `release` lets go of it when the card or reader has gone.
 */
let reader = null;
let opening = null;
/** The framed pages' ports: each hears when the card leaves. */
const ports = new Set();
/** The USB device behind `reader`, and the closing of the last one (reopen waits for it). */
let readerDevice = null;
let closing = Promise.resolve();

const { server } = await (await fetch('/config.json')).json();
const serverOrigin = new URL(server).origin;

window.addEventListener('message', (event) => {
  // Only the Sealmail page in our own frame may use the reader.
  if (event.origin !== serverOrigin || event.source !== frame.contentWindow) return;
  const [port] = event.ports;
  if (!port) return;
  if (event.data?.sealmail === 'card-connect') servePage(port, event.data.ask === true);
  else if (event.data?.sealmail === 'card-watch') notifyOnRemoval(port);
});
frame.src = server;

navigator.usb?.addEventListener('disconnect', (event) => {
  if (readerDevice && event.device === readerDevice) readerGone();
});

choose.addEventListener('click', () => {
  openReader(true).catch((err) => say(err.message || String(err)));
});
choose.disabled = false;
openReader(false).catch((err) => say(err.message || String(err)));

function say(text, { canChoose = !reader } = {}) {
  status.textContent = text;
  choose.hidden = !canChoose;
}

function notifyOnRemoval(port) {
  ports.add(port);
  // A page that navigated away leaves its port behind.
  port.addEventListener('close', () => ports.delete(port));
}

async function servePage(port, ask) {
  let open;
  try {
    open = await openReader(ask);
  } catch (err) {
    port.postMessage({ kind: 'refused', message: err.message || String(err), responseCode: err.responseCode });
    port.close();
    return;
  }
  if (!open) {
    port.postMessage({ kind: 'none' });
    port.close();
    return;
  }
  notifyOnRemoval(port);
  port.onmessage = async ({ data }) => {
    if (data?.kind !== 'transmit' || !(data.apdu instanceof ArrayBuffer)) return;
    try {
      const answer = await transmit(open, new Uint8Array(data.apdu));
      // Transferred, not copied: an answer may carry a content key.
      port.postMessage({ kind: 'answer', id: data.id, apdu: answer.buffer }, [answer.buffer]);
    } catch (err) {
      port.postMessage({ kind: 'failed', id: data.id, message: err.message || String(err), responseCode: err.responseCode });
    }
  };
  port.postMessage({ kind: 'connected', extendedApdus: open.extendedApdus });
}

const CARD_GONE = new Set(['removed-card', 'no-smartcard']);

// One exchange at a time: a page that has just navigated away may still have one in flight.
let exchanges = Promise.resolve();
/** Sends `bytes` on `open`, the reader the page connected to: never to a card inserted since. */
function transmit(open, bytes) {
  const exchange = exchanges.then(async () => {
    if (reader !== open) throw Object.assign(new Error('The card was removed.'), { responseCode: 'removed-card' });
    try {
      return await open.transmit(bytes);
    } catch (err) {
      // A reader that cannot report removal by itself says so here.
      if (CARD_GONE.has(err?.responseCode) && reader === open) readerGone();
      throw err;
    }
  });
  exchanges = exchange.catch(() => {});
  return exchange;
}

/**
 * The reader, opened once and kept while pages come and go. With `ask` the browser's chooser
 * may be shown (a click in the framed page activates this window too); without, only a reader
 * granted before (or by the kiosk's policy) is used.
 */
function openReader(ask) {
  if (reader) return Promise.resolve(reader);
  if (!opening) {
    opening = (navigator.smartCard ? openSmartCard(ask) : openUsb(ask)).finally(() => { opening = null; });
  } else if (ask) {
    // A click while the silent open runs: show the chooser once that found nothing or failed.
    opening = opening.catch(() => null).then((found) => found || openReader(true));
  }
  return opening;
}

async function openUsb(ask) {
  if (!navigator.usb) {
    say('This browser gives the kiosk no card reader. Install Sealmail as an Isolated Web App.', { canChoose: false });
    return null;
  }
  const device = await usbReader(ask);
  if (!device) {
    say('No card reader chosen.');
    return null;
  }
  await closing;
  await init();
  const usb = await KioskReader.openUsb(device);
  const opened = {
    extendedApdus: usb.extendedApdus,
    transmit: (bytes) => usb.transmit(bytes),
    release() {
      usb.free();
      readerDevice = null;
      closing = device.close().catch(() => {});
    },
  };
  reader = opened;
  readerDevice = device;
  // A reader with a card slot says when the card leaves; unplugging is the `disconnect` event.
  usb.cardRemoved().then((left) => { if (left && reader === opened) readerGone(); }, () => {
    if (reader === opened) readerGone();
  });
  say(`Card reader: ${device.productName || 'connected'}`);
  return reader;
}

async function openSmartCard(ask) {
  const found = await smartCardReader();
  if (!found) {
    if (ask) say('No smart card reader is connected.');
    return null;
  }
  const { context, name, connection } = found;
  const opened = {
    extendedApdus: true,
    transmit: async (bytes) => new Uint8Array(await connection.transmit(bytes)),
    release() {
      connection.disconnect().catch(() => {});
    },
  };
  reader = opened;
  cardLeft(context, name, () => reader === opened).then((left) => { if (left) readerGone(); });
  say(`Card reader: ${name}`);
  return reader;
}

/** The card or reader left: let go of it, and tell every page, whose channels end here. */
function readerGone() {
  const gone = reader;
  reader = null;
  gone?.release();
  for (const port of ports) {
    port.postMessage({ kind: 'removed' });
    port.close();
  }
  ports.clear();
  say('The card was removed. Insert it to go on.');
}
