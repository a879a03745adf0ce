import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { useQuery } from "urql";
import { RequestError, Section, UserErrors, usePayloadMutation } from "../components";
import { formatDate, formatDateTime, label, t, useI18n } from "../i18n";
import {
  bars, CADENCES, defaultPeriod, DIMENSIONS, FIGURES, REPORT_KINDS, TABLE_FORMATS, finished, formatOf, linePoints, monthlyTrend, percent, rowText, toBase64, type StatRow,
} from "../management";
import {
  AddImprovementActionDocument, CreateReviewPlanDocument, DataTransferDocument, DecidePenaltyDocument,
  ExportComplaintsDocument, ExportOrgUnitsDocument, ExportUsersDocument, GenerateReportDocument, ImportOrgUnitsDocument,
  ImportUsersDocument, MajorComplaintsDocument, OpinionBookEntriesDocument, PenaltiesDocument, PenaltyNoticesDocument,
  ProposePenaltyDocument, ReconcileOpinionBookEntryDocument, RecordOpinionBookEntryDocument, RecordReviewFindingDocument,
  ReportDocument, ReportsDocument, ReviewPlansDocument, SetReportCadenceDocument, StatisticsDocument,
  type DataTransferQuery, type ReportCadence, type ReportKind, type ReportQuery, type ReviewPlanFieldsFragment, type StatisticsGroupBy,
  type TableFormat,
} from "../ops";
import { navigate } from "../router";
import { MutationForm, Table } from "./Admin";

export const MANAGEMENT_SCREENS = ["statistics", "reports", "accountability", "reviews", "transfers"] as const;

// --- statistics --------------------------------------------------------------------------------------------------

function BarChart({ title, items }: { title: string; items: { text: string; value: number }[] }) {
  const width = 320;
  const rowHeight = 22;
  const shown = bars(items.slice(0, 15), width);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg role="img" aria-label={title} width={width + 260} height={shown.length * rowHeight + 4}
        viewBox={`0 0 ${width + 260} ${shown.length * rowHeight + 4}`}>
        <title>{title}</title>
        {shown.map((b, i) => (
          <g key={i} transform={`translate(0 ${i * rowHeight})`}>
            <text x={0} y={15} className="chart-label">{b.text.length > 28 ? `${b.text.slice(0, 27)}…` : b.text}</text>
            <rect x={200} y={3} width={Math.max(b.width, 1)} height={16} className="chart-bar" />
            <text x={206 + b.width} y={15} className="chart-value">{b.value}</text>
          </g>
        ))}
      </svg>
    </figure>
  );
}

function TrendChart({ title, points }: { title: string; points: { month: string; value: number }[] }) {
  const width = 520;
  const height = 140;
  const xy = linePoints(points.map((p) => p.value), width, height);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg role="img" aria-label={title} width={width + 60} height={height + 50} viewBox={`-30 -15 ${width + 60} ${height + 50}`}>
        <title>{title}</title>
        <line x1={0} y1={height} x2={width} y2={height} className="chart-axis" />
        <polyline points={xy.map(([x, y]) => `${x},${y}`).join(" ")} className="chart-line" />
        {xy.map(([x, y], i) => (
          <g key={points[i].month}>
            <circle cx={x} cy={y} r={3} className="chart-dot" />
            <text x={x} y={y - 6} textAnchor="middle" className="chart-value">{points[i].value}</text>
            {i % Math.max(1, Math.ceil(points.length / 8)) === 0 ? <text x={x} y={height + 16} textAnchor="middle" className="chart-label">{points[i].month}</text> : null}
          </g>
        ))}
      </svg>
    </figure>
  );
}

/** Enum values of a grouping by their catalog names (the intake channel, quality or not). */
function enumName(groupBy: string, value: string): string | null {
  const group = ({ CHANNEL: "channel", QUALITY: "cause" } as Record<string, string>)[groupBy];
  const text = group ? label(group, value) : "";
  return text && text !== value ? text : null;
}

function Statistics() {
  const { locale, timeZone } = useI18n();
  const initial = useMemo(() => defaultPeriod(new Date(), timeZone), [timeZone]);
  const [from, setFrom] = useState(initial.from);
  const [to, setTo] = useState(initial.to);
  const [groupBy, setGroupBy] = useState<StatisticsGroupBy>("CATEGORY");
  const [asked, setAsked] = useState({ from: initial.from, to: initial.to, groupBy: "CATEGORY" as StatisticsGroupBy });
  useEffect(() => {  // the tenant's zone known (after the first render): its today, not the browser's
    setFrom(initial.from);
    setTo(initial.to);
    setAsked((a) => ({ ...a, from: initial.from, to: initial.to }));
  }, [initial]);
  const period = { from: asked.from, to: asked.to };
  const [total] = useQuery({ query: StatisticsDocument, variables: { period, groupBy: [] } });
  const [grouped] = useQuery({ query: StatisticsDocument, variables: { period, groupBy: [asked.groupBy] } });
  const [monthly] = useQuery({ query: StatisticsDocument, variables: { period, groupBy: ["MONTH"] } });
  const none = t("stats.none");
  const rows = (grouped.data?.statistics.rows ?? []) as StatRow[];
  const all = total.data?.statistics.rows[0];
  const figure = (r: Record<string, unknown>, f: string) => String(r[f] ?? "");
  const days = (v: number | null | undefined) => (v === null || v === undefined ? "" : v.toFixed(1));

  function submit(e: FormEvent) {
    e.preventDefault();
    setAsked({ from, to, groupBy });
  }

  return (
    <Section title={t("management.statistics")}>
      <form className="row wrap" onSubmit={submit} aria-label={t("stats.choose")}>
        <div className="field"><label htmlFor="stats-from">{t("stats.from")}</label>
          <input id="stats-from" type="date" required value={from} onChange={(e) => setFrom(e.target.value)} /></div>
        <div className="field"><label htmlFor="stats-to">{t("stats.to")}</label>
          <input id="stats-to" type="date" required value={to} onChange={(e) => setTo(e.target.value)} /></div>
        <div className="field"><label htmlFor="stats-group">{t("stats.groupBy")}</label>
          <select id="stats-group" value={groupBy} onChange={(e) => setGroupBy(e.target.value as StatisticsGroupBy)}>
            {DIMENSIONS.map((g) => <option key={g} value={g}>{label("statsGroup", g)}</option>)}
          </select></div>
        <button type="submit">{t("stats.show")}</button>
      </form>
      <RequestError error={total.error ?? grouped.error ?? monthly.error} />
      {total.data ? (
        <p data-testid="stats-scope">{t("stats.scope", {
          from: formatDate(total.data.statistics.periodFrom), to: formatDate(total.data.statistics.periodTo),
          tz: total.data.statistics.timezone,
        })}</p>
      ) : <p>{t("common.loading")}</p>}
      {all ? (
        <dl className="facts figures" data-testid="stats-totals">
          {FIGURES.map((f) => <div key={f}><dt>{t(`stats.${f}`)}</dt><dd data-figure={f}>{figure(all, f)}</dd></div>)}
          <div><dt>{t("stats.medianDays")}</dt><dd>{days(all.medianHandlingDays)}</dd></div>
          <div><dt>{t("stats.p90Days")}</dt><dd>{days(all.p90HandlingDays)}</dd></div>
        </dl>
      ) : null}
      <div className="row wrap charts">
        {grouped.data ? (
          <BarChart title={t("stats.byDimension", { dimension: label("statsGroup", asked.groupBy) })}
            items={rows.map((r) => ({ text: rowText(r, locale, none, enumName), value: r.received }))} />
        ) : null}
        {monthly.data ? (
          <TrendChart title={t("stats.trend")} points={monthlyTrend(monthly.data.statistics.rows as StatRow[], asked.from, asked.to)} />
        ) : null}
      </div>
      {grouped.data ? (
        <div className="scroll">
          <Table head={[label("statsGroup", asked.groupBy), ...FIGURES.map((f) => t(`stats.${f}`)), t("stats.medianDays"), t("stats.p90Days")]}
            rows={(grouped.data.statistics.rows).map((r) => [
              rowText(r as StatRow, locale, none, enumName), ...FIGURES.map((f) => figure(r, f)), days(r.medianHandlingDays), days(r.p90HandlingDays),
            ])} />
        </div>
      ) : null}
    </Section>
  );
}

// --- reports -----------------------------------------------------------------------------------------------------

type Files = NonNullable<ReportQuery["report"]>["files"] | NonNullable<DataTransferQuery["dataTransfer"]>["files"];

function Downloads({ files }: { files: Files }) {
  if (!files.length) return null;
  return (
    <ul className="downloads">
      {files.map((f) => (
        <li key={f.url}>
          <a href={f.url} download={f.filename} data-format={f.format}>{t("reports.download", { name: f.filename })}</a>
          {" "}({f.format}, {f.size} B, {t("reports.until", { time: formatDateTime(f.expiresAt) })})
        </li>
      ))}
    </ul>
  );
}

function Progress({ state, progress, name }: { state: string; progress: number; name: string }) {
  return (
    <p className="progress" role="status">
      <span data-testid="job-state">{label("jobState", state)}</span>{" "}
      {!finished(state) ? <progress max={100} value={percent(progress)} aria-label={name}>{percent(progress)}%</progress> : null}
    </p>
  );
}

/** Re-run a query every second until its job is finished. */
function usePoll(state: string | undefined, again: () => void, data: unknown) {
  useEffect(() => {
    if (!state || finished(state)) return;
    const timer = setTimeout(again, 1000);
    return () => clearTimeout(timer);
  }, [state, again, data]);
}

function ReportView({ id, onFinished }: { id: string; onFinished: () => void }) {
  const [res, refetch] = useQuery({ query: ReportDocument, variables: { id }, requestPolicy: "network-only" });
  const r = res.data?.report;
  usePoll(r?.state, () => refetch({ requestPolicy: "network-only" }), res.data);
  const done = finished(r?.state);
  useEffect(() => { if (done) onFinished(); }, [done]); // eslint-disable-line react-hooks/exhaustive-deps
  if (res.error) return <RequestError error={res.error} />;
  if (!r) return <p>{t("common.loading")}</p>;
  return (
    <div className="card inner" data-testid="report">
      <h3>{label("reportKind", r.kind)} · {formatDate(r.periodFrom)} – {formatDate(r.periodTo)}</h3>
      <Progress state={r.state} progress={r.progress} name={t("reports.progress")} />
      {r.error ? <p role="alert" className="errors">{r.error}</p> : null}
      {r.createdBy ? <p>{t("reports.by")}: {r.createdBy.displayName ?? r.createdBy.email}</p> : null}
      <Downloads files={r.files} />
    </div>
  );
}

function Reports() {
  const { timeZone } = useI18n();
  const [list, refetch] = useQuery({ query: ReportsDocument, variables: { first: 20 } });
  const [selected, setSelected] = useState<string | null>(null);
  const initial = useMemo(() => defaultPeriod(new Date(), timeZone), [timeZone]);
  const [kind, setKind] = useState<ReportKind>("MANAGEMENT");
  const [from, setFrom] = useState(initial.from);
  const [to, setTo] = useState(initial.to);
  useEffect(() => {  // the tenant's zone known: its today
    setFrom(initial.from);
    setTo(initial.to);
  }, [initial]);
  const generate = usePayloadMutation(GenerateReportDocument);
  const cadence = usePayloadMutation(SetReportCadenceDocument);
  const [cadenceValue, setCadenceValue] = useState<ReportCadence | "">("");

  async function submit(e: FormEvent) {
    e.preventDefault();
    const res = await generate.run({ input: { kind, period: { from, to } } });
    const id = res.data?.generateReport.report?.id;
    if (id) {
      setSelected(id);
      refetch({ requestPolicy: "network-only" });
    }
  }

  return (
    <Section title={t("management.reports")}>
      <form className="row wrap" onSubmit={submit} aria-label={t("reports.generate")}>
        <div className="field"><label htmlFor="report-kind">{t("reports.kind")}</label>
          <select id="report-kind" value={kind} onChange={(e) => setKind(e.target.value as ReportKind)}>
            {REPORT_KINDS.map((k) => <option key={k} value={k}>{label("reportKind", k)}</option>)}
          </select></div>
        <div className="field"><label htmlFor="report-from">{t("stats.from")}</label>
          <input id="report-from" type="date" required value={from} onChange={(e) => setFrom(e.target.value)} /></div>
        <div className="field"><label htmlFor="report-to">{t("stats.to")}</label>
          <input id="report-to" type="date" required value={to} onChange={(e) => setTo(e.target.value)} /></div>
        <button type="submit" disabled={generate.fetching}>{t("reports.generate")}</button>
      </form>
      <UserErrors errors={generate.userErrors} />
      <RequestError error={generate.error} />
      {selected ? <ReportView key={selected} id={selected} onFinished={() => refetch({ requestPolicy: "network-only" })} /> : null}
      <RequestError error={list.error} />
      <Table head={[t("reports.kind"), t("reports.period"), t("reports.state"), t("reports.created"), ""]}
        rows={(list.data?.reports.edges ?? []).map(({ node: r }) => [
          label("reportKind", r.kind) + (r.scheduled ? ` (${t("reports.scheduled")})` : ""),
          `${formatDate(r.periodFrom)} – ${formatDate(r.periodTo)}`,
          `${label("jobState", r.state)}${finished(r.state) ? "" : ` ${percent(r.progress)}%`}`,
          formatDateTime(r.createdAt),
          <button type="button" onClick={() => setSelected(r.id)} aria-pressed={selected === r.id}>{t("reports.open")}</button>,
        ])} />
      <form className="row wrap" aria-label={t("reports.cadence")} onSubmit={async (e) => {
        e.preventDefault();
        if (cadenceValue) await cadence.run({ input: { cadence: cadenceValue } });
      }}>
        <div className="field"><label htmlFor="report-cadence">{t("reports.cadence")}</label>
          <select id="report-cadence" required value={cadenceValue} onChange={(e) => setCadenceValue(e.target.value as ReportCadence | "")}>
            <option value="">{t("common.choose")}</option>
            {CADENCES.map((c) => <option key={c} value={c}>{label("cadence", c)}</option>)}
          </select></div>
        <button type="submit" disabled={cadence.fetching}>{t("common.save")}</button>
        {cadence.data?.setReportCadence.cadence && !cadence.userErrors.length ? <span role="status">{t("common.saved")}</span> : null}
      </form>
      <UserErrors errors={cadence.userErrors} />
    </Section>
  );
}

// --- accountability ----------------------------------------------------------------------------------------------

function CaseLink({ c }: { c: { id: string; number: string } | null | undefined }) {
  if (!c) return null;
  return <a href={`/cases/${c.id}`} onClick={(e) => { e.preventDefault(); navigate(`/cases/${c.id}`); }}>{c.number}</a>;
}

function Penalties() {
  const [res, refetch] = useQuery({ query: PenaltiesDocument, variables: {} });
  const [notices, refetchNotices] = useQuery({ query: PenaltyNoticesDocument });
  const [deciding, setDeciding] = useState<string | null>(null);
  const again = () => { refetch({ requestPolicy: "network-only" }); refetchNotices({ requestPolicy: "network-only" }); };
  return (
    <>
      <h3>{t("acc.penalties")}</h3>
      <RequestError error={res.error} />
      <Table head={[t("acc.target"), t("acc.kind"), t("acc.amount"), t("acc.state"), t("acc.reason"), t("acc.case"), t("acc.proposed"), ""]}
        rows={(res.data?.penalties ?? []).map((p) => [
          p.orgUnit?.name ?? p.person?.displayName ?? p.personName ?? label("penaltyTarget", p.target),
          label("penaltyKind", p.kind) + (p.serious ? ` (${t("acc.serious")})` : ""), p.amount ?? "",
          label("penaltyState", p.state), p.reason, <CaseLink c={p.complaint} />, formatDateTime(p.proposedAt),
          p.state === "PROPOSED" ? <button type="button" aria-pressed={deciding === p.id} onClick={() => setDeciding(deciding === p.id ? null : p.id)}>{t("acc.decide")}</button> : "",
        ])} />
      {deciding ? <MutationForm key={deciding} doc={DecidePenaltyDocument} inputType="DecidePenaltyInput" title={t("acc.decide")}
        fixed={{ penaltyId: deciding }} onDone={() => { setDeciding(null); again(); }} /> : null}
      <MutationForm doc={ProposePenaltyDocument} inputType="ProposePenaltyInput" title={t("acc.propose")} onDone={again} />
      <h3>{t("acc.notices")}</h3>
      <RequestError error={notices.error} />
      <Table head={[t("acc.target"), t("acc.kind"), t("acc.amount"), t("acc.published")]}
        rows={(notices.data?.penaltyNotices ?? []).map((n) => [
          n.orgUnit?.name ?? n.personName ?? "", label("penaltyKind", n.kind), n.amount ?? "", formatDateTime(n.publishedAt),
        ])} />
    </>
  );
}

function OpinionBook() {
  const [spotCheck, setSpotCheck] = useState(false);
  const [res, refetch] = useQuery({ query: OpinionBookEntriesDocument, variables: { spotCheck } });
  const again = () => refetch({ requestPolicy: "network-only" });
  return (
    <>
      <h3>{t("acc.opinionBook")}</h3>
      <div className="field check"><label htmlFor="spot-check">{t("acc.spotCheck")}</label>
        <input id="spot-check" type="checkbox" checked={spotCheck} onChange={(e) => setSpotCheck(e.target.checked)} /></div>
      <RequestError error={res.error} />
      <Table head={[t("acc.store"), t("acc.date"), t("acc.text"), t("acc.customer"), t("acc.case"), t("acc.reconciled")]}
        rows={(res.data?.opinionBookEntries ?? []).map((o) => [
          o.store?.name ?? "", formatDate(o.entryDate), o.text, [o.customerName, o.customerPhone].filter(Boolean).join(" "),
          o.complaint ? <CaseLink c={o.complaint} /> : (o.hasComplaint ? t("common.yes") : t("common.no")),
          formatDateTime(o.reconciledAt),
        ])} />
      <MutationForm doc={RecordOpinionBookEntryDocument} inputType="RecordOpinionBookEntryInput" title={t("acc.recordEntry")} onDone={again} />
      <MutationForm doc={ReconcileOpinionBookEntryDocument} inputType="ReconcileOpinionBookEntryInput" title={t("acc.reconcile")} onDone={again} />
    </>
  );
}

function MajorComplaints() {
  const [res] = useQuery({ query: MajorComplaintsDocument, variables: {} });
  return (
    <>
      <h3>{t("acc.major")}</h3>
      <RequestError error={res.error} />
      <Table head={[t("acc.case"), t("field.title"), t("acc.reasons"), t("acc.state"), t("acc.flagged")]}
        rows={(res.data?.majorComplaints ?? []).map((c) => [
          <CaseLink c={c} />, c.title, (c.majorComplaint?.reasons ?? []).join(", "),
          label("majorState", c.majorComplaint?.state), formatDateTime(c.majorComplaint?.flaggedAt),
        ])} />
    </>
  );
}

function Accountability() {
  useI18n();
  return (
    <Section title={t("management.accountability")}>
      <p>{t("acc.onTheCase")}</p>
      <Penalties />
      <MajorComplaints />
      <OpinionBook />
    </Section>
  );
}

// --- review plans ------------------------------------------------------------------------------------------------

// One plan, as ReviewPlanFields selects it (reviewPlans and every review-plan mutation answer with that fragment).
function ReviewPlanCard({ p, onDone }: { p: ReviewPlanFieldsFragment; onDone: () => void }) {
  return (
    <article className="card inner" aria-label={p.name}>
      <h3>{p.name}</h3>
      <p>{formatDate(p.periodFrom)} – {formatDate(p.periodTo)} · {p.department?.name ?? ""} · {p.sampleRule}
        {p.samplePercent !== null && p.samplePercent !== undefined ? ` ${p.samplePercent}%` : ""}</p>
      <p>{t("reviews.coverage", { ...p.coverage })}</p>
      <h4>{t("reviews.findings")}</h4>
      <Table head={[t("acc.case"), t("reviews.outcome"), t("reviews.note"), t("reviews.reviewer"), t("reviews.recorded")]}
        rows={p.findings.map((f) => [
          <a href={`/cases/${f.complaintId}`} onClick={(e) => { e.preventDefault(); navigate(`/cases/${f.complaintId}`); }}>{t("reviews.openCase")}</a>,
          label("findingOutcome", f.outcome), f.note, f.reviewer?.displayName ?? "", formatDateTime(f.recordedAt),
        ])} />
      <h4>{t("reviews.actions")}</h4>
      <Table head={[t("reviews.description"), t("reviews.owner"), t("reviews.due"), t("reviews.completed")]}
        rows={p.improvementActions.map((a) => [a.description, a.owner?.displayName ?? "", formatDate(a.dueDate), formatDateTime(a.completedAt)])} />
      <MutationForm doc={RecordReviewFindingDocument} inputType="RecordReviewFindingInput" title={t("reviews.recordFinding")}
        fixed={{ planId: p.id }} onDone={onDone} />
      <MutationForm doc={AddImprovementActionDocument} inputType="AddImprovementActionInput" title={t("reviews.addAction")}
        fixed={{ planId: p.id }} onDone={onDone} />
    </article>
  );
}

function Reviews() {
  useI18n();
  const [res, refetch] = useQuery({ query: ReviewPlansDocument });
  const again = () => refetch({ requestPolicy: "network-only" });
  return (
    <Section title={t("management.reviews")}>
      <RequestError error={res.error} />
      {(res.data?.reviewPlans ?? []).length === 0 && res.data ? <p>{t("reviews.none")}</p> : null}
      {(res.data?.reviewPlans ?? []).map((p) => <ReviewPlanCard key={p.id} p={p} onDone={again} />)}
      <MutationForm doc={CreateReviewPlanDocument} inputType="CreateReviewPlanInput" title={t("reviews.create")} onDone={again} />
    </Section>
  );
}

// --- exports and imports -----------------------------------------------------------------------------------------

function TransferView({ id }: { id: string }) {
  const [res, refetch] = useQuery({ query: DataTransferDocument, variables: { id }, requestPolicy: "network-only" });
  const d = res.data?.dataTransfer;
  usePoll(d?.state, () => refetch({ requestPolicy: "network-only" }), res.data);
  if (res.error) return <RequestError error={res.error} />;
  if (!d) return <p>{t("common.loading")}</p>;
  return (
    <div className="card inner" data-testid="transfer">
      <h3>{label("transferKind", d.kind)} · {d.format}</h3>
      <Progress state={d.state} progress={d.progress} name={t("transfers.progress")} />
      <p>{t("transfers.rows", { done: d.rowsDone, total: d.rowsTotal })}</p>
      {d.error && !d.rowErrors.length ? <p role="alert" className="errors">{d.error}</p> : null}
      {d.rowErrors.length ? (
        <div role="alert">
          <p className="errors">{t("transfers.rowErrors", { n: d.rowErrors.length })}</p>
          <Table head={[t("transfers.row"), t("transfers.field"), t("transfers.code"), t("transfers.message")]}
            rows={d.rowErrors.map((e) => [String(e.row), e.field ?? "", label("error", e.code) || e.code, e.message])} />
        </div>
      ) : null}
      <Downloads files={d.files} />
    </div>
  );
}

const EXPORTS = { complaints: ExportComplaintsDocument, orgUnits: ExportOrgUnitsDocument, users: ExportUsersDocument } as const;
const IMPORTS = { orgUnits: ImportOrgUnitsDocument, users: ImportUsersDocument } as const;

function Transfers() {
  useI18n();
  const [current, setCurrent] = useState<string | null>(null);
  const [what, setWhat] = useState<keyof typeof EXPORTS>("complaints");
  const [format, setFormat] = useState<TableFormat>("CSV");
  const exportComplaints = usePayloadMutation(ExportComplaintsDocument);
  const exportOrgUnits = usePayloadMutation(ExportOrgUnitsDocument);
  const exportUsers = usePayloadMutation(ExportUsersDocument);
  const exporters = { complaints: exportComplaints, orgUnits: exportOrgUnits, users: exportUsers };
  const [into, setInto] = useState<keyof typeof IMPORTS>("orgUnits");
  const [file, setFile] = useState<File | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const importOrgUnits = usePayloadMutation(ImportOrgUnitsDocument);
  const importUsers = usePayloadMutation(ImportUsersDocument);
  const importers = { orgUnits: importOrgUnits, users: importUsers };

  function started(data: unknown) {
    const payload = data ? (Object.values(data as Record<string, unknown>)[0] as { dataTransfer?: { id: string } | null }) : null;
    if (payload?.dataTransfer?.id) setCurrent(payload.dataTransfer.id);
  }

  async function runExport(e: FormEvent) {
    e.preventDefault();
    const res = await exporters[what].run({ input: { format } });
    started(res.data);
  }

  async function runImport(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    if (!file) return;
    const fmt = formatOf(file.name);
    if (!fmt) { setProblem(t("transfers.badFormat")); return; }
    const contentBase64 = toBase64(new Uint8Array(await file.arrayBuffer()));
    const res = await importers[into].run({ input: { format: fmt, contentBase64, filename: file.name } });
    started(res.data);
  }

  const names: Record<string, string> = { complaints: t("transfers.complaints"), orgUnits: t("admin.orgUnits"), users: t("admin.users") };
  const ex = exporters[what];
  const im = importers[into];
  return (
    <Section title={t("management.transfers")}>
      <form className="row wrap" onSubmit={runExport} aria-label={t("transfers.export")}>
        <div className="field"><label htmlFor="export-what">{t("transfers.export")}</label>
          <select id="export-what" value={what} onChange={(e) => setWhat(e.target.value as keyof typeof EXPORTS)}>
            {Object.keys(EXPORTS).map((k) => <option key={k} value={k}>{names[k]}</option>)}
          </select></div>
        <div className="field"><label htmlFor="export-format">{t("transfers.format")}</label>
          <select id="export-format" value={format} onChange={(e) => setFormat(e.target.value as TableFormat)}>
            {TABLE_FORMATS.map((f) => <option key={f} value={f}>{f}</option>)}
          </select></div>
        <button type="submit" disabled={ex.fetching}>{t("transfers.start")}</button>
      </form>
      <UserErrors errors={ex.userErrors} />
      <RequestError error={ex.error} />
      <form className="row wrap" onSubmit={runImport} aria-label={t("transfers.import")}>
        <div className="field"><label htmlFor="import-into">{t("transfers.import")}</label>
          <select id="import-into" value={into} onChange={(e) => setInto(e.target.value as keyof typeof IMPORTS)}>
            {Object.keys(IMPORTS).map((k) => <option key={k} value={k}>{names[k]}</option>)}
          </select></div>
        <div className="field"><label htmlFor="import-file">{t("transfers.file")}</label>
          <input id="import-file" type="file" required accept=".csv,.xlsx" onChange={(e) => setFile(e.target.files?.[0] ?? null)} /></div>
        <button type="submit" disabled={im.fetching}>{t("transfers.start")}</button>
      </form>
      {problem ? <p role="alert" className="errors">{problem}</p> : null}
      <UserErrors errors={im.userErrors} />
      <RequestError error={im.error} />
      {current ? <TransferView key={current} id={current} /> : null}
    </Section>
  );
}

export function Management({ tab }: { tab: string }) {
  useI18n();
  const current = (MANAGEMENT_SCREENS as readonly string[]).includes(tab) ? tab : "statistics";
  const screens: Record<string, ReactNode> = {
    statistics: <Statistics />, reports: <Reports />, accountability: <Accountability />, reviews: <Reviews />,
    transfers: <Transfers />,
  };
  return (
    <main id="main">
      <h1>{t("management.title")}</h1>
      <nav aria-label={t("management.title")} className="tabs">
        {MANAGEMENT_SCREENS.map((name) => (
          <a key={name} href={`/management/${name}`} aria-current={name === current ? "page" : undefined}
            onClick={(e) => { e.preventDefault(); navigate(`/management/${name}`); }}>{t(`management.${name}`)}</a>
        ))}
      </nav>
      {screens[current]}
    </main>
  );
}
