// Card readers as the browser hands them out, written once for both holders of a reader: a
// Sealmail page (static/smartcard.js) and the kiosk app (apps/kiosk/app.js; scripts/build-app kiosk
// copies this file into the app). What each does with the reader differs — the page runs PIV,
// the app only carries APDUs — but finding a reader and hearing that its card left is the same.

/** The USB interface class of smart-card readers (CCID). */
export const SMART_CARD_CLASS = 0x0b;

/** Whether a USB device has a smart-card (CCID) interface. */
export function isCardReader(device) {
  return device.configurations.some((configuration) => configuration.interfaces.some(
    (entry) => entry.alternates.some((alternate) => alternate.interfaceClass === SMART_CARD_CLASS)));
}

/**
 * The USB card reader this origin may use: one the user allowed before, else, when `ask`, the one
 * picked in the browser's chooser. Null when there is none or the chooser was closed.
 */
export async function usbReader(ask) {
  const allowed = (await navigator.usb.getDevices()).find(isCardReader);
  if (allowed || !ask) return allowed || null;
  try {
    return await navigator.usb.requestDevice({ filters: [{ classCode: SMART_CARD_CLASS }] });
  } catch (err) {
    if (err?.name === 'NotFoundError') return null; // the user closed the chooser
    throw err;
  }
}

/**
 * The first reader the Web Smart Card API lists, connected exclusively (no other program on the
 * machine may talk to the card meanwhile), T=1 preferred: `{ context, name, connection }`, or
 * null when no reader is connected.
 */
export async function smartCardReader() {
  const context = await navigator.smartCard.establishContext();
  const [name] = await context.listReaders();
  if (!name) return null;
  const { connection } = await context.connect(name, 'exclusive', { preferredProtocols: ['t1'] });
  return { context, name, connection };
}

/**
 * Resolves true once the card in the Web Smart Card API's reader `name` has left (or the reader
 * itself has gone), false as soon as `stillWanted()` says nobody waits for it any more. The API
 * reports removal through status changes, not events: each call passes the state last seen, so
 * it waits for a change instead of answering at once.
 */
export async function cardLeft(context, name, stillWanted) {
  let seen = { present: true };
  try {
    for (;;) {
      const [state] = await context.getStatusChange([{ readerName: name, currentState: seen }]);
      if (!stillWanted()) return false;
      seen = state?.eventState || {};
      if (!seen.present) return true;
    }
  } catch {
    return stillWanted();
  }
}
