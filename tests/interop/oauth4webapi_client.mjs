// oauth4webapi v3 (panva), with its default settings but for plain HTTP on loopback: RFC 8414
// discovery, the client-credentials grant with client_secret_basic and client_secret_post,
// RFC 7662 introspection, RFC 7009 revocation (with a hint), and validateJwtAccessToken as a
// resource server with one JWKS cache kept across calls. Run by tests/interop.rs from
// target/interop/node with INTEROP_ISSUER, INTEROP_CLIENT_ID and INTEROP_CLIENT_SECRET set.
// Prints one JSON line on success.
import * as oauth from 'oauth4webapi';

const ISSUER = process.env.INTEROP_ISSUER;
// RFC 8707: when set, tokens are asked for this resource, which is then their audience.
const RESOURCE = process.env.INTEROP_RESOURCE || undefined;
const AUDIENCE = RESOURCE || ISSUER;
const client = { client_id: process.env.INTEROP_CLIENT_ID };
const secret = process.env.INTEROP_CLIENT_SECRET;
// The only departure from the defaults: the test server speaks plain HTTP on loopback.
const http = { [oauth.allowInsecureRequests]: true };

function check(condition, message, context) {
  if (!condition) {
    throw new Error(`CHECK FAILED: ${message}${context === undefined ? '' : ` ${JSON.stringify(context)}`}`);
  }
}

const issuer = new URL(ISSUER);
const as = await oauth.processDiscoveryResponse(
  issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...http }),
);
check(as.issuer === ISSUER, 'discovered issuer', as);

async function grant(auth, scope) {
  const params = new URLSearchParams({
    ...(scope ? { scope } : {}),
    ...(RESOURCE ? { resource: RESOURCE } : {}),
  });
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, params, http);
  return oauth.processClientCredentialsResponse(as, client, response);
}

const basic = await grant(oauth.ClientSecretBasic(secret), 'read:projects/**');
check(basic.token_type === 'bearer' && basic.scope === 'read:projects/**', 'basic grant', basic);
const post = await grant(oauth.ClientSecretPost(secret));
check(typeof post.access_token === 'string', 'post grant', post);

let refused;
try {
  await grant(oauth.ClientSecretBasic(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`));
} catch (e) {
  refused = e;
}
// RFC 6749 §5.2: 401 with a WWW-Authenticate challenge, which oauth4webapi reports as such.
check(
  (refused instanceof oauth.WWWAuthenticateChallengeError && refused.status === 401
    && refused.cause.some((c) => c.scheme === 'basic'))
    || (refused instanceof oauth.ResponseBodyError && refused.error === 'invalid_client'),
  'a wrong secret is refused with a Basic challenge', String(refused),
);

const auth = oauth.ClientSecretBasic(secret);
const introspected = await oauth.processIntrospectionResponse(
  as, client, await oauth.introspectionRequest(as, client, auth, basic.access_token, http),
);
check(introspected.active === true && introspected.client_id === client.client_id, 'introspection', introspected);

// A resource server: one JWKS cache across calls (what a long-running API keeps).
const cache = {};
const rs = { [oauth.jwksCache]: cache, ...http };
const request = (token) => new Request('http://rs.example/projects/42', { headers: { authorization: `Bearer ${token}` } });
const claims = await oauth.validateJwtAccessToken(as, request(basic.access_token), AUDIENCE, rs);
check(claims.client_id === client.client_id && claims.scope === 'read:projects/**', 'validateJwtAccessToken', claims);

// A rotation: the promoted key was published before this cache was filled, so the first token
// it signs verifies from the cache (oauth4webapi refuses an unknown kid for 60 s otherwise).
const uat = cache.uat;
const rotated = await fetch(as.token_endpoint.replace(/oauth\/token$/, 'v1/signing-keys/rotate'), {
  method: 'POST',
  headers: { authorization: `Bearer ${process.env.INTEROP_ADMIN_SECRET}` },
});
check(rotated.status === 201, 'rotate (promote the next key)', await rotated.text());
const fresh = await grant(oauth.ClientSecretBasic(secret));
const freshClaims = await oauth.validateJwtAccessToken(as, request(fresh.access_token), AUDIENCE, rs);
check(freshClaims.client_id === client.client_id, 'the new key\'s token verifies from the cache', freshClaims);
check(cache.uat === uat, 'without refetching the key set', { before: uat, after: cache.uat });

// Revocation: RFC 7009 §2.1, a hint never stops the search (even one for a kind not issued).
await oauth.processRevocationResponse(
  await oauth.revocationRequest(as, client, auth, post.access_token, {
    additionalParameters: { token_type_hint: 'refresh_token' }, ...http,
  }),
);
const after = await oauth.processIntrospectionResponse(
  as, client, await oauth.introspectionRequest(as, client, auth, post.access_token, http),
);
check(after.active === false, 'revoked despite the refresh_token hint', after);

console.log(JSON.stringify({
  issuer: as.issuer,
  basic_scope: basic.scope,
  introspected: introspected.active,
  validated_sub: claims.sub,
  revoked: !after.active,
  rotated_without_refetch: cache.uat === uat,
}));
