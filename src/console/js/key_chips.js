// How a key's parts read, in the list and on its page: badges and chips.

import { h } from './dom.js';

const STATUS_TEXT = { active: 'Active', expired: 'Expired', revoked: 'Revoked' };

/** The status badge, with "Leaked" beside it for a key reported leaked and only flagged. */
export function statusBadges(key) {
  return [h('span', { className: `badge ${key.status}` }, STATUS_TEXT[key.status] || key.status), leakedBadge(key)];
}

function leakedBadge(key) {
  if (!key.leaked_at || key.status === 'revoked') return null;
  return h('span', { className: 'badge leaked', title: `Reported leaked ${new Date(key.leaked_at).toISOString()}: roll or revoke it` }, 'Leaked');
}

export const scopeChips = (key) => h('ul', { className: 'chips' },
  key.scopes.map((s) => h('li', {}, h('code', {}, `${s.action}:${s.resource}`))));

export const cidrChips = (key) => (key.allowed_cidrs.length
  ? h('ul', { className: 'chips' }, key.allowed_cidrs.map((c) => h('li', {}, h('code', {}, c))))
  : h('span', { className: 'muted' }, 'any address'));

/** `Ed25519`, `P-256`, `RSA 2048`, with the algorithm when the JWK pins one. */
export function jwkKind(jwk) {
  let kind = jwk.kty;
  if (jwk.kty === 'OKP' || jwk.kty === 'EC') kind = jwk.crv;
  if (jwk.kty === 'RSA') kind = `RSA ${Math.floor((jwk.n.length * 3) / 4) * 8}`;
  return jwk.alg ? `${kind}, ${jwk.alg} only` : kind;
}

/**
 * How the key authenticates besides a secret, briefly: `private_key_jwt (1 key, a jwks_uri)`,
 * `federation (2 workloads)`.
 */
export function assertionMethods(key) {
  const keys = (key.public_keys || []).length;
  const workloads = (key.federated_credentials || []).length;
  const jwt = [keys ? `${keys} ${keys === 1 ? 'key' : 'keys'}` : '', key.jwks_uri ? 'a jwks_uri' : ''].filter(Boolean);
  return [
    jwt.length ? `private_key_jwt (${jwt.join(', ')})` : '',
    workloads ? `federation (${workloads} ${workloads === 1 ? 'workload' : 'workloads'})` : '',
  ].filter(Boolean);
}
