// The UI's own strings (zh-CN and en, JSON catalogs) and dates in the tenant's time zone.
import { useSyncExternalStore } from "react";
import en from "./locales/en.json";
import zh from "./locales/zh-CN.json";

export type Locale = "zh-CN" | "en";
export const CATALOGS: Record<Locale, Record<string, string>> = { en, "zh-CN": zh };

const LOCALE_KEY = "complaintdesk.locale";
const listeners = new Set<() => void>();
let locale: Locale = initialLocale();
let timeZone: string | null = null;

function initialLocale(): Locale {
  const saved = typeof localStorage === "undefined" ? null : localStorage.getItem(LOCALE_KEY);
  if (saved === "en" || saved === "zh-CN") return saved;
  return typeof navigator !== "undefined" && navigator.language.toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

function emit(): void {
  listeners.forEach((l) => l());
}

export function setLocale(next: Locale): void {
  locale = next;
  localStorage.setItem(LOCALE_KEY, next);
  document.documentElement.lang = next;
  emit();
}

/** The tenant's time zone (from its calendar); dates show in it once known. */
export function setTimeZone(tz: string | null): void {
  if (tz !== timeZone) {
    timeZone = tz;
    emit();
  }
}

export function getLocale(): Locale {
  return locale;
}

/** A string of the catalog, with {name} placeholders filled. A missing key shows as itself (a test forbids it). */
export function translate(loc: Locale, key: string, vars?: Record<string, string | number>): string {
  const text = CATALOGS[loc][key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : text;
}

export function t(key: string, vars?: Record<string, string | number>): string {
  return translate(locale, key, vars);
}

/** An enum value's label (status.RECEIVED, channel.WEB, ...), or the value itself. */
export function label(group: string, value: string | null | undefined): string {
  if (!value) return "";
  const key = `${group}.${value}`;
  return CATALOGS[locale][key] ?? value;
}

let version = 0;
listeners.add(() => version++);

/** Re-render on a change of language or time zone. */
export function useI18n(): { locale: Locale; timeZone: string | null } {
  useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => version,
  );
  return { locale, timeZone };
}

/** A DateTime in the tenant's time zone: staff screens set it from the tenant's calendar, the public pages pass the
 * zone of tenantInfo. Without a zone (not known yet) the viewer's own. */
export function formatDateTime(iso: string | null | undefined, loc: Locale = locale, tz: string | null = timeZone): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(loc, {
    ...(tz ? { timeZone: tz } : {}), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  }).format(date);
}

export function formatDate(isoDate: string | null | undefined): string {
  return isoDate ? isoDate.slice(0, 10) : "";
}
