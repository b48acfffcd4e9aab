// The Signing keys tab: the org's token-signing keys (current, next, retired), and rotation:
// promote the next key, stage a key of another algorithm, or replace a compromised key at once.

import { $, alertIn, announce, failure, fill, h, openDialog, show, time } from './dom.js';
import { api } from './session.js';

/** The key that signs after a rotation without another algorithm: the staged one, else the next. */
let upcoming = null;

function describe() {
  const alg = $('rotate-alg').value;
  const immediate = $('rotate-immediate').checked;
  show($('rotate-immediate-warning'), immediate);
  let what;
  if (immediate) what = `A fresh ${alg} key signs from now on, and a fresh next key is published.`;
  else if (upcoming && upcoming.alg === alg) what = `The next key ${upcoming.kid} signs from now on.`;
  else what = `A new ${alg} key is published now and signs once every cached copy of the JWKS has it.`;
  $('rotate-what').textContent = what;
}

/** What a rotation did, with the server's warnings, shown above the table until the next one. */
function notice(result) {
  const lines = [];
  if (result.signing_key) {
    const k = result.signing_key;
    lines.push(h('p', {}, `Key ${k.kid} (${k.alg}) signs from now on. `,
      `The previous key ${result.retired.kid} stays in the JWKS until `, time(result.retired.unpublish_at),
      `. Next key, published now: ${result.next.kid} (${result.next.alg}).`));
    for (const w of result.warnings || []) lines.push(h('p', {}, h('strong', {}, 'Warning: '), w.message));
    announce(`Signing key ${k.kid} (${k.alg}) is current.`);
  } else {
    const k = result.next;
    lines.push(h('p', {}, `New ${k.alg} key ${k.kid} is published and signs from `, time(k.activates_at),
      '; until then the current key signs.'));
    announce(`New ${k.alg} signing key ${k.kid} is published and signs later.`);
  }
  fill($('signing-notice'), ...lines);
  show($('signing-notice'));
}

export function initSigningKeys() {
  const dialog = $('rotate-dialog');
  $('rotate-open').addEventListener('click', () => {
    if (upcoming) $('rotate-alg').value = upcoming.alg;
    $('rotate-immediate').checked = false;
    describe();
    alertIn($('rotate-error'), '');
    openDialog(dialog, $('rotate-alg'));
  });
  $('rotate-alg').addEventListener('change', describe);
  $('rotate-immediate').addEventListener('change', describe);
  $('rotate-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('rotate-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('rotate-confirm').disabled = true;
    try {
      const body = { alg: $('rotate-alg').value, immediate: $('rotate-immediate').checked };
      const result = await api('POST', '/v1/signing-keys/rotate', { body });
      dialog.close('rotated');
      notice(result);
      loadSigningKeys();
    } catch (err) {
      alertIn($('rotate-error'), err.message);
    } finally {
      $('rotate-confirm').disabled = false;
    }
  });
}

function statusText(k) {
  switch (k.status) {
    case 'current': return 'Current';
    case 'next': return k.activates_at ? 'Next (staged)' : 'Next (published, not signing)';
    case 'retired': return 'Retired (still published)';
    case 'unpublished': return 'Unpublished';
    default: return k.status;
  }
}

export async function loadSigningKeys() {
  const body = $('signing-table').tBodies[0];
  try {
    const { signing_keys: keys } = await api('GET', '/v1/signing-keys');
    const next = keys.filter((k) => k.status === 'next');
    upcoming = next.find((k) => k.activates_at) || next[0] || keys.find((k) => k.status === 'current') || null;
    fill(body, keys.map((k) => h('tr', { dataset: { status: k.status } },
      h('td', {}, h('code', {}, k.kid)),
      h('td', {}, k.alg),
      h('td', {}, h('span', { className: `badge ${k.status}` }, statusText(k))),
      h('td', {}, time(k.created_at)),
      h('td', {}, time(k.activates_at)),
      h('td', {}, time(k.retired_at)),
      h('td', {}, time(k.unpublish_at)))));
  } catch (e) {
    fill(body, h('tr', {}, h('td', { colSpan: 7, className: 'alert' }, failure(e, 'see the signing keys', 'admin over signing-keys'))));
  }
}
