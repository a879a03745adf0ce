import { useMemo, useState } from "react";
import { Provider, useQuery } from "urql";
import { publicClient } from "../client";
import { InputForm, RequestError, Section, UserErrors, usePayloadMutation } from "../components";
import { formatDate, formatDateTime, label, t, useI18n } from "../i18n";
import {
  ComplaintProcedureDocument, SubmitComplaintDocument, SubmitCustomerOpinionDocument, SubmitSatisfactionSurveyDocument,
  TenantInfoDocument, TrackComplaintDocument,
} from "../ops";
import { navigate } from "../router";

function PublicNav({ tenant }: { tenant: string }) {
  const base = `/p/${encodeURIComponent(tenant)}`;
  const link = (to: string, text: string) => (
    <a href={to} aria-current={location.pathname === to ? "page" : undefined} onClick={(e) => { e.preventDefault(); navigate(to); }}>{text}</a>
  );
  return (
    <nav aria-label={t("public.nav")} className="tabs">
      {link(base, t("public.procedure"))}{link(`${base}/submit`, t("public.submit"))}{link(`${base}/track`, t("public.track"))}
    </nav>
  );
}

function Procedure() {
  const [res] = useQuery({ query: ComplaintProcedureDocument });
  const p = res.data?.complaintProcedure;
  return (
    <Section title={t("public.procedure")}>
      <RequestError error={res.error} />
      {p ? (
        <>
          <p>{p.summary}</p>
          <ol>{p.steps.map((s) => <li key={s.key}><strong>{s.name}</strong>: {s.description} {s.expectedTime ? `(${s.expectedTime})` : ""}</li>)}</ol>
          <p>{t("public.channels")}: {p.channels.map((c) => label("channel", c)).join(", ")}</p>
        </>
      ) : null}
    </Section>
  );
}

function Submit() {
  const m = usePayloadMutation(SubmitComplaintDocument);
  const [done, setDone] = useState<{ number: string; accessCode: string } | null>(null);
  return (
    <Section title={t("public.submit")}>
      {done ? (
        <div role="status">
          <p>{t("public.submitted", { number: done.number })}</p>
          <p>{t("new.accessCode")}: <code>{done.accessCode}</code></p>
          <p>{t("public.keepCode")}</p>
        </div>
      ) : (
        <>
          <InputForm inputType="SubmitComplaintInput" fixed={{}} submitLabel={t("public.send")} busy={m.fetching}
            initial={{ channel: "WEB", scope: "DOMESTIC" }}
            onSubmit={async (input) => {
              const res = await m.run({ input });
              const p = res.data?.submitComplaint;
              if (p?.number && p.accessCode) setDone({ number: p.number, accessCode: p.accessCode });
            }} />
          <UserErrors errors={m.userErrors} />
          <RequestError error={m.error} />
        </>
      )}
    </Section>
  );
}

/** Track a complaint; its times in the tenant's zone (``timeZone``, from tenantInfo; nothing shown until known). */
function Track({ timeZone }: { timeZone: string | null }) {
  const { locale } = useI18n();
  const when = (iso: string | null | undefined) => (timeZone ? formatDateTime(iso, locale, timeZone) : "");
  const params = new URLSearchParams(location.search);
  const [number, setNumber] = useState(params.get("number") ?? "");
  const [code, setCode] = useState("");
  const [asked, setAsked] = useState<{ number: string; accessCode: string } | null>(null);
  const [res, refetch] = useQuery({ query: TrackComplaintDocument, variables: asked ?? { number: "", accessCode: "" }, pause: !asked });
  const opinion = usePayloadMutation(SubmitCustomerOpinionDocument);
  const survey = usePayloadMutation(SubmitSatisfactionSurveyDocument);
  const tr = res.data?.trackComplaint;
  const again = () => refetch({ requestPolicy: "network-only" });
  return (
    <Section title={t("public.track")}>
      <form className="form" onSubmit={(e) => { e.preventDefault(); setAsked({ number: number.trim(), accessCode: code.trim() }); }}>
        <div className="field"><label htmlFor="track-number">{t("case.number")}</label>
          <input id="track-number" required value={number} onChange={(e) => setNumber(e.target.value)} /></div>
        <div className="field"><label htmlFor="track-code">{t("new.accessCode")}</label>
          <input id="track-code" required value={code} onChange={(e) => setCode(e.target.value)} /></div>
        <button type="submit">{t("public.lookUp")}</button>
      </form>
      <RequestError error={res.error} />
      {asked && res.data && !tr ? <p role="alert">{t("public.notFound")}</p> : null}
      {tr ? (
        <div className="card inner" data-testid="tracking">
          <p>{t("case.number")}: {tr.number} · <span className={`status s-${tr.status}`} data-testid="tracking-status">{label("status", tr.status)}</span></p>
          <p>{t("public.nextStep")}: {tr.nextStep}</p>
          <p>{t("public.receivedAt")}: <span data-testid="tracking-received">{when(tr.receivedAt)}</span>{tr.closedAt ? ` · ${t("case.closedAt")}: ${when(tr.closedAt)}` : ""}</p>
          {tr.expectedDates.length ? (
            <ul>{tr.expectedDates.map((d, i) => <li key={i}>{d.label}: {formatDate(d.dueOn)}{d.provisional ? ` (${t("public.provisional")})` : ""}</li>)}</ul>
          ) : null}
          {tr.messages.map((msg, i) => <blockquote key={i}>{msg.body} <small>{when(msg.sentAt)}</small></blockquote>)}
          {tr.canGiveOpinion ? (
            <div><h3>{t("public.opinion")}</h3>
              <InputForm inputType="SubmitCustomerOpinionInput" fixed={asked!} submitLabel={t("public.send")} busy={opinion.fetching}
                onSubmit={async (input) => { await opinion.run({ input }); again(); }} />
              <UserErrors errors={opinion.userErrors} /></div>
          ) : null}
          {tr.canRateSatisfaction ? (
            <div><h3>{t("public.survey")}</h3>
              <InputForm inputType="SubmitSatisfactionSurveyInput" fixed={asked!} submitLabel={t("public.send")} busy={survey.fetching}
                onSubmit={async (input) => { await survey.run({ input }); again(); }} />
              <UserErrors errors={survey.userErrors} /></div>
          ) : null}
        </div>
      ) : null}
    </Section>
  );
}

function PublicPage({ tenant, page }: { tenant: string; page: "procedure" | "submit" | "track" }) {
  const [info] = useQuery({ query: TenantInfoDocument });
  const tenantInfo = info.data?.tenantInfo;
  return (
    <main id="main" className="narrow">
      <h1>{t("public.title")}</h1>
      {tenantInfo ? <p className="tenant-name" data-testid="tenant-name">{tenantInfo.name}</p> : null}
      <PublicNav tenant={tenant} />
      {page === "procedure" ? <Procedure /> : page === "submit" ? <Submit /> : <Track timeZone={tenantInfo?.timeZone ?? null} />}
      {tenantInfo ? <p><small>{t("public.timeZone", { tz: tenantInfo.timeZone })}</small></p> : null}
    </main>
  );
}

export function Public({ tenant, page }: { tenant: string; page: "procedure" | "submit" | "track" }) {
  useI18n();
  const client = useMemo(() => publicClient(tenant), [tenant]);
  return (
    <Provider value={client}>
      <PublicPage tenant={tenant} page={page} />
    </Provider>
  );
}
