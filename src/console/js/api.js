// The HTTP client: the public admin API (`/v1`) and the OAuth token endpoint, and nothing else.
// URLs are relative to the console's own (`/console/` → `../v1/…`), so the console also works
// when the server is mounted under a path prefix behind a proxy.

const ROOT = new URL('../', document.baseURI);

export function url(path, query) {
  const u = new URL(path.replace(/^\//, ''), ROOT);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') u.searchParams.set(name, value);
  }
  return u;
}

/** A failed call: `status`, the problem's `type` (or the OAuth `error`), its text, field errors. */
export class ApiError extends Error {
  constructor(status, body) {
    const type = body?.type || body?.error || (status === 0 ? 'network_error' : `http_${status}`);
    const detail = body?.detail || body?.error_description || body?.title
      || (status === 0 ? 'The server could not be reached.' : `The server answered ${status}.`);
    super(detail);
    this.status = status;
    this.type = type;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** Sends a request; answers the parsed JSON body, or throws `ApiError`. */
export async function send(method, path, { token, query, body, form, basic, keepalive } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (basic) headers.Authorization = `Basic ${basic}`;
  if (form) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), {
      method,
      headers,
      body: payload,
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
      keepalive: Boolean(keepalive),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const parsed = await parse(response);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/**
 * HTTP Basic credentials for the token endpoint: RFC 6749 §2.3.1 says the id and secret are
 * each form-encoded first, then joined with `:` and base64-encoded.
 */
export function basicCredentials(id, secret) {
  const formEncode = (s) => new URLSearchParams({ v: s }).toString().slice(2);
  const raw = `${formEncode(id)}:${formEncode(secret)}`;
  return btoa(String.fromCharCode(...new TextEncoder().encode(raw)));
}

/** `POST /oauth/token` (client-credentials grant) → `{access_token, expires_in, scope}`. */
export function requestToken(id, secret) {
  return send('POST', '/oauth/token', {
    basic: basicCredentials(id, secret),
    form: { grant_type: 'client_credentials' },
  });
}
