import { describe, expect, it } from "vitest";
import { authorizationUrl, begin, challengeOf, finish, randomString, CALLBACK_PATH } from "./oidc";

class MemoryStorage {
  items = new Map<string, string>();
  get length() { return this.items.size; }
  clear() { this.items.clear(); }
  getItem(k: string) { return this.items.get(k) ?? null; }
  key(i: number) { return [...this.items.keys()][i] ?? null; }
  removeItem(k: string) { this.items.delete(k); }
  setItem(k: string, v: string) { this.items.set(k, v); }
}

const provider = { id: "SWRQOjE=", authorizationEndpoint: "https://idp.example/authorize?tenant=x", clientId: "spa", scope: "openid email" };

describe("PKCE", () => {
  it("derives the RFC 7636 S256 challenge", async () => {
    // RFC 7636 appendix B
    expect(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  it("makes verifiers of valid length and alphabet, different each time", () => {
    const a = randomString(48);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(randomString()).toHaveLength(43);
    expect(randomString(48)).not.toBe(a);
  });
});

describe("the authorization request and the callback", () => {
  it("sends the challenge, state, nonce and the callback URI, and keeps the provider's own parameters", async () => {
    const storage = new MemoryStorage();
    const url = new URL(await begin("demo", provider, "https://desk.example", storage));
    const pending = JSON.parse(storage.getItem("complaintdesk.oidc")!);
    expect(url.origin + url.pathname).toBe("https://idp.example/authorize");
    expect(url.searchParams.get("tenant")).toBe("x");
    expect(url.searchParams.get("response_type")).toBe("code");
    expect(url.searchParams.get("client_id")).toBe("spa");
    expect(url.searchParams.get("redirect_uri")).toBe("https://desk.example" + CALLBACK_PATH);
    expect(url.searchParams.get("state")).toBe(pending.state);
    expect(url.searchParams.get("nonce")).toBe(pending.nonce);
    expect(url.searchParams.get("code_challenge")).toBe(await challengeOf(pending.verifier));
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(await authorizationUrl(provider, pending)).toBe(url.toString());
  });

  it("accepts the redirect with this tab's state once, and refuses another state", async () => {
    const storage = new MemoryStorage();
    await begin("demo", provider, "https://desk.example", storage);
    const state = JSON.parse(storage.getItem("complaintdesk.oidc")!).state;
    const done = finish(`?code=abc&state=${state}`, storage);
    expect(done.ok && done.code).toBe("abc");
    expect(done.ok && done.pending.tenant).toBe("demo");
    expect(finish(`?code=abc&state=${state}`, storage)).toEqual({ ok: false, reason: "missing" }); // used up

    await begin("demo", provider, "https://desk.example", storage);
    expect(finish("?code=abc&state=forged", storage)).toEqual({ ok: false, reason: "state" });
    await begin("demo", provider, "https://desk.example", storage);
    expect(finish("?error=access_denied", storage)).toEqual({ ok: false, reason: "denied", detail: "access_denied" });
  });
});
