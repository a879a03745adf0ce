import { useMemo, useState } from "react";
import { useQuery } from "urql";
import { RequestError } from "../components";
import { formatDateTime, label, t, useI18n } from "../i18n";
import { InboxDocument, MeDocument, type ComplaintFilter, type ComplaintStatus } from "../ops";
import { navigate } from "../router";

const STATUSES: ComplaintStatus[] = [
  "RECEIVED", "INVESTIGATING", "UNFOUNDED", "ASSIGNED", "SOLUTION_PROPOSED", "APPROVED", "AWAITING_CUSTOMER",
  "IMPLEMENTING", "FOLLOW_UP", "CLOSED", "REOPENED", "ESCALATED", "WITHDRAWN", "UNDER_REVIEW", "REFERRED",
];

export function Inbox() {
  useI18n();
  const [me] = useQuery({ query: MeDocument });
  const [mine, setMine] = useState(false);
  const [myDept, setMyDept] = useState(false);
  const [overdue, setOverdue] = useState(false);
  const [dueWithin, setDueWithin] = useState("");
  const [status, setStatus] = useState("");
  const [text, setText] = useState("");
  const [after, setAfter] = useState<string | null>(null);
  const user = me.data?.me;

  const filter = useMemo<ComplaintFilter>(() => {
    const f: ComplaintFilter = {};
    if (mine && user) f.ownerId = user.id;
    if (myDept && user?.orgUnit) f.departmentId = user.orgUnit.id;
    if (overdue) f.overdue = true;
    if (dueWithin !== "" && /^\d+$/.test(dueWithin)) f.dueWithinWorkingDays = Number(dueWithin);
    if (status) f.status = [status as ComplaintStatus];
    if (text.trim()) f.text = text.trim();
    return f;
  }, [mine, myDept, overdue, dueWithin, status, text, user]);

  const [list] = useQuery({ query: InboxDocument, variables: { filter, first: 25, after } });
  const conn = list.data?.complaints;

  return (
    <main id="main">
      <div className="row between">
        <h1>{t("inbox.title")}</h1>
        <button type="button" onClick={() => navigate("/new")}>{t("inbox.new")}</button>
      </div>
      <form className="filters card" aria-label={t("inbox.filters")} onSubmit={(e) => e.preventDefault()}>
        <label><input type="checkbox" checked={mine} onChange={(e) => { setMine(e.target.checked); setAfter(null); }} /> {t("inbox.mine")}</label>
        <label><input type="checkbox" checked={myDept} disabled={!user?.orgUnit}
          onChange={(e) => { setMyDept(e.target.checked); setAfter(null); }} /> {t("inbox.myDepartment")}</label>
        <label><input type="checkbox" checked={overdue} onChange={(e) => { setOverdue(e.target.checked); setAfter(null); }} /> {t("inbox.overdue")}</label>
        <label>{t("inbox.dueWithin")} <input type="number" min={0} max={60} className="short" value={dueWithin}
          onChange={(e) => { setDueWithin(e.target.value); setAfter(null); }} /></label>
        <label>{t("inbox.status")} <select value={status} onChange={(e) => { setStatus(e.target.value); setAfter(null); }}>
          <option value="">{t("common.all")}</option>
          {STATUSES.map((s) => <option key={s} value={s}>{label("status", s)}</option>)}
        </select></label>
        <label>{t("inbox.search")} <input type="search" value={text} onChange={(e) => { setText(e.target.value); setAfter(null); }} /></label>
      </form>
      <RequestError error={list.error} />
      <p aria-live="polite">{conn ? t("inbox.count", { n: conn.totalCount }) : t("common.loading")}</p>
      <table>
        <thead>
          <tr>
            <th scope="col">{t("case.number")}</th><th scope="col">{t("case.title")}</th><th scope="col">{t("case.status")}</th>
            <th scope="col">{t("case.owner")}</th><th scope="col">{t("case.department")}</th><th scope="col">{t("case.createdAt")}</th>
          </tr>
        </thead>
        <tbody>
          {conn?.edges.map(({ node }) => (
            <tr key={node.id}>
              <td><a href={`/cases/${encodeURIComponent(node.id)}`} onClick={(e) => { e.preventDefault(); navigate(`/cases/${encodeURIComponent(node.id)}`); }}>{node.number}</a></td>
              <td>{node.title}{node.litigation ? <span className="tag">{t("case.litigation")}</span> : null}</td>
              <td><span className={`status s-${node.status}`}>{label("status", node.status)}</span></td>
              <td>{node.owner.displayName ?? node.owner.email}</td>
              <td>{node.responsibleDepartment?.name ?? ""}</td>
              <td>{formatDateTime(node.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        {after ? <button type="button" onClick={() => setAfter(null)}>{t("common.first")}</button> : null}
        {conn?.pageInfo.hasNextPage ? <button type="button" onClick={() => setAfter(conn.pageInfo.endCursor ?? null)}>{t("common.next")}</button> : null}
      </div>
    </main>
  );
}
