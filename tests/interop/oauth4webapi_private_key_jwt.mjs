// oauth4webapi v3 (panva) `PrivateKeyJwt` (RFC 7523 private_key_jwt) with WebCrypto keys, for
// keys created without a secret. RFC 8414 discovery first (plain HTTP on loopback is the only
// departure from the defaults), and the metadata must offer private_key_jwt with the algorithms.
//
// For EdDSA (Ed25519), ES256 (ECDSA P-256), RS256 (RSASSA-PKCS1-v1_5) and PS256 (RSA-PSS): a key
// pair from crypto.subtle.generateKey, its public JWK from crypto.subtle.exportKey as WebCrypto
// writes it (key_ops, ext, and alg for RSA included) plus a kid, a key created through the admin
// API; then PrivateKeyJwt({ key, kid }): two client-credentials grants (two assertions, each
// checked as sent), the token validated with validateJwtAccessToken against the served JWKS,
// introspection and revocation authenticated the same way.
//
// Ed25519 meets RFC 9864's fully-specified algorithm name `Ed25519` twice: WebCrypto exports the
// public JWK with `"alg": "Ed25519"` and oauth4webapi 3.8 signs with `alg: "Ed25519"`. Latchkey
// takes both as EdDSA, so everything here goes as the libraries do it, no remap
// (`ed25519_jwk_stock`, `ed25519_stock` record that).
//
// Run by tests/interop.rs from target/interop/node with INTEROP_ISSUER and INTEROP_ADMIN_SECRET
// set. Prints one JSON line on success.
import * as oauth from 'oauth4webapi';

import { ISSUER, check, createKey, createKeyWithoutSecret, jwtParts } from './common.mjs';

const http = { [oauth.allowInsecureRequests]: true };
const ALGS = ['EdDSA', 'ES256', 'RS256', 'PS256'];
const GENERATE = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};
const issuer = new URL(ISSUER);
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...http }),
);
check(as.issuer === ISSUER, 'discovered issuer', as);
check(as.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'metadata offers private_key_jwt', as);
for (const alg of ALGS) {
  check(as.token_endpoint_auth_signing_alg_values_supported?.includes(alg), `metadata lists ${alg}`, as);
}

/** A ClientAuth that keeps each assertion it sends. */
function recording(auth, sent) {
  return async (...args) => {
    await auth(...args);
    sent.push(args[2].get('client_assertion'));
  };
}

async function grant(client, auth) {
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), http);
  return oauth.processClientCredentialsResponse(as, client, response);
}

/** The RFC 6749 §5.2 error of a refused grant, however oauth4webapi surfaces it. */
async function keyPair(alg) {
  const { privateKey, publicKey } = await crypto.subtle.generateKey(GENERATE[alg], false, ['sign', 'verify']);
  const kid = `oauth4webapi-${alg.toLowerCase()}`;
  const jwk = { ...(await crypto.subtle.exportKey('jwk', publicKey)), kid };
  check(!('d' in jwk), `${alg}: the exported JWK is public`, jwk);
  return { privateKey, kid, jwk };
}

const results = {};
let ed25519Stock;
let ed25519JwkStock;
for (const alg of ALGS) {
  const { privateKey, kid, jwk } = await keyPair(alg);
  if (alg === 'EdDSA') {
    // As WebCrypto exports it (Node 20.20 and later write the alg; earlier ones left it out,
    // so it is set here either way).
    jwk.alg = jwk.alg ?? 'Ed25519';
    const { status, body } = await createKey({
      name: 'oauth4webapi Ed25519 JWK as exported', scopes: ['read:projects/**'], secret: false,
      public_keys: [jwk],
    });
    ed25519JwkStock = {
      webcrypto_exports_alg: jwk.alg, status, fields: (body.errors ?? []).map((e) => e.field),
    };
  }
  const clientId = await createKeyWithoutSecret(`oauth4webapi ${alg}`, [jwk]);
  const client = { client_id: clientId };
  const sent = [];
  const auth = recording(oauth.PrivateKeyJwt({ key: privateKey, kid }), sent);

  const first = await grant(client, auth);
  const second = await grant(client, auth);
  check(first.access_token !== second.access_token, `${alg}: two distinct tokens`);
  check(first.scope === 'read:projects/**', `${alg}: scope`, first);
  const request = new Request('http://rs.example/projects/42', { headers: { authorization: `Bearer ${second.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, ISSUER, http);
  check(claims.client_id === clientId, `${alg}: validated token's client_id`, claims);

  const introspected = await oauth.processIntrospectionResponse(
    as, client, await oauth.introspectionRequest(as, client, auth, second.access_token, http),
  );
  check(introspected.active === true && introspected.client_id === clientId, `${alg}: introspection`, introspected);
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, second.access_token, http));
  const after = await oauth.processIntrospectionResponse(
    as, client, await oauth.introspectionRequest(as, client, auth, second.access_token, http),
  );
  check(after.active === false, `${alg}: revoked`, after);

  check(sent.length === 5, `${alg}: one assertion per request`, sent.length);
  const parts = sent.map(jwtParts);
  for (const { header, payload } of parts) {
    // oauth4webapi names Ed25519 signatures by RFC 9864's `Ed25519`.
    const expectedAlg = alg === 'EdDSA' ? 'Ed25519' : alg;
    check(header.alg === expectedAlg && header.kid === kid, `${alg}: assertion header`, header);
    check(payload.iss === clientId && payload.sub === clientId, `${alg}: assertion iss, sub`, payload);
    check(payload.aud === ISSUER, `${alg}: assertion aud (oauth4webapi uses the issuer)`, payload);
  }
  check(new Set(parts.map((p) => p.payload.jti)).size === sent.length, `${alg}: one jti per assertion`, parts);
  results[alg] = {
    key_id: clientId,
    sub: claims.sub,
    assertion_alg: parts[0].header.alg,
    assertion_lifetime: parts[0].payload.exp - parts[0].payload.iat,
    jwk_members: Object.keys(jwk).sort(),
    introspected: introspected.active,
    revoked: after.active === false,
  };
  if (alg === 'EdDSA') {
    ed25519Stock = { ok: typeof first.access_token === 'string', assertion_alg: parts[0].header.alg };
  }
}

console.log(JSON.stringify({
  issuer: as.issuer,
  algs: ALGS.filter((alg) => results[alg]?.sub === results[alg]?.key_id),
  results,
  ed25519_stock: ed25519Stock,
  ed25519_jwk_stock: ed25519JwkStock ?? null,
}));
