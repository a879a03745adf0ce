import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { setSession } from "../auth";
import { UserErrors, RequestError } from "../components";
import { t } from "../i18n";
import { LoginDocument } from "../ops";
import { navigate } from "../router";

const TENANT_KEY = "complaintdesk.tenant";

export function SignIn() {
  const [tenant, setTenant] = useState(localStorage.getItem(TENANT_KEY) ?? "demo");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [state, login] = useMutation(LoginDocument);

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
      <p><a href={`/p/${encodeURIComponent(tenant || "demo")}`}>{t("signin.publicLink")}</a></p>
    </main>
  );
}
