// Recipients as tokens under To, Cc and Bcc: once a field is left (or a suggestion chosen), each
// recipient in it is shown on its own with whether mail to them can be encrypted, a button to
// remove it and, for a distribution list, one to put its members in its place. The text field
// stays what is sent: tokens are read from it with the module's address rules (send-rules, the
// same the server applies) and editing a token rewrites the field.
import { postJson } from './ui.js';
import { recipientText } from './recipient-suggest.js';

const FIELDS = [['to', 'To'], ['cc', 'Cc'], ['bcc', 'Bcc']];
const EXPLAINED = 'Your message was not sent: ';

/** Shows tokens for the compose form's recipient fields, using `engine` to read them. */
export function start(engine) {
  const form = document.querySelector('form.compose');
  if (!form) return;
  // What the server said of each address, so leaving a field again asks only for new ones.
  const known = new Map();
  const lists = FIELDS.map(([id, label]) => {
    const input = form.elements[id];
    const list = document.createElement('ul');
    list.className = 'tokens';
    list.id = `${id}-tokens`;
    list.setAttribute('aria-label', `Recipients in ${label}`);
    list.hidden = true;
    input.closest('p').after(list);
    return { input, label, list };
  });

  let asked = 0;
  const refresh = async () => {
    const ticket = ++asked;
    form.querySelector('.tokens-problem')?.remove();
    let read;
    try {
      read = await engine.read_recipients(...lists.map(({ input }) => input.value));
    } catch (err) {
      // The module names the first thing that is not an address; the field shows it.
      const why = (err.message || String(err)).replace(EXPLAINED, '');
      for (const { list } of lists) list.hidden = true;
      lists[0].list.before(problem(why));
      return;
    }
    const wanted = read.all.filter((a) => !known.has(a.toLowerCase()));
    if (wanted.length) {
      try {
        const answer = await postJson('/api/recipients', { recipients: wanted });
        // A list's members are gathered from this answer alone: two lookups overlapping (the
        // field left twice quickly) must not add the members twice.
        const groups = new Map();
        for (const r of answer.recipients) {
          if (r.via) {
            const key = r.via.toLowerCase();
            groups.set(key, (groups.get(key) || []).concat(r));
          } else {
            known.set(r.address.toLowerCase(), r);
          }
        }
        for (const [key, members] of groups) known.set(key, { members });
      } catch {
        // Unknown for now: the tokens say so, and sending looks them up again anyway.
      }
    }
    if (ticket !== asked) return;
    lists.forEach(({ input, label, list }, i) => {
      const mailboxes = [read.to, read.cc, read.bcc][i];
      list.replaceChildren(...mailboxes.map((m) => token(m, known.get(m.email.toLowerCase()), {
        remove: () => rewrite(input, mailboxes.filter((other) => other !== m)),
        expand: (members) => rewrite(input, mailboxes.flatMap((other) => (other === m
          ? members.map((r) => ({ name: null, email: r.address }))
          : [other]))),
        field: label,
      })));
      list.hidden = mailboxes.length === 0;
    });
  };
  const rewrite = (input, mailboxes) => {
    input.value = mailboxes.map((m) => recipientText({ name: m.name, address: m.email })).join('');
    input.dispatchEvent(new Event('input', { bubbles: true })); // the draft changed
    refresh();
    input.focus();
  };
  for (const { input } of lists) input.addEventListener('change', refresh);
  refresh();
}

function token(mailbox, answer, { remove, expand, field }) {
  const li = document.createElement('li');
  li.className = 'token';
  const who = document.createElement('span');
  who.textContent = mailbox.name ? `${mailbox.name} <${mailbox.email}>` : mailbox.email;
  const mark = document.createElement('span');
  const members = answer?.members;
  if (members) {
    const readable = members.filter((r) => r.status !== 'none').length;
    mark.className = readable === members.length ? 'can-encrypt' : 'no-certificate';
    mark.textContent = `list of ${members.length}: ${readable === members.length ? 'all' : readable} can encrypt`;
  } else if (!answer) {
    mark.className = 'unknown';
    mark.textContent = 'not looked up';
  } else {
    mark.className = answer.status === 'none' ? 'no-certificate' : 'can-encrypt';
    mark.textContent = answer.status === 'none' ? 'no certificate' : 'can encrypt';
    if (answer.status === 'none' && answer.reason) mark.title = answer.reason;
  }
  li.append(who, ' — ', mark);
  if (members) {
    const open = document.createElement('button');
    open.type = 'button';
    open.textContent = 'Expand';
    open.setAttribute('aria-label', `Put the ${members.length} members of ${mailbox.email} in ${field}`);
    open.addEventListener('click', () => expand(members));
    li.append(' ', open);
  }
  const drop = document.createElement('button');
  drop.type = 'button';
  drop.className = 'remove';
  drop.textContent = '×';
  drop.setAttribute('aria-label', `Remove ${mailbox.email} from ${field}`);
  drop.addEventListener('click', remove);
  li.append(' ', drop);
  return li;
}

function problem(text) {
  const p = document.createElement('p');
  p.className = 'tokens-problem error';
  p.setAttribute('role', 'alert');
  p.textContent = `${text.replace(/\.$/, '')}.`;
  return p;
}
