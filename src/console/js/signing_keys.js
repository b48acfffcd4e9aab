// The Signing keys tab: the org's token-signing keys, and rotation with a choice of algorithm.

import { $, alertIn, announce, fill, h, openDialog, time } from './dom.js';
import { api } from './session.js';

let current = null;

export function initSigningKeys() {
  const dialog = $('rotate-dialog');
  $('rotate-open').addEventListener('click', () => {
    if (current) $('rotate-alg').value = current.alg;
    alertIn($('rotate-error'), '');
    openDialog(dialog, $('rotate-alg'));
  });
  $('rotate-cancel').addEventListener('click', () => dialog.close('cancel'));
  $('rotate-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('rotate-confirm').disabled = true;
    try {
      const rotated = await api('POST', '/v1/signing-keys/rotate', { body: { alg: $('rotate-alg').value } });
      dialog.close('rotated');
      announce(`New ${rotated.signing_key.alg} signing key ${rotated.signing_key.kid} is current.`);
      loadSigningKeys();
    } catch (err) {
      alertIn($('rotate-error'), err.message);
    } finally {
      $('rotate-confirm').disabled = false;
    }
  });
}

const STATUS = { current: 'Current', retired: 'Retired (still published)', unpublished: 'Unpublished' };

export async function loadSigningKeys() {
  const body = $('signing-table').tBodies[0];
  try {
    const { signing_keys: keys } = await api('GET', '/v1/signing-keys');
    current = keys.find((k) => k.status === 'current') || null;
    fill(body, keys.map((k) => h('tr', { dataset: { status: k.status } },
      h('td', {}, h('code', {}, k.kid)),
      h('td', {}, k.alg),
      h('td', {}, h('span', { className: `badge ${k.status}` }, STATUS[k.status] || k.status)),
      h('td', {}, time(k.created_at)),
      h('td', {}, time(k.retired_at)),
      h('td', {}, time(k.unpublish_at)))));
  } catch (e) {
    fill(body, h('tr', {}, h('td', { colSpan: 6, className: 'alert' }, `The signing keys could not be loaded: ${e.message}`)));
  }
}
