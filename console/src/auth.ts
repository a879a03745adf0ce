// The session: the access token in memory, the refresh token in sessionStorage (this tab only), the tenant.
import { useSyncExternalStore } from "react";

export type Session = { tenant: string; accessToken: string; refreshToken: string; expiresAt: string };

const KEY = "complaintdesk.session";
let current: Session | null = null;
const listeners = new Set<() => void>();

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

current = typeof sessionStorage === "undefined" ? null : load();

export function getSession(): Session | null {
  return current;
}

export function setSession(session: Session | null): void {
  current = session;
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

export function useSession(): Session | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}
