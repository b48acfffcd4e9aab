// Small DOM helpers. Text goes in as text nodes only (never innerHTML), so nothing the API
// returns can become markup; with the CSP (no inline script) that closes the usual XSS doors.

/** The element with this id; throws when the page lacks it (a bug, found at once). */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/** `h('td', {className: 'x'}, 'text', child)`: an element with properties and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name in el && !name.startsWith('aria')) el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Says `text` in the polite live region (and shows it briefly). */
let statusTimer;
export function announce(text) {
  const status = $('status');
  status.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { status.textContent = ''; }, 6000);
}

/**
 * Where a list's rows would be: `loading`, `empty` (muted) or `error` (an alert), with its
 * message; an empty message hides it.
 */
export function listState(el, kind, message) {
  el.classList.toggle('alert', kind === 'error');
  el.classList.toggle('empty', kind !== 'error');
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  alertIn(el, message);
}

/** Why `what` failed, in the reader's words: a refusal of this key says what it lacks. */
export function failure(e, what, needs) {
  if (e?.status === 403) return `This key may not ${what}: that needs ${needs}.`;
  if (e?.status === 0) return `The server could not be reached, so nothing could ${what.replace(/^see /, 'be shown')}. Try again.`;
  return `Could not ${what}: ${e?.message || e}`;
}

/** Shows a message in an alert box, or hides the box for an empty message. */
export function alertIn(el, message) {
  el.textContent = message || '';
  show(el, Boolean(message));
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** The one way the console writes an instant: the reader's locale, date and time. */
export function formatDateTime(date) {
  return dateTime.format(date);
}

/** A `<time>` in the reader's locale, with the exact UTC instant as its title. */
export function time(iso, empty = '—') {
  if (!iso) return h('span', { className: 'muted' }, empty);
  const d = new Date(iso);
  return h('time', { dateTime: iso, title: d.toISOString() }, dateTime.format(d));
}

/** "3 minutes ago" (or the date for old times), with the exact instant as title. */
export function ago(iso, empty = 'never') {
  if (!iso) return h('span', { className: 'muted' }, empty);
  const d = new Date(iso);
  const seconds = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  let text;
  if (abs < 60) text = relative.format(seconds, 'second');
  else if (abs < 3600) text = relative.format(Math.round(seconds / 60), 'minute');
  else if (abs < 86400) text = relative.format(Math.round(seconds / 3600), 'hour');
  else if (abs < 30 * 86400) text = relative.format(Math.round(seconds / 86400), 'day');
  else text = dateTime.format(d);
  return h('time', { dateTime: iso, title: d.toISOString() }, text);
}

/** `<input type=datetime-local>` value (local wall time) for an RFC 3339 instant. */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** RFC 3339 UTC for a datetime-local value (read as local wall time); null when blank. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace('.000Z', 'Z');
}

/** `UTC+01:00` for the reader's current offset. */
export function utcOffset() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Dialogs
// ---------------------------------------------------------------------------------------------

/**
 * Opens a modal dialog (the browser makes the rest of the page inert and traps focus), focuses
 * `focus` (or the first field), and gives focus back to whatever had it when the dialog closes.
 */
export function openDialog(dialog, focus) {
  const opener = document.activeElement;
  dialog.addEventListener('close', () => {
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    else $('main').focus();
  }, { once: true });
  dialog.showModal();
  const target = focus || dialog.querySelector('input:not([type=hidden]), select, textarea, button');
  if (target) target.focus();
}

/**
 * Wires a dialog that shows a secret once (`ids` names its parts: `dialog`, `value`, `copy`,
 * `copied`, `ack`, `close`): Close needs the acknowledgement, Escape cannot skip it, Copy uses
 * the clipboard, and closing wipes the secret from the page and gives focus back (to `fallback`
 * when the opener is gone).
 */
export function oneTimeSecret(ids, fallback) {
  const dialog = $(ids.dialog);
  const ack = $(ids.ack);
  const close = $(ids.close);
  ack.addEventListener('change', () => { close.disabled = !ack.checked; });
  // Escape must not close it before the box is ticked.
  dialog.addEventListener('cancel', (e) => {
    if (!ack.checked) {
      e.preventDefault();
      $(ids.copied).textContent = `Tick “${ack.labels[0].textContent}” first: it cannot be shown again.`;
    }
  });
  dialog.addEventListener('close', () => {
    if (!ack.checked) {
      // Some browsers close on a second Escape whatever `cancel` says: open it again.
      dialog.showModal();
      ack.focus();
      return;
    }
    // Gone for good: nothing in the page holds the secret any more.
    $(ids.value).value = '';
    $(ids.copied).textContent = '';
    const opener = dialog.opener;
    dialog.opener = null;
    // The opener may sit in a dialog that has closed since (the form that created the secret).
    if (opener?.isConnected && !opener.closest('dialog:not([open])')) opener.focus();
    else $(fallback).focus();
  });
  $(ids.copy).addEventListener('click', async () => {
    const input = $(ids.value);
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    $(ids.copied).textContent = 'Copied to the clipboard.';
  });
  return {
    /** Shows `secret` (the caller filled in the rest of the dialog). */
    open(secret) {
      dialog.opener = document.activeElement;
      $(ids.value).value = secret;
      ack.checked = false;
      close.disabled = true;
      $(ids.copied).textContent = '';
      dialog.showModal();
      $(ids.copy).focus();
    },
  };
}
