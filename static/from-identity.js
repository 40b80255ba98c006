// The compose page's From selector: choosing another identity swaps its signature into the
// message. The signature is swapped only while the previous one is still in the message word
// for word (after "-- "), so a signature the user edited is never overwritten; a message that
// had no signature gets the new one only while it is still as the page opened it. In formatted
// text the signature is swapped in the editor the same way (rich-text.js).

import { formatted, swapSignature } from './rich-text.js';

const form = document.querySelector('form.compose');
const from = form?.elements.from;
if (from instanceof HTMLSelectElement) {
  const body = form.elements.body;
  const opened = body.value;
  const signature = (option) => option?.dataset.signature ?? '';
  let current = signature(from.selectedOptions[0]);
  from.addEventListener('change', () => {
    const next = signature(from.selectedOptions[0]);
    if (formatted() !== null) {
      if (swapSignature(current, next)) current = next;
      return;
    }
    const text = body.value;
    if (current && text.includes(`-- \n${current}`)) {
      body.value = text.replace(`-- \n${current}`, next ? `-- \n${next}` : '');
    } else if (!current && next && text === opened) {
      body.value = `\n\n-- \n${next}${text}`;
    } else {
      return;
    }
    current = next;
    body.dispatchEvent(new Event('input', { bubbles: true }));
  });
}
