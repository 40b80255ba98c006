// Smart-card digital IDs. The card is reached from the page (the user picks the reader, and the
// browser gives the device to this page): over WebUSB with Sealmail's own CCID driver, or through
// the Web Smart Card API where the browser has it (Isolated Web Apps), or, in a page the kiosk
// app frames, through the reader the app holds (apps/kiosk/app.js). The card session runs in
// this page's copy of the browser module; the engine in the worker asks it for each private-key
// operation. Nothing read from the card is stored: certificates live in this page's memory and
// are gone on sign-out, on navigation and when the card is removed.
import init, { CardSession, certificate_info } from './pkg/sealmail_client.js';
import { checkedModule } from './engine.js';
import { askPin } from './ui.js';
import { cardLeft, smartCardReader, usbReader } from './reader.js';

/** What the user is told when this browser cannot reach a card at all. */
export const NO_SMART_CARDS = 'Smart cards cannot be used in this browser. Chrome lets only kiosk (Isolated Web App) pages reach a card reader.';

// The module's copy for this page is loaded only when there is a card to talk to: most pages
// never need it.
let loaded = null;
const load = () => { loaded ??= init({ module_or_path: checkedModule() }); return loaded; };
let card = null;
// The USB reader the card session uses: its leaving locks the card's IDs.
let cardDevice = null;
const removalListeners = new Set();
/** The kiosk app's channel for the card session in use, closed when the card is forgotten. */
let kioskPort = null;
/** Sessions whose card left before they were in use. */
const leftEarly = new WeakSet();

/**
 * The kiosk app's origin when this page is framed by it, else null. The server lets no site but
 * the configured kiosk app frame its pages (CSP frame-ancestors), so a parent is that app.
 */
function kioskAppOrigin() {
  if (window.parent === window) return null;
  return globalThis.location?.ancestorOrigins?.[0] ?? null;
}

// In the kiosk app's frame the app holds the reader, and WebUSB is not this page's to touch.
if (!kioskAppOrigin()) {
  globalThis.navigator?.usb?.addEventListener('disconnect', (event) => {
    if (cardDevice && event.device === cardDevice) forget();
  });
}

/**
 * How this page reaches cards: 'kiosk' (the app framing it), 'smartcard' (Web Smart Card API),
 * 'usb' (WebUSB), or null.
 */
export function support() {
  if (kioskAppOrigin()) return 'kiosk';
  if (globalThis.navigator?.smartCard) return 'smartcard';
  if (globalThis.navigator?.usb) return 'usb';
  return null;
}

/** The connected card: `{ identities: [{ cardSlot, certificate, info }] }`, or null. */
export function current() {
  return card;
}

/** Called with no argument when the connected card goes away. */
export function onRemoved(listener) {
  removalListeners.add(listener);
}

function forget() {
  cardDevice = null;
  closeKioskChannel();
  // A PIN prompt for the card that left answers nothing.
  document.querySelector('dialog.pin[open]')?.close();
  if (!card) return;
  card.session.forgetPin();
  card.session.free();
  card = null;
  for (const listener of removalListeners) listener();
}

/**
 * The kiosk setting (`card_removal_signs_out`): the reader leaving ends the session, on every
 * page, whether or not the page was using the card. `form` is the sign-out form, whose handler
 * (app.js) locks every ID first.
 */
export function signOutOnRemoval(form) {
  const app = kioskAppOrigin();
  if (app) {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = ({ data }) => { if (data?.kind === 'removed') form.requestSubmit(); };
    window.parent.postMessage({ sealmail: 'card-watch' }, app, [port2]);
    return;
  }
  navigator.usb?.addEventListener('disconnect', () => form.requestSubmit());
}

/**
 * Connects to a card. With `ask`, the browser asks the user to pick a reader (this must run in a
 * click handler); without, only a reader the user allowed before is used, silently.
 * Resolves to the card, or null when there is none to use.
 */
export function connect({ ask = false } = {}) {
  if (card) return Promise.resolve(card);
  // One connection at a time: a second would power the card on again under the first.
  if (!connecting) connecting = open(ask).finally(() => { connecting = null; });
  else if (ask) connecting = connecting.then((found) => found || open(true));
  return connecting;
}

let connecting = null;

async function open(ask) {
  const kind = support();
  if (!kind) {
    if (ask) throw new Error(NO_SMART_CARDS);
    return null;
  }
  const opener = { kiosk: openKioskReader, smartcard: openSmartCardApi, usb: openUsb }[kind];
  const session = await opener(ask);
  if (!session) return null;
  let found;
  try {
    found = await session.certificates();
  } catch (err) {
    session.free();
    closeKioskChannel();
    throw err;
  }
  // A card holds no chain: the server finds the issuers (POST /api/chain) when signing.
  const identities = found.map(({ slot, certificate }) => ({
    cardSlot: slot,
    certificate,
    chain: [],
    info: certificate_info(certificate),
  }));
  card = { session, identities, unlocked: false };
  if (leftEarly.has(session)) {
    forget();
    return null;
  }
  // A card pulled out of a reader that stays plugged in: the reader says so.
  session.cardRemoved().then((removed) => {
    if (removed && card?.session === session) forget();
  }, () => {});
  return card;
}

async function openUsb(ask) {
  const device = await usbReader(ask);
  if (!device) return null;
  cardDevice = device;
  await load();
  return CardSession.openUsb(device);
}

async function openSmartCardApi(ask) {
  const found = await smartCardReader();
  if (!found) {
    if (ask) throw new Error('No smart card reader is connected.');
    return null;
  }
  await load();
  const session = await CardSession.openSmartCard(found.connection);
  // The watch starts before the session is the card's (its certificates are read first), so it
  // asks whether the card is still this session's, or not yet anyone's.
  cardLeft(found.context, found.name, () => !card || card.session === session)
    .then((left) => { if (left && card?.session === session) forget(); });
  return session;
}

/**
 * The kiosk app's reader, through a message channel the app answers on. It carries APDUs only:
 * PIV, the PIN and the keys' operations stay in this page, as with a reader of its own. The
 * connection has the Web Smart Card API's shape, so the same card session code drives it.
 */
async function openKioskReader(ask) {
  const { port1: port, port2 } = new MessageChannel();
  const pending = new Map();
  let next = 0;
  let session = null;
  let connectReply;
  const replied = new Promise((resolve, reject) => { connectReply = { resolve, reject }; });
  const failure = (message, responseCode) => Object.assign(new Error(message), { responseCode });
  port.onmessage = ({ data }) => {
    if (data?.kind === 'connected') connectReply.resolve(data);
    else if (data?.kind === 'none') connectReply.resolve(null);
    else if (data?.kind === 'refused') connectReply.reject(failure(data.message, data.responseCode));
    else if (data?.kind === 'removed') {
      for (const { reject } of pending.values()) reject(failure('The card was removed.', 'removed-card'));
      pending.clear();
      if (card?.session === session) forget();
      else if (session) leftEarly.add(session);
    } else if (pending.has(data?.id)) {
      const { resolve, reject } = pending.get(data.id);
      pending.delete(data.id);
      if (data.kind === 'answer') resolve(data.apdu);
      else reject(failure(data.message, data.responseCode));
    }
  };
  window.parent.postMessage({ sealmail: 'card-connect', ask }, kioskAppOrigin(), [port2]);
  // An app that does not answer (a page the app did not expect) must not leave the page
  // waiting: the chooser, if any, has been answered well within this.
  const silence = setTimeout(() => connectReply.reject(new Error('The kiosk app did not answer.')), ask ? 120000 : 10000);
  let reply;
  try {
    reply = await replied;
  } catch (err) {
    port.close();
    if (ask) throw err;
    return null;
  } finally {
    clearTimeout(silence);
  }
  if (!reply) {
    port.close();
    if (ask) throw new Error('No card reader is connected to this kiosk.');
    return null;
  }
  const connection = {
    extendedApdus: reply.extendedApdus,
    transmit(apdu) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Transferred, not copied: the command may carry the PIN.
        port.postMessage({ kind: 'transmit', id, apdu }, [apdu]);
      });
    },
  };
  kioskPort = port;
  try {
    await load();
    session = await CardSession.openSmartCard(connection);
  } catch (err) {
    closeKioskChannel();
    throw err;
  }
  return session;
}

function closeKioskChannel() {
  kioskPort?.close();
  kioskPort = null;
}

/** The connected card's digital IDs (`keystore.fitting` picks among them). */
export function identities() {
  return card ? card.identities : [];
}

/**
 * Lets `engine` use the card: each operation it asks for is carried out here, asking for the PIN
 * (with the tries left) the first time in an operation. Call `finish` when the operation is over.
 */
export function attach(engine) {
  engine.setCardHandler(async (request) => {
    if (!card) throw new Error('The smart card was removed.');
    if (!card.unlocked) await unlock(card);
    return card.session.perform(request);
  });
}

/** The operation is over: the PIN is forgotten here and on the card. */
export async function finish() {
  if (!card || !card.unlocked) return;
  card.unlocked = false;
  await card.session.lock().catch(() => card?.session.forgetPin());
}

async function unlock(target) {
  let problem = '';
  for (;;) {
    const status = await target.session.pinStatus();
    if (status.blocked) throw new Error("The card's PIN is blocked. Ask your administrator to unblock the card.");
    const pin = await askPin(status.triesLeft ?? null, problem);
    if (card !== target) throw new Error('The smart card was removed.');
    if (pin === null) throw new Error('The card was not used: you cancelled the PIN.');
    try {
      await target.session.unlock(pin);
      target.unlocked = true;
      return;
    } catch (err) {
      problem = err.message || String(err);
      if (/blocked/i.test(problem)) throw err;
    }
  }
}
