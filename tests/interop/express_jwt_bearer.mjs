// Auth0's express-oauth2-jwt-bearer with its default settings, as a resource server in front of
// an Express route: discovery from the issuer, JWKS fetched and cached by the library. Run by
// tests/interop.rs from target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID and
// INTEROP_CLIENT_SECRET set. Prints one JSON line on success.
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';

import { ISSUER, CLIENT_ID, RESOURCE, check, metadata, rotate, token as tokenAt } from './common.mjs';

const AUDIENCE = RESOURCE || ISSUER;
const md = await metadata();
const token = () => tokenAt(md.token_endpoint);

const app = express();
app.use(auth({ issuerBaseURL: ISSUER, audience: AUDIENCE }));
app.get('/projects/42', (req, res) => res.json({ sub: req.auth.payload.sub, scope: req.auth.payload.scope }));
app.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.code || err.message }));
const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
const api = `http://127.0.0.1:${server.address().port}/projects/42`;

try {
  const jwt = await token();
  const ok = await fetch(api, { headers: { authorization: `Bearer ${jwt}` } });
  const body = await ok.json();
  check(ok.status === 200 && body.sub === CLIENT_ID, 'a Latchkey token is accepted', body);
  const tampered = `${jwt.slice(0, -2)}${jwt.endsWith('AA') ? 'BB' : 'AA'}`;
  const bad = await fetch(api, { headers: { authorization: `Bearer ${tampered}` } });
  check(bad.status === 401, 'a tampered token is refused', bad.status);
  const none = await fetch(api);
  check(none.status === 401, 'no token is refused', none.status);
  // A rotation with the library's JWKS cache warm: the promoted key was published already, so
  // its first token is accepted (the library would otherwise wait out its 30 s cooldown).
  const rotated = await rotate(md.token_endpoint);
  check(rotated.status === 201, 'rotate (promote the next key)', rotated.body);
  const promoted = await token();
  check((await fetch(api, { headers: { authorization: `Bearer ${promoted}` } })).status === 200,
    'the promoted key\'s first token is accepted with the cache warm');
  console.log(JSON.stringify({ accepted: body.sub, scope: body.scope, after_rotation: true }));
} finally {
  server.close();
}
