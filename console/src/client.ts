// The GraphQL client: urql over HTTP for queries and mutations, graphql-transport-ws for subscriptions.
// Staff requests carry the bearer token (refreshed once on a 401); public ones name the tenant in X-Tenant.
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "urql";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";
import { getSession, setSession } from "./auth";

const ENDPOINT = "/graphql";

const REFRESH = `mutation RefreshToken($input: RefreshTokenInput!) {
  refreshToken(input: $input) { accessToken expiresAt refreshToken userErrors { code } }
}`;

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const session = getSession();
  if (!session) return false;
  const res = await fetch(ENDPOINT, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query: REFRESH, variables: { input: { refreshToken: session.refreshToken } } }),
  });
  const body = await res.json().catch(() => null);
  const payload = body?.data?.refreshToken;
  if (!payload?.accessToken) {
    setSession(null);
    return false;
  }
  setSession({ ...session, accessToken: payload.accessToken, refreshToken: payload.refreshToken ?? session.refreshToken,
    expiresAt: payload.expiresAt });
  return true;
}

function withAuth(init: RequestInit | undefined, publicTenant: string | null): RequestInit {
  const headers = new Headers(init?.headers);
  const session = getSession();
  if (publicTenant) headers.set("X-Tenant", publicTenant);
  else if (session) headers.set("Authorization", `Bearer ${session.accessToken}`);
  return { ...init, headers };
}

function authFetch(publicTenant: string | null): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, withAuth(init, publicTenant));
    if (res.status !== 401 || publicTenant || !getSession()) return res;
    refreshing ??= refresh().finally(() => (refreshing = null));
    return (await refreshing) ? fetch(input, withAuth(init, publicTenant)) : res;
  };
}

let ws: WsClient | null = null;
let wsToken: string | null = null;

function wsClient(): WsClient {
  const token = getSession()?.accessToken ?? null;
  if (!ws || wsToken !== token) {
    ws?.dispose();
    wsToken = token;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${ENDPOINT}`;
    ws = createWsClient({
      url,
      lazy: true,
      retryAttempts: 5,
      connectionParams: () => ({ Authorization: `Bearer ${getSession()?.accessToken ?? ""}` }),
    });
  }
  return ws;
}

/** The staff client (signed in). */
export function staffClient(): Client {
  return new Client({
    url: ENDPOINT,
    fetch: authFetch(null),
    preferGetMethod: false,
    requestPolicy: "cache-and-network",
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: wsClient().subscribe({ ...request, query: request.query ?? "" }, sink) }),
        }),
      }),
    ],
  });
}

/** A public client for one tenant (no sign-in). */
export function publicClient(tenant: string): Client {
  return new Client({
    url: ENDPOINT,
    fetch: authFetch(tenant),
    preferGetMethod: false,
    requestPolicy: "network-only",
    exchanges: [fetchExchange],
  });
}
