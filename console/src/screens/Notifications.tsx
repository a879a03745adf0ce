import { useMutation, useQuery } from "urql";
import { RequestError } from "../components";
import { formatDateTime, t, useI18n } from "../i18n";
import { MarkNotificationReadDocument, NotificationsDocument } from "../ops";
import { navigate } from "../router";

export function Notifications() {
  useI18n();
  const [res, refetch] = useQuery({ query: NotificationsDocument, variables: { unreadOnly: false, first: 50 } });
  const [, markRead] = useMutation(MarkNotificationReadDocument);
  const conn = res.data?.notifications;
  return (
    <main id="main">
      <h1>{t("notifications.title")}</h1>
      <RequestError error={res.error} />
      <p>{conn ? t("notifications.unread", { n: conn.unreadCount }) : t("common.loading")}</p>
      <ul className="list">
        {conn?.edges.map(({ node: n }) => (
          <li key={n.id} className={n.readAt ? "read" : "unread"}>
            <strong>{n.title}</strong> · <time dateTime={n.createdAt}>{formatDateTime(n.createdAt)}</time>
            {n.body ? <p>{n.body}</p> : null}
            <div className="row">
              {n.complaint ? (
                <button type="button" onClick={() => navigate(`/cases/${encodeURIComponent(n.complaint!.id)}`)}>
                  {t("notifications.open", { number: n.complaint.number })}
                </button>
              ) : null}
              {!n.readAt ? (
                <button type="button" onClick={async () => { await markRead({ input: { notificationId: n.id } }); refetch({ requestPolicy: "network-only" }); }}>
                  {t("notifications.markRead")}
                </button>
              ) : null}
            </div>
          </li>
        ))}
      </ul>
    </main>
  );
}
