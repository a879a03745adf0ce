import { useState, type ReactNode } from "react";
import { useQuery } from "urql";
import type { DocumentNode } from "graphql";
import { InputForm, RequestError, Section, UserErrors, usePayloadMutation } from "../components";
import { formatDate, label, t, useI18n } from "../i18n";
import {
  AssignRoleDocument, CalendarsDocument, CanIDocument, CategoriesDocument, CreateOrgUnitDocument, CreateUserDocument,
  ExternalBodiesDocument, IdentityProvidersDocument, OrgUnitsDocument, PoliciesDocument, RolesDocument, SetCalendarDayDocument,
  SlaProfilesDocument, UpsertCategoryDocument, UpsertExternalBodyDocument, UpsertIdentityProviderDocument,
  UpsertSlaProfileDocument, UsersDocument,
  type SlaProfilesQuery,
} from "../ops";
import { navigate } from "../router";

export const ADMIN_TABS = [
  "users", "orgUnits", "categories", "sla", "calendars", "externalBodies", "identityProviders", "policies",
] as const;

export function MutationForm({ doc, inputType, title, onDone, fixed = {} }: {
  doc: DocumentNode; inputType: string; title: string; onDone: () => void; fixed?: Record<string, unknown>;
}) {
  const m = usePayloadMutation(doc);
  const [key, setKey] = useState(0);
  return (
    <details className="card inner">
      <summary>{title}</summary>
      <InputForm key={key} inputType={inputType} fixed={fixed} submitLabel={t("common.save")} busy={m.fetching}
        onSubmit={async (input) => {
          const res = await m.run({ input });
          const p = res.data ? (Object.values(res.data)[0] as { userErrors?: unknown[] }) : null;
          if (!res.error && !p?.userErrors?.length) { setKey(key + 1); onDone(); }
        }} />
      <UserErrors errors={m.userErrors} />
      <RequestError error={m.error} />
    </details>
  );
}

export function Table({ head, rows }: { head: string[]; rows: ReactNode[][] }) {
  return (
    <table>
      <thead><tr>{head.map((h) => <th key={h} scope="col">{h}</th>)}</tr></thead>
      <tbody>{rows.map((r, i) => <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>)}</tbody>
    </table>
  );
}

function Users() {
  const [users, refetch] = useQuery({ query: UsersDocument });
  const [roles] = useQuery({ query: RolesDocument });
  const again = () => refetch({ requestPolicy: "network-only" });
  return (
    <Section title={t("admin.users")}>
      <RequestError error={users.error} />
      <Table head={[t("field.email"), t("field.displayName"), t("admin.roles"), t("admin.orgUnit"), t("admin.active")]}
        rows={(users.data?.users ?? []).map((u) => [u.email, u.displayName, u.roles.join(", "), u.orgUnit?.name ?? "", u.active ? "✓" : "✗"])} />
      <p>{t("admin.knownRoles")}: {(roles.data?.roles ?? []).map((r) => r.name).join(", ")}</p>
      <MutationForm doc={CreateUserDocument} inputType="CreateUserInput" title={t("admin.createUser")} onDone={again} />
      <MutationForm doc={AssignRoleDocument} inputType="AssignRoleInput" title={t("admin.assignRole")} onDone={again} />
    </Section>
  );
}

function OrgUnits() {
  const [res, refetch] = useQuery({ query: OrgUnitsDocument, variables: {} });
  return (
    <Section title={t("admin.orgUnits")}>
      <RequestError error={res.error} />
      <Table head={[t("field.name"), t("field.code"), t("field.kind"), t("admin.parent")]}
        rows={(res.data?.orgUnits ?? []).map((o) => [o.name, o.code, o.kind, o.parent?.name ?? ""])} />
      <MutationForm doc={CreateOrgUnitDocument} inputType="CreateOrgUnitInput" title={t("admin.createOrgUnit")}
        onDone={() => refetch({ requestPolicy: "network-only" })} />
    </Section>
  );
}

function Categories() {
  const [res, refetch] = useQuery({ query: CategoriesDocument });
  return (
    <Section title={t("admin.categories")}>
      <RequestError error={res.error} />
      <Table head={[t("field.code"), t("field.name"), t("field.cause"), t("admin.parent"), t("admin.active")]}
        rows={(res.data?.categories ?? []).map((c) => [c.code, c.name, c.cause ?? "", c.parentCode ?? "", c.active ? "✓" : "✗"])} />
      <MutationForm doc={UpsertCategoryDocument} inputType="UpsertCategoryInput" title={t("admin.upsertCategory")}
        onDone={() => refetch({ requestPolicy: "network-only" })} />
    </Section>
  );
}

type Profile = SlaProfilesQuery["slaProfiles"][number];

/** The profile as upsertSlaProfile takes it, with the days edited. */
export function profileInput(p: Profile, days: Record<number, string>) {
  return {
    name: p.name,
    categoryId: p.categoryId ?? null,
    rules: p.rules.map((r, i) => ({
      kind: r.kind, basis: r.basis, days: days[i] !== undefined ? Number(days[i]) : r.days, startsOn: r.startsOn,
      metOn: r.metOn, pauseIn: r.pauseIn, pauseConditions: r.pauseConditions, daysForeign: r.daysForeign ?? null,
      stage: r.stage ?? null, party: r.party, remindBefore: r.remindBefore, onlyDepartmentKinds: r.onlyDepartmentKinds,
      extensions: r.extensions.map((e) => ({ addDays: e.addDays, requiresComplex: e.requiresComplex, requiresApproval: e.requiresApproval })),
    })),
  };
}

function SlaProfileEditor({ profile, onDone }: { profile: Profile; onDone: () => void }) {
  const [days, setDays] = useState<Record<number, string>>({});
  const m = usePayloadMutation(UpsertSlaProfileDocument);
  const [saved, setSaved] = useState(false);
  return (
    <form className="card inner" aria-label={profile.name} onSubmit={async (e) => {
      e.preventDefault();
      setSaved(false);
      const res = await m.run({ input: profileInput(profile, days) });
      if (!res.error && !res.data?.upsertSlaProfile.userErrors.length) { setSaved(true); setDays({}); onDone(); }
    }}>
      <h3>{profile.name}</h3>
      <table>
        <thead><tr><th scope="col">{t("deadline.kind")}</th><th scope="col">{t("sla.party")}</th><th scope="col">{t("sla.basis")}</th><th scope="col">{t("sla.days")}</th></tr></thead>
        <tbody>
          {profile.rules.map((r, i) => (
            <tr key={i}>
              <td>{label("deadlineKind", r.kind)}{r.stage ? ` (${r.stage})` : ""}</td>
              <td>{r.party}</td>
              <td>{r.basis}</td>
              <td><label className="sr-only" htmlFor={`days-${profile.id}-${i}`}>{t("sla.days")} {label("deadlineKind", r.kind)} {i + 1}</label>
                <input id={`days-${profile.id}-${i}`} type="number" min={1} className="short" value={days[i] ?? String(r.days)}
                  onChange={(e) => setDays({ ...days, [i]: e.target.value })} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      <UserErrors errors={m.userErrors} />
      <RequestError error={m.error} />
      {saved ? <p role="status">{t("common.saved")}</p> : null}
      <button type="submit" disabled={m.fetching}>{t("common.save")}</button>
    </form>
  );
}

function SlaProfiles() {
  const [res, refetch] = useQuery({ query: SlaProfilesDocument });
  return (
    <Section title={t("admin.sla")}>
      <RequestError error={res.error} />
      {(res.data?.slaProfiles ?? []).map((p) => <SlaProfileEditor key={p.id} profile={p} onDone={() => refetch({ requestPolicy: "network-only" })} />)}
    </Section>
  );
}

function Calendars() {
  const [res, refetch] = useQuery({ query: CalendarsDocument });
  return (
    <Section title={t("admin.calendars")}>
      <RequestError error={res.error} />
      {(res.data?.calendars ?? []).map((c) => (
        <div key={c.jurisdiction}>
          {c.coverageWarning ? <p role="alert" className="warning">{t("calendar.coverage", { date: formatDate(c.coverageWarning.lastCoveredDate), days: c.coverageWarning.daysLeft })} {c.coverageWarning.message}</p> : null}
          <p>{t("calendar.summary", { jurisdiction: c.jurisdiction, tz: c.timezone, end: c.workingHoursEnd, years: c.coveredYears.join(", ") })}</p>
          <Table head={[t("calendar.date"), t("field.kind"), t("field.name")]}
            rows={c.overrides.map((o) => [formatDate(o.date), o.kind, o.name ?? ""])} />
        </div>
      ))}
      <MutationForm doc={SetCalendarDayDocument} inputType="SetCalendarDayInput" title={t("admin.setCalendarDay")}
        onDone={() => refetch({ requestPolicy: "network-only" })} />
    </Section>
  );
}

function ExternalBodies() {
  const [res, refetch] = useQuery({ query: ExternalBodiesDocument, variables: {} });
  return (
    <Section title={t("admin.externalBodies")}>
      <RequestError error={res.error} />
      <Table head={[t("field.name"), t("field.kind"), t("admin.level"), t("admin.handles"), t("admin.active")]}
        rows={(res.data?.externalBodies ?? []).map((b) => [b.name, b.kind, b.escalationLevel, b.handlesText ?? "", b.active ? "✓" : "✗"])} />
      <MutationForm doc={UpsertExternalBodyDocument} inputType="UpsertExternalBodyInput" title={t("admin.upsertExternalBody")}
        onDone={() => refetch({ requestPolicy: "network-only" })} />
    </Section>
  );
}

function IdentityProviders() {
  const [res, refetch] = useQuery({ query: IdentityProvidersDocument });
  return (
    <Section title={t("admin.identityProviders")}>
      <RequestError error={res.error} />
      <p>{t("idp.redirectHint", { uri: `${window.location.origin}/oidc/callback` })}</p>
      <Table head={[t("idp.displayName"), t("idp.issuer"), t("idp.audience"), t("idp.clientSecret"), t("admin.active")]}
        rows={(res.data?.identityProviders ?? []).map((p) => [p.displayName ?? t("idp.notOffered"), p.issuer, p.audience,
          p.hasClientSecret ? t("idp.secretStored") : "", p.active ? "✓" : "✗"])} />
      <MutationForm doc={UpsertIdentityProviderDocument} inputType="UpsertIdentityProviderInput"
        title={t("admin.upsertIdentityProvider")} onDone={() => refetch({ requestPolicy: "network-only" })} />
    </Section>
  );
}

function Policies() {
  const [res] = useQuery({ query: PoliciesDocument });
  const [action, setAction] = useState("");
  const [complaintId, setComplaintId] = useState("");
  const [asked, setAsked] = useState<{ action: string; complaintId: string | null } | null>(null);
  const [answer] = useQuery({ query: CanIDocument, variables: asked ?? { action: "" }, pause: !asked });
  const p = res.data?.policies;
  return (
    <Section title={t("admin.policies")}>
      <RequestError error={res.error} />
      {p ? <p>{t("policies.version", { v: p.version })}</p> : null}
      <Table head={[t("policies.role"), t("policies.action"), t("policies.relation"), t("policies.effect")]}
        rows={(p?.rules ?? []).map((r) => [r.role, r.action, r.relation, r.effect])} />
      <form className="form card inner" onSubmit={(e) => { e.preventDefault(); setAsked({ action, complaintId: complaintId.trim() || null }); }}>
        <h3>{t("policies.canI")}</h3>
        <div className="field"><label htmlFor="cani-action">{t("policies.action")}</label>
          <select id="cani-action" required value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">{t("common.choose")}</option>
            {(p?.actions ?? []).map((a) => <option key={a} value={a}>{a}</option>)}
          </select></div>
        <div className="field"><label htmlFor="cani-complaint">{t("policies.complaintId")}</label>
          <input id="cani-complaint" value={complaintId} onChange={(e) => setComplaintId(e.target.value)} /></div>
        <button type="submit">{t("policies.ask")}</button>
        {answer.data?.canI ? (
          <p role="status">
            <strong>{answer.data.canI.allowed ? t("policies.allowed") : t("policies.denied")}</strong> · {answer.data.canI.reason}
            {answer.data.canI.rule ? ` · ${answer.data.canI.rule.role} ${answer.data.canI.rule.action} ${answer.data.canI.rule.relation} ${answer.data.canI.rule.effect}` : ""}
            {answer.data.canI.code ? ` · ${answer.data.canI.code}` : ""}
          </p>
        ) : null}
        <RequestError error={answer.error} />
      </form>
    </Section>
  );
}

export function Admin({ tab }: { tab: string }) {
  useI18n();
  const current = (ADMIN_TABS as readonly string[]).includes(tab) ? tab : "users";
  const screens: Record<string, ReactNode> = {
    users: <Users />, orgUnits: <OrgUnits />, categories: <Categories />, sla: <SlaProfiles />, calendars: <Calendars />,
    externalBodies: <ExternalBodies />, identityProviders: <IdentityProviders />, policies: <Policies />,
  };
  return (
    <main id="main">
      <h1>{t("admin.title")}</h1>
      <nav aria-label={t("admin.title")} className="tabs">
        {ADMIN_TABS.map((name) => (
          <a key={name} href={`/admin/${name}`} aria-current={name === current ? "page" : undefined}
            onClick={(e) => { e.preventDefault(); navigate(`/admin/${name}`); }}>{t(`admin.${name}`)}</a>
        ))}
      </nav>
      {screens[current]}
    </main>
  );
}
