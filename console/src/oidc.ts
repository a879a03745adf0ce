// Sign-in with the tenant's OpenID Connect provider: the authorization-code flow with PKCE (RFC 7636, S256).
// The state, nonce and verifier stay in this tab (sessionStorage) until the provider redirects back to
// /oidc/callback; the code is exchanged by the server (signInWithOidc), so no request leaves the origin.

export const CALLBACK_PATH = "/oidc/callback";
const KEY = "complaintdesk.oidc";

export type Pending = { tenant: string; providerId: string; state: string; nonce: string; verifier: string; redirectUri: string };
export type Provider = { id: string; authorizationEndpoint: string; clientId: string; scope: string };

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random, URL-safe string of `bytes` random bytes (32 bytes: 43 characters, a valid PKCE verifier). */
export function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(verifier)). */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The provider's authorization URL for this sign-in. */
export async function authorizationUrl(provider: Provider, pending: Pending): Promise<string> {
  const url = new URL(provider.authorizationEndpoint);
  const params: Record<string, string> = {
    response_type: "code", client_id: provider.clientId, scope: provider.scope, redirect_uri: pending.redirectUri,
    state: pending.state, nonce: pending.nonce, code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Start a sign-in: a new state, nonce and verifier kept in the tab; the URL to send the browser to. */
export async function begin(tenant: string, provider: Provider, origin: string, storage: Storage): Promise<string> {
  const pending: Pending = {
    tenant, providerId: provider.id, state: randomString(), nonce: randomString(), verifier: randomString(48),
    redirectUri: origin + CALLBACK_PATH,
  };
  storage.setItem(KEY, JSON.stringify(pending));
  return authorizationUrl(provider, pending);
}

export type Callback =
  | { ok: true; pending: Pending; code: string }
  | { ok: false; reason: "state" | "denied" | "missing"; detail?: string };

/** The provider's redirect back: the pending sign-in it answers (used up), or why not. A state that is not the
 * one this tab sent (a forged or stale redirect) is refused. */
export function finish(search: string, storage: Storage): Callback {
  const params = new URLSearchParams(search);
  const raw = storage.getItem(KEY);
  storage.removeItem(KEY);
  let pending: Pending | null = null;
  try {
    pending = raw ? (JSON.parse(raw) as Pending) : null;
  } catch {
    pending = null;
  }
  const error = params.get("error");
  if (error) return { ok: false, reason: "denied", detail: params.get("error_description") ?? error };
  const code = params.get("code");
  const state = params.get("state");
  if (!pending) return { ok: false, reason: "missing" };
  if (!code || !state || state !== pending.state) return { ok: false, reason: "state" };
  return { ok: true, pending, code };
}
