// Attachments on the compose page: files dropped anywhere on the form join the ones chosen with
// "Attach files", and the files about to be sent are listed with their sizes, each with a button
// to take it off again. The file field stays what is posted (with script or without), so this
// only adds to it.
import { formatSize } from './ui.js';

const form = document.querySelector('form.compose');
const input = form?.elements.attachments;

if (input instanceof HTMLInputElement) start();

function start() {
  const list = document.createElement('ul');
  list.className = 'chosen-files';
  list.setAttribute('aria-label', 'Files to attach');
  list.hidden = true;
  input.closest('p').after(list);
  const hint = document.createElement('span');
  hint.className = 'hint';
  hint.textContent = ' or drop files anywhere on the message';
  input.after(hint);
  const status = document.getElementById('draft-status');

  const show = () => {
    const files = [...input.files];
    list.replaceChildren(...files.map((file, i) => {
      const li = document.createElement('li');
      li.append(`${file.name} (${formatSize(file.size)}) `);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove ${file.name}`);
      remove.addEventListener('click', () => {
        setFiles(files.filter((_, j) => j !== i));
        input.focus();
      });
      li.append(remove);
      return li;
    }));
    list.hidden = files.length === 0;
  };
  const setFiles = (files) => {
    const transfer = new DataTransfer();
    for (const file of files) transfer.items.add(file);
    input.files = transfer.files;
    show();
    form.dispatchEvent(new Event('input', { bubbles: true })); // the draft changed
  };
  input.addEventListener('change', show);

  // Only a drag that carries files is ours; text dragged into a field is the field's.
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
  let depth = 0;
  form.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    form.classList.add('dropping');
  });
  form.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  form.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) form.classList.remove('dropping');
  });
  form.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    form.classList.remove('dropping');
    const dropped = [...event.dataTransfer.files];
    if (!dropped.length) return;
    setFiles([...input.files, ...dropped]);
    if (status) status.textContent = `${dropped.length} file${dropped.length === 1 ? '' : 's'} attached.`;
  });
  show();
}
