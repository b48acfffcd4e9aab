// The Settings tab: the organization (`GET /v1/org`) and what happens to a key whose secret is
// reported leaked (`PATCH /v1/org {leak_policy}`).

import { ApiError } from './api.js';
import { $, alertIn, announce, fill, h, time } from './dom.js';
import { api } from './session.js';

export function initSettings() {
  $('leak-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = $('leak-form').querySelector('input[name="leak_policy"]:checked');
    if (!chosen) return;
    $('leak-save').disabled = true;
    try {
      const org = await api('PATCH', '/v1/org', { body: { leak_policy: chosen.value } });
      render(org);
      alertIn($('leak-error'), '');
      announce(org.leak_policy === 'revoke'
        ? 'Saved: a key reported leaked is revoked at once.'
        : 'Saved: a key reported leaked is only flagged.');
    } catch (err) {
      alertIn($('leak-error'), err.message);
    } finally {
      $('leak-save').disabled = false;
    }
  });
}

function render(org) {
  const fact = (term, ...value) => h('div', {}, h('dt', {}, term), h('dd', {}, ...value));
  fill($('org-facts'),
    fact('Organization', org.slug),
    fact('Id', h('code', {}, org.id)),
    fact('Created', time(org.created_at)));
  $(`leak-${org.leak_policy}`).checked = true;
}

export async function loadSettings() {
  // Emptied first, so that nothing acts on the form as it was before this load.
  fill($('org-facts'));
  try {
    render(await api('GET', '/v1/org'));
    alertIn($('leak-error'), '');
  } catch (e) {
    fill($('org-facts'));
    alertIn($('leak-error'), e instanceof ApiError && e.status === 403
      ? 'This key may not see the organization’s settings: that needs admin over keys.'
      : `The settings could not be loaded: ${e.message}`);
  }
}
