// jwks-rsa (JWKS client, refetch on an unknown kid) with jsonwebtoken v9, the classic Node
// resource-server pair, across immediate rotations to RS256 and to ES256: each new key's token
// verifies, and so does the EdDSA token signed before (jsonwebtoken has no EdDSA, so that one is
// only checked to be refused as an unsupported algorithm, never accepted). Run by tests/interop.rs
// from target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET and
// INTEROP_ADMIN_SECRET set. Prints one JSON line on success.
import jwksClient from 'jwks-rsa';
import jwt from 'jsonwebtoken';


import { ISSUER, CLIENT_ID, check, metadata, rotate as rotateKey, token as tokenAt } from './common.mjs';

const md = await metadata();
const token = () => tokenAt(md.token_endpoint);

async function rotate(alg) {
  const { status, body } = await rotateKey(md.token_endpoint, { alg, immediate: true });
  check(status === 201 && body.signing_key.alg === alg, `immediate rotation to ${alg}`, body);
  return body.signing_key.kid;
}

// Defaults, as the README of jwks-rsa shows them (cache and rate limit on).
const client = jwksClient({ jwksUri: md.jwks_uri });
const getKey = (header, callback) => client.getSigningKey(header.kid, (err, key) => callback(err, key?.getPublicKey()));
const verify = (jws) => new Promise((resolve, reject) => jwt.verify(jws, getKey, {
  algorithms: ['RS256', 'ES256'], issuer: ISSUER, audience: ISSUER,
}, (err, claims) => (err ? reject(err) : resolve(claims))));

const eddsa = await token();
const out = {};
for (const alg of ['RS256', 'ES256']) {
  const kid = await rotate(alg);
  const jws = await token();
  check(jwt.decode(jws, { complete: true }).header.kid === kid, `the ${alg} key signs`);
  const claims = await verify(jws);
  check(claims.sub === CLIENT_ID && claims.client_id === CLIENT_ID, `${alg} claims`, claims);
  out[alg] = claims.sub;
}
let refused;
try {
  await verify(eddsa);
} catch (e) {
  refused = e.message;
}
check(refused !== undefined, 'jsonwebtoken refuses what it cannot check');
out.eddsa_refused = refused;
console.log(JSON.stringify(out));
