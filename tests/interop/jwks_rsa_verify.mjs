// jwks-rsa (JWKS client, refetch on an unknown kid) with jsonwebtoken v9, the classic Node
// resource-server pair, across immediate rotations to RS256 and to ES256: each new key's token
// verifies, and so does the EdDSA token signed before (jsonwebtoken has no EdDSA, so that one is
// only checked to be refused as an unsupported algorithm, never accepted). Run by tests/interop.rs
// from target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET and
// INTEROP_ADMIN_SECRET set. Prints one JSON line on success.
import jwksClient from 'jwks-rsa';
import jwt from 'jsonwebtoken';

const ISSUER = process.env.INTEROP_ISSUER;
const CLIENT_ID = process.env.INTEROP_CLIENT_ID;
const CLIENT_SECRET = process.env.INTEROP_CLIENT_SECRET;
const ADMIN_SECRET = process.env.INTEROP_ADMIN_SECRET;
const base = ISSUER.replace(/\/$/, '');

function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}

async function token() {
  const r = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = await r.json();
  check(r.status === 200, 'token status', body);
  return body.access_token;
}

async function rotate(alg) {
  const r = await fetch(`${base}/v1/signing-keys/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify({ alg, immediate: true }),
  });
  const body = await r.json();
  check(r.status === 201 && body.signing_key.alg === alg, `immediate rotation to ${alg}`, body);
  return body.signing_key.kid;
}

// Defaults, as the README of jwks-rsa shows them (cache and rate limit on).
const client = jwksClient({ jwksUri: `${base}/.well-known/jwks.json` });
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
