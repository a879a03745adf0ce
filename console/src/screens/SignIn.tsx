import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Provider, useMutation, useQuery } from "urql";
import { setSession } from "../auth";
import { publicClient } from "../client";
import { UserErrors, RequestError } from "../components";
import { t } from "../i18n";
import { begin, finish } from "../oidc";
import { LoginDocument, SignInProvidersDocument, SignInWithOidcDocument } from "../ops";
import { navigate } from "../router";

const TENANT_KEY = "complaintdesk.tenant";

/** The tenant's identity providers, a button each (their list is public, asked with X-Tenant). */
function ProviderButtons({ tenant }: { tenant: string }) {
  const [res] = useQuery({ query: SignInProvidersDocument });
  const [busy, setBusy] = useState(false);
  const providers = res.data?.signInProviders ?? [];
  if (!providers.length) return null;
  return (
    <div className="card" data-testid="oidc-providers">
      <p>{t("signin.or")}</p>
      {providers.map((p) => (
        <button key={p.id} type="button" disabled={busy} onClick={async () => {
          setBusy(true);
          localStorage.setItem(TENANT_KEY, tenant);
          window.location.assign(await begin(tenant, p, window.location.origin, sessionStorage));
        }}>{t("signin.with", { name: p.displayName })}</button>
      ))}
    </div>
  );
}

function useSettled(value: string, ms = 400): string {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function SignIn() {
  const [tenant, setTenant] = useState(localStorage.getItem(TENANT_KEY) ?? "demo");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [state, login] = useMutation(LoginDocument);
  const settled = useSettled(tenant.trim().toLowerCase());
  const providerClient = useMemo(() => (settled ? publicClient(settled) : null), [settled]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await login({ input: { tenant: tenant.trim(), email: email.trim(), password } });
    const p = res.data?.login;
    if (p?.accessToken && p.refreshToken) {
      localStorage.setItem(TENANT_KEY, tenant.trim());
      setSession({ tenant: tenant.trim(), accessToken: p.accessToken, refreshToken: p.refreshToken, expiresAt: p.expiresAt ?? "" });
      navigate("/inbox");
    }
  }

  return (
    <main id="main" className="narrow">
      <h1>{t("signin.title")}</h1>
      <form onSubmit={submit} className="form card">
        <div className="field">
          <label htmlFor="tenant">{t("signin.tenant")}</label>
          <input id="tenant" name="tenant" autoComplete="organization" required value={tenant} onChange={(e) => setTenant(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="email">{t("signin.email")}</label>
          <input id="email" name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="password">{t("signin.password")}</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </div>
        <UserErrors errors={state.data?.login.userErrors} />
        <RequestError error={state.error} />
        <button type="submit" disabled={state.fetching}>{t("signin.submit")}</button>
      </form>
      {providerClient ? <Provider value={providerClient}><ProviderButtons key={settled} tenant={settled} /></Provider> : null}
      <p><a href={`/p/${encodeURIComponent(tenant || "demo")}`}>{t("signin.publicLink")}</a></p>
    </main>
  );
}

/** /oidc/callback: the provider's redirect back. The state must be the one this tab sent; the code goes to the
 * server with the verifier, and the session starts as with a password. */
export function OidcCallback() {
  const [state, signIn] = useMutation(SignInWithOidcDocument);
  const [problem, setProblem] = useState<string | null>(null);
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return; // once, even when React runs effects twice
    started.current = true;
    const answer = finish(window.location.search, sessionStorage);
    history.replaceState(null, "", window.location.pathname); // the code leaves the address bar
    if (!answer.ok) {
      setProblem(answer.reason === "denied" ? t("oidc.denied", { detail: answer.detail ?? "" }) : t(`oidc.${answer.reason}`));
      return;
    }
    const { pending, code } = answer;
    void signIn({ input: { tenant: pending.tenant, providerId: pending.providerId, code, codeVerifier: pending.verifier,
      redirectUri: pending.redirectUri, nonce: pending.nonce } }).then((res) => {
      const p = res.data?.signInWithOidc;
      if (p?.accessToken && p.refreshToken) {
        setSession({ tenant: pending.tenant, accessToken: p.accessToken, refreshToken: p.refreshToken, expiresAt: p.expiresAt ?? "" });
        navigate("/inbox");
      }
    });
  }, [signIn]);

  return (
    <main id="main" className="narrow">
      <h1>{t("signin.title")}</h1>
      {problem ? <p role="alert" data-testid="oidc-error">{problem}</p> : null}
      <UserErrors errors={state.data?.signInWithOidc.userErrors} />
      <RequestError error={state.error} />
      {!problem && !state.error && !state.data?.signInWithOidc.userErrors.length ? <p role="status">{t("oidc.working")}</p> : null}
      <p><a href="/" onClick={(e) => { e.preventDefault(); navigate("/"); }}>{t("oidc.back")}</a></p>
    </main>
  );
}
