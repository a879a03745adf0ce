import { useEffect, useState } from "react";
import { useMutation, useQuery } from "urql";
import { InputForm, RequestError, Section, UserErrors, type UserError } from "../components";
import { formatDateTime, getLocale, label, t, useI18n } from "../i18n";
import { ComplaintAccountabilityDocument, ComplaintDetailDocument, MUTATIONS, type AvailableActionFieldsFragment } from "../ops";

function Dl({ rows }: { rows: [string, React.ReactNode][] }) {
  return (
    <dl className="facts">
      {rows.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => (
        <div key={k}><dt>{k}</dt><dd>{v}</dd></div>
      ))}
    </dl>
  );
}

function ActionPanel({ action, complaintId, onDone }: { action: AvailableActionFieldsFragment; complaintId: string; onDone: () => void }) {
  const doc = MUTATIONS[action.mutation];
  const [state, run] = useMutation(doc);
  const [errors, setErrors] = useState<UserError[]>([]);
  if (!doc || !action.input) return <p>{t("case.actionUnavailable")}</p>;
  return (
    <div className="card inner">
      <h3>{getLocale() === "zh-CN" ? action.labelZh : action.label}</h3>
      <InputForm inputType={action.input} fixed={{ complaintId }} submitLabel={t("case.confirm")} busy={state.fetching}
        onSubmit={async (input) => {
          const res = await run({ input });
          const payload = res.data ? (Object.values(res.data)[0] as { userErrors?: UserError[] }) : null;
          const errs = payload?.userErrors ?? [];
          setErrors(errs);
          if (!res.error && errs.length === 0) onDone();
        }} />
      <UserErrors errors={errors} />
      <RequestError error={state.error} />
    </div>
  );
}

/** Responsibility, the repeat proposal and the major-complaint state (proposing and deciding are action buttons). */
function Accountability({ id, version }: { id: string; version: number }) {
  const [res, refetch] = useQuery({ query: ComplaintAccountabilityDocument, variables: { id }, requestPolicy: "network-only" });
  useEffect(() => { if (version > 0) refetch({ requestPolicy: "network-only" }); }, [version, refetch]);
  const c = res.data?.complaint;
  const who = (u: { displayName?: string | null } | null | undefined) => u?.displayName ?? "";
  return (
    <Section title={t("case.accountability")}>
      <RequestError error={res.error} />
      {c && !c.responsibility && !c.repeatProposal && !c.majorComplaint ? <p>{t("case.noAccountability")}</p> : null}
      {c?.responsibility ? (
        <Dl rows={[
          [t("resp.level"), label("respLevel", c.responsibility.level)],
          [t("resp.cause"), label("respCause", c.responsibility.cause)],
          [t("resp.state"), label("decision", c.responsibility.state)],
          [t("resp.unit"), c.responsibility.orgUnit?.name],
          [t("resp.person"), who(c.responsibility.person)],
          [t("resp.outsideParty"), c.responsibility.outsideParty],
          [t("resp.reason"), c.responsibility.reason],
          [t("resp.proposed"), `${formatDateTime(c.responsibility.proposedAt)} · ${who(c.responsibility.proposedBy)}`],
          [t("resp.decided"), c.responsibility.decidedAt ? `${formatDateTime(c.responsibility.decidedAt)} · ${who(c.responsibility.decidedBy)}` : ""],
          [t("field.decisionNote"), c.responsibility.decisionNote],
        ]} />
      ) : null}
      {c?.repeatProposal ? (
        <Dl rows={[
          [t("resp.repeat"), `${label("decision", c.repeatProposal.state)} · ${c.repeatProposal.matchedOn}`],
          [t("resp.earlier"), c.repeatProposal.earlier?.number],
          [t("resp.countedAgainst"), c.repeatProposal.countedAgainst?.name],
        ]} />
      ) : null}
      {c?.majorComplaint ? (
        <Dl rows={[
          [t("acc.major"), `${label("majorState", c.majorComplaint.state)} · ${c.majorComplaint.reasons.join(", ")}`],
          [t("acc.flagged"), formatDateTime(c.majorComplaint.flaggedAt)],
          [t("resp.approved"), formatDateTime(c.majorComplaint.approvedAt)],
        ]} />
      ) : null}
    </Section>
  );
}

export function CaseDetail({ id }: { id: string }) {
  const { locale } = useI18n();
  const [res, refetch] = useQuery({ query: ComplaintDetailDocument, variables: { id, historyFirst: 50 }, requestPolicy: "network-only" });
  const [open, setOpen] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const c = res.data?.complaint;
  if (res.error) return <main id="main"><RequestError error={res.error} /></main>;
  if (!c) return <main id="main"><p>{res.fetching ? t("common.loading") : t("case.notFound")}</p></main>;
  const current = c.availableActions.find((a) => a.mutation === open);
  return (
    <main id="main">
      <h1>{c.number} · {c.title}</h1>
      <p><span className={`status s-${c.status}`} data-testid="case-status">{label("status", c.status)}</span>
        {c.litigation ? <span className="tag">{t("case.litigation")}</span> : null}</p>

      <Section title={t("case.actions")}>
        {c.availableActions.length === 0 ? <p>{t("case.noActions")}</p> : (
          <div className="row wrap">
            {c.availableActions.map((a) => (
              <button key={a.mutation} type="button" data-action={a.mutation} aria-pressed={open === a.mutation}
                onClick={() => setOpen(open === a.mutation ? null : a.mutation)}>
                {locale === "zh-CN" ? a.labelZh : a.label}
              </button>
            ))}
          </div>
        )}
        {current ? <ActionPanel key={current.mutation} action={current} complaintId={c.id}
          onDone={() => { setOpen(null); setVersion(version + 1); refetch({ requestPolicy: "network-only" }); }} /> : null}
      </Section>

      <div className="grid">
        <Section title={t("case.facts")}>
          <Dl rows={[
            [t("case.channel"), label("channel", c.channel)],
            [t("case.owner"), c.owner.displayName ?? c.owner.email],
            [t("case.department"), c.responsibleDepartment?.name],
            [t("case.category"), c.category ? `${c.category.code} ${c.category.name}` : ""],
            [t("case.store"), c.store?.name],
            [t("case.createdAt"), formatDateTime(c.createdAt)],
            [t("case.closedAt"), formatDateTime(c.closedAt)],
            [t("case.description"), c.description],
          ]} />
        </Section>
        <Section title={t("case.complainant")}>
          <Dl rows={[
            [t("field.name"), c.complainant.name],
            [t("field.phone"), c.complainant.phone],
            [t("field.email"), c.complainant.email],
            [t("field.idNumber"), c.complainant.idNumber],
            [t("field.address"), c.complainant.address],
          ]} />
        </Section>
      </div>

      <Section title={t("case.deadlines")}>
        <table>
          <thead><tr>
            <th scope="col">{t("deadline.kind")}</th><th scope="col">{t("deadline.due")}</th>
            <th scope="col">{t("deadline.daysLeft")}</th><th scope="col">{t("deadline.state")}</th>
          </tr></thead>
          <tbody>
            {c.deadlines.map((d, i) => (
              <tr key={i}>
                <td>{label("deadlineKind", d.kind)}{d.stage ? ` (${d.stage})` : ""}</td>
                <td>{formatDateTime(d.dueAt)}</td>
                <td>{d.workingDaysLeft}</td>
                <td>{d.metAt ? t("deadline.met", { at: formatDateTime(d.metAt) })
                  : d.breachedAt ? <strong className="bad">{t("deadline.breached", { at: formatDateTime(d.breachedAt) })}</strong>
                  : d.paused ? t("deadline.paused", { at: formatDateTime(d.pausedSince) }) : t("deadline.running")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>

      {c.investigation ? (
        <Section title={t("case.investigation")}>
          <Dl rows={[
            [t("field.valid"), c.investigation.valid === null || c.investigation.valid === undefined ? "" : c.investigation.valid ? t("common.yes") : t("common.no")],
            [t("field.findings"), c.investigation.findings],
            [t("field.investigatorId"), c.investigation.investigator ? (c.investigation.investigator.displayName ?? c.investigation.investigator.email) : ""],
            [t("case.submittedAt"), formatDateTime(c.investigation.submittedAt)],
          ]} />
        </Section>
      ) : null}

      {c.transferSlip ? (
        <Section title={t("case.transferSlip")}>
          <Dl rows={[
            [t("field.departmentId"), c.transferSlip.department?.name],
            [t("field.instructions"), c.transferSlip.instructions],
            [t("case.sentAt"), formatDateTime(c.transferSlip.sentAt)],
          ]} />
        </Section>
      ) : null}

      {c.handlingForm ? (
        <Section title={t("case.handlingForm")}>
          <Dl rows={[
            [t("field.solution"), c.handlingForm.solution],
            [t("field.customerReply"), c.handlingForm.customerReply],
            [t("field.causeAnalysis"), c.handlingForm.causeAnalysis],
            [t("field.compensationAmount"), c.handlingForm.compensationAmount],
            [t("case.formStatus"), c.handlingForm.status],
            [t("field.decisionNote"), c.handlingForm.decisionNote],
          ]} />
        </Section>
      ) : null}

      <Accountability id={c.id} version={version} />

      <Section title={t("case.evidence")}>
        {c.evidence.length === 0 ? <p>{t("case.noEvidence")}</p> : (
          <ul>{c.evidence.map((e) => <li key={e.id}>{e.filename} ({e.contentType}, {e.size} B) · {formatDateTime(e.uploadedAt)}{e.note ? ` · ${e.note}` : ""}</li>)}</ul>
        )}
        {c.availableActions.some((a) => a.mutation === "attachEvidence") ? (
          <button type="button" onClick={() => setOpen("attachEvidence")}>{t("case.upload")}</button>
        ) : null}
      </Section>

      <Section title={t("case.timeline")}>
        <ol className="timeline">
          {c.history.edges.map(({ node: e }) => (
            <li key={e.seq}>
              <time dateTime={e.occurredAt}>{formatDateTime(e.occurredAt)}</time> · <strong>{e.action}</strong>
              {e.fromStatus || e.toStatus ? ` · ${label("status", e.fromStatus)} → ${label("status", e.toStatus)}` : ""}
              {" · "}{e.actor}{e.note ? ` · ${e.note}` : ""}
            </li>
          ))}
        </ol>
      </Section>
    </main>
  );
}
