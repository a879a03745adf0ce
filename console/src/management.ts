// The management screens' logic, kept apart from React so it is unit-tested: statistics rows to table and chart
// data, the default period, the bars' geometry, and when a worker's job is finished.

import type { ReportCadence, ReportKind, StatisticsGroupBy, TableFormat } from "./gql/graphql";

/** The pickers' choices: the schema's enum values (a test holds them to the exported schema). */
export const DIMENSIONS: readonly StatisticsGroupBy[] = ["CATEGORY", "DEPARTMENT", "STORE", "OWNER", "QUALITY", "CHANNEL",
  "BUSINESS_TYPE", "CAUSE", "BUSINESS_CHANNEL", "AREA", "RESPONSIBILITY_LEVEL", "RESPONSIBILITY_CAUSE", "RESPONSIBLE_UNIT",
  "QUARTER", "MONTH"];
export const REPORT_KINDS: readonly ReportKind[] = ["MANAGEMENT", "SEMI_ANNUAL_SUMMARY", "ANNUAL_MECHANISM", "REGULATOR_RETURN"];
export const CADENCES: readonly ReportCadence[] = ["NONE", "MONTHLY", "QUARTERLY"];
export const TABLE_FORMATS: readonly TableFormat[] = ["CSV", "XLSX"];

export type StatKey = { groupBy: string; value?: string | null; code?: string | null; label?: string | null; labelEn?: string | null };
export type StatRow = { keys: readonly StatKey[]; received: number; [figure: string]: unknown };

/** The figures the table shows, in order (each a field of StatisticsRow). */
export const FIGURES = ["received", "verified", "finalAnswer", "referred", "litigation", "reComplaints", "escalated",
  "closedWithinDeadline", "breached"] as const;

/** The year up to `today` (ISO dates): its calendar day in the time zone `tz` (the tenant's, in which the figures
 * are counted: a complaint received today there is in the period whatever the browser's zone), or the browser's
 * without one. */
export function defaultPeriod(today: Date, tz?: string | null): { from: string; to: string } {
  const parts = new Intl.DateTimeFormat("en-CA", { ...(tz ? { timeZone: tz } : {}), year: "numeric", month: "2-digit",
    day: "2-digit" }).formatToParts(today);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return { from: `${part("year")}-01-01`, to: `${part("year")}-${part("month")}-${part("day")}` };
}

/** The catalog's name of an enum value (a channel, a cause), if it has one. */
export type EnumName = (groupBy: string, value: string) => string | null;

/** The name of a group's key to show: the label in the viewer's language, else the catalog's name of an enum value,
 * else the code, else the raw value; `none` when the complaints have no value for that dimension. */
export function keyText(key: StatKey, locale: string, none: string, enumName?: EnumName): string {
  if (key.value === null || key.value === undefined) return none;
  const named = locale === "zh-CN" ? key.label ?? key.labelEn : key.labelEn ?? key.label;
  return named || enumName?.(key.groupBy, key.value) || key.code || key.value;
}

/** One group's name: its keys' names joined. */
export function rowText(row: StatRow, locale: string, none: string, enumName?: EnumName): string {
  return row.keys.map((k) => keyText(k, locale, none, enumName)).join(" · ");
}

export type Bar = { text: string; value: number; x: number; width: number };

/** Horizontal bars of `value` per row, scaled to `width` (the largest fills it; zero stays zero). */
export function bars(items: readonly { text: string; value: number }[], width: number): Bar[] {
  const max = Math.max(0, ...items.map((i) => i.value));
  return items.map((i) => ({ text: i.text, value: i.value, x: 0, width: max > 0 ? Math.round((i.value / max) * width) : 0 }));
}

/** The received complaints per month of a MONTH grouping, in month order, the months with none filled with 0. */
export function monthlyTrend(rows: readonly StatRow[], from: string, to: string): { month: string; value: number }[] {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const key = row.keys.find((k) => k.groupBy === "MONTH");
    if (key?.value) counts.set(key.value, (counts.get(key.value) ?? 0) + row.received);
  }
  const out: { month: string; value: number }[] = [];
  let [y, m] = from.slice(0, 7).split("-").map(Number);
  const [ey, em] = to.slice(0, 7).split("-").map(Number);
  while (y < ey || (y === ey && m <= em)) {
    const month = `${y}-${String(m).padStart(2, "0")}`;
    out.push({ month, value: counts.get(month) ?? 0 });
    m += 1;
    if (m > 12) { m = 1; y += 1; }
  }
  return out;
}

/** The points of a line chart: x spread evenly over `width`, y from `height` (zero) up to 0 (the maximum). */
export function linePoints(values: readonly number[], width: number, height: number): [number, number][] {
  const max = Math.max(0, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((v, i) => [Math.round(i * step), max > 0 ? Math.round(height - (v / max) * height) : height]);
}

/** A worker's job (report, export, import) is done when it completed or failed; poll until then. */
export function finished(state: string | null | undefined): boolean {
  return state === "COMPLETED" || state === "FAILED";
}

/** A job's progress (0 to 100 in the API) as a whole percentage within bounds. */
export function percent(progress: number | null | undefined): number {
  if (progress === null || progress === undefined || Number.isNaN(progress)) return 0;
  return Math.max(0, Math.min(100, Math.round(progress)));
}

/** A file's bytes as base64 (what importOrgUnits / importUsers take). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The table format of a file name. */
export function formatOf(filename: string): "CSV" | "XLSX" | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith(".csv")) return "CSV";
  if (lower.endsWith(".xlsx")) return "XLSX";
  return null;
}
