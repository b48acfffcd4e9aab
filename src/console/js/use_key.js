// "Use this key": after a key is created or rolled, how a client gets an access token with it —
// the request as curl, and as a few lines of Python and of Node — with the key id filled in and
// the secret read from the environment (so it lands in neither shell history nor source). For a
// key without a secret, a client assertion signed with its private key instead.

import { url } from './api.js';
import { h } from './dom.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The token endpoint's absolute URL, as this page reaches the server. */
function tokenEndpoint() {
  return url('/oauth/token').href;
}

/** `[[label, language, code], …]` for a key with a secret. */
export function secretSnippets(keyId) {
  const endpoint = tokenEndpoint();
  return [
    ['curl', 'shell', `curl -u "${keyId}:$LATCHKEY_SECRET" \\\n  -d grant_type=client_credentials \\\n  ${endpoint}`],
    ['Python', 'python', `import os, requests  # pip install requests
r = requests.post(
    "${endpoint}",
    auth=("${keyId}", os.environ["LATCHKEY_SECRET"]),
    data={"grant_type": "client_credentials"},
)
r.raise_for_status()
token = r.json()["access_token"]`],
    ['Node', 'javascript', `const basic = Buffer.from(\`${keyId}:\${process.env.LATCHKEY_SECRET}\`).toString('base64');
const r = await fetch('${endpoint}', {
  method: 'POST',
  headers: { authorization: \`Basic \${basic}\`, 'content-type': 'application/x-www-form-urlencoded' },
  body: 'grant_type=client_credentials',
});
if (!r.ok) throw new Error(\`token: \${r.status} \${await r.text()}\`);
const { access_token: token } = await r.json();`],
  ];
}

/** The same for a key without a secret: a client assertion signed with its private key. */
export function assertionSnippets(keyId, kid) {
  const endpoint = tokenEndpoint();
  return [
    ['Python', 'python', `import time, uuid, jwt, requests  # pip install "pyjwt[crypto]" requests
now = int(time.time())
assertion = jwt.encode(
    {"iss": "${keyId}", "sub": "${keyId}", "aud": "${endpoint}",
     "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())},
    open("private-key.pem").read(), algorithm="EdDSA", headers={"kid": "${kid}"},
)
r = requests.post("${endpoint}", data={
    "grant_type": "client_credentials",
    "client_assertion_type": "${ASSERTION_TYPE}",
    "client_assertion": assertion,
})
token = r.json()["access_token"]`],
  ];
}

/**
 * For a key that trusts workloads: the token its workload got from `issuer` (for `audience`),
 * sent as the client assertion with the key id as `client_id`. GitHub Actions gets one as
 * shown; elsewhere the workload reads its own (e.g. a projected service-account token).
 */
export function workloadSnippets(keyId, { issuer, audience }) {
  const endpoint = tokenEndpoint();
  const github = issuer === 'https://token.actions.githubusercontent.com';
  const fetchToken = github
    ? `# In a GitHub Actions job with \`permissions: id-token: write\`:
ID_TOKEN=$(curl -sH "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \\
  "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=${audience}" | jq -r .value)`
    : `# The workload's token from ${issuer}, minted for the audience ${audience}:
ID_TOKEN=$(cat /var/run/secrets/tokens/latchkey)  # e.g. a projected service-account token`;
  return [
    ['curl', 'shell', `${fetchToken}
curl -s ${endpoint} -d grant_type=client_credentials \\
  -d client_id=${keyId} \\
  -d client_assertion_type=${ASSERTION_TYPE} \\
  -d client_assertion="$ID_TOKEN"`],
  ];
}

/**
 * The panel: the key id to copy, then each snippet with its own Copy button. `prefix` keeps
 * element ids unique when two panels exist.
 */
export function usePanel(prefix, keyId, snippets, hint) {
  const copy = (id, what) => h('button', {
    type: 'button',
    className: 'secondary small',
    'aria-label': `Copy ${what}`,
    onclick: async (e) => {
      const text = document.getElementById(id).textContent;
      try {
        await navigator.clipboard.writeText(text);
        e.target.textContent = 'Copied';
      } catch {
        e.target.textContent = 'Select and copy';
      }
    },
  }, 'Copy');
  return h('section', { className: 'use-key', 'aria-labelledby': `${prefix}-use-title` },
    h('h3', { id: `${prefix}-use-title` }, 'Use this key'),
    h('p', {}, 'Key id (the OAuth ', h('code', {}, 'client_id'), '): ',
      h('code', { id: `${prefix}-use-id` }, keyId), ' ', copy(`${prefix}-use-id`, 'the key id')),
    h('p', { className: 'hint' }, hint),
    snippets.map(([label, lang, code], i) => h('div', { className: 'snippet' },
      h('div', { className: 'snippet-head' }, h('span', {}, label), copy(`${prefix}-use-${i}`, `the ${label} example`)),
      // Focusable: a long line scrolls, and the keyboard must reach it too.
      h('pre', { tabIndex: 0 }, h('code', { id: `${prefix}-use-${i}`, dataset: { lang } }, code)))));
}
