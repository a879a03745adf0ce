import { useEffect, useMemo, useState } from "react";
import { Provider, useMutation, useQuery, useSubscription } from "urql";
import { getSession, setSession, useSession } from "./auth";
import { staffClient } from "./client";
import { setLocale, setTimeZone, t, useI18n, type Locale } from "./i18n";
import { CalendarsDocument, LogoutDocument, MeDocument, NotificationReceivedDocument, NotificationsDocument } from "./ops";
import { match, navigate, useLocation } from "./router";
import { Admin } from "./screens/Admin";
import { CaseDetail } from "./screens/CaseDetail";
import { Inbox } from "./screens/Inbox";
import { Management } from "./screens/Management";
import { NewComplaint } from "./screens/NewComplaint";
import { Notifications } from "./screens/Notifications";
import { Public } from "./screens/Public";
import { OidcCallback, SignIn } from "./screens/SignIn";
import { CALLBACK_PATH } from "./oidc";

function LanguageSwitch() {
  const { locale } = useI18n();
  return (
    <label className="lang">
      <span className="sr-only">{t("app.language")}</span>
      <select aria-label={t("app.language")} value={locale} onChange={(e) => setLocale(e.target.value as Locale)}>
        <option value="zh-CN">中文</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}

function NavLink({ to, text, badge }: { to: string; text: string; badge?: number }) {
  const path = useLocation();
  return (
    <a href={to} aria-current={path.startsWith(to) ? "page" : undefined} onClick={(e) => { e.preventDefault(); navigate(to); }}>
      {text}{badge ? <span className="badge" aria-label={t("notifications.unread", { n: badge })}>{badge}</span> : null}
    </a>
  );
}

function StaffShell({ path }: { path: string }) {
  useI18n();
  const [me] = useQuery({ query: MeDocument });
  const [calendars] = useQuery({ query: CalendarsDocument });
  const [unread, refetchUnread] = useQuery({ query: NotificationsDocument, variables: { unreadOnly: true, first: 1 } });
  const [live] = useSubscription({ query: NotificationReceivedDocument });
  const [toast, setToast] = useState<string | null>(null);
  const [, logout] = useMutation(LogoutDocument);
  useEffect(() => setTimeZone(calendars.data?.calendars[0]?.timezone ?? null), [calendars.data]);
  useEffect(() => {
    const n = live.data?.notificationReceived;
    if (n) {
      setToast(n.title);
      refetchUnread({ requestPolicy: "network-only" });
    }
  }, [live.data, refetchUnread]);

  const roles = me.data?.me?.roles ?? [];
  const isAdmin = roles.includes("tenant_admin");
  let screen;
  let params;
  if ((params = match("/cases/:id", path))) screen = <CaseDetail key={params.id} id={params.id} />;
  else if (path.startsWith("/new")) screen = <NewComplaint />;
  else if (path.startsWith("/notifications")) screen = <Notifications />;
  else if ((params = match("/admin/:tab", path))) screen = <Admin tab={params.tab} />;
  else if (path.startsWith("/admin")) screen = <Admin tab="users" />;
  else if ((params = match("/management/:tab", path))) screen = <Management tab={params.tab} />;
  else if (path.startsWith("/management")) screen = <Management tab="statistics" />;
  else screen = <Inbox />;

  return (
    <>
      <header className="top">
        <a href="#main" className="skip">{t("app.skip")}</a>
        <strong className="brand">{t("app.name")}</strong>
        <nav aria-label={t("app.menu")}>
          <NavLink to="/inbox" text={t("nav.inbox")} />
          <NavLink to="/new" text={t("nav.new")} />
          <NavLink to="/notifications" text={t("nav.notifications")} badge={unread.data?.notifications.unreadCount} />
          {isAdmin ? <NavLink to="/admin" text={t("nav.admin")} /> : null}
          <NavLink to="/management" text={t("nav.management")} />
        </nav>
        <span className="who">{me.data?.me?.displayName ?? me.data?.me?.email ?? ""}</span>
        <LanguageSwitch />
        <button type="button" onClick={async () => {
          const refreshToken = getSession()?.refreshToken;
          if (refreshToken) await logout({ input: { refreshToken } }).catch(() => undefined);
          setSession(null);
          navigate("/");
        }}>{t("nav.signOut")}</button>
      </header>
      {toast ? (
        <div role="status" className="toast">
          {t("notifications.new")}: {toast} <button type="button" onClick={() => setToast(null)}>{t("common.close")}</button>
        </div>
      ) : null}
      {screen}
    </>
  );
}

export function App() {
  const path = useLocation();
  const session = useSession();
  const client = useMemo(() => staffClient(), [session?.tenant]); // eslint-disable-line react-hooks/exhaustive-deps
  useI18n();
  const pub = match("/p/:tenant", path) ?? match("/p/:tenant/:page", path);
  if (pub) {
    const page = pub.page === "submit" || pub.page === "track" ? pub.page : "procedure";
    return (
      <>
        <header className="top"><strong className="brand">{t("app.name")}</strong><LanguageSwitch /></header>
        <Public tenant={pub.tenant} page={page} />
      </>
    );
  }
  if (!session) {
    return (
      <Provider value={client}>
        <header className="top"><strong className="brand">{t("app.name")}</strong><LanguageSwitch /></header>
        {path.split("?")[0] === CALLBACK_PATH ? <OidcCallback /> : <SignIn />}
      </Provider>
    );
  }
  return (
    <Provider value={client}>
      <StaffShell path={path} />
    </Provider>
  );
}
