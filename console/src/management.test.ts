// The management screens' logic: statistics rows to names, bars and the monthly trend; job polling and files.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bars, CADENCES, defaultPeriod, DIMENSIONS, REPORT_KINDS, TABLE_FORMATS, finished, formatOf, keyText, linePoints, monthlyTrend, percent, rowText, toBase64 } from "./management";

const month = (value: string, received: number) => ({ keys: [{ groupBy: "MONTH", value, label: value, labelEn: value }], received });

describe("statistics", () => {
  it("names a key in the viewer's language, then its code, then its value; null is 'none'", () => {
    const key = { groupBy: "CATEGORY", value: "Q2F0OjE=", code: "P01", label: "质量", labelEn: "Quality" };
    expect(keyText(key, "zh-CN", "-")).toBe("质量");
    expect(keyText(key, "en", "-")).toBe("Quality");
    expect(keyText({ ...key, labelEn: null }, "en", "-")).toBe("质量");
    expect(keyText({ groupBy: "STORE", value: "U3RvcmU6Mg==", code: "S2" }, "en", "-")).toBe("S2");
    expect(keyText({ groupBy: "CHANNEL", value: "WEB" }, "en", "-")).toBe("WEB");
    expect(keyText({ groupBy: "OWNER", value: null }, "en", "(none)")).toBe("(none)");
    const names = (g: string, v: string) => (g === "CHANNEL" && v === "WEB" ? "Web form" : null);
    expect(keyText({ groupBy: "CHANNEL", value: "WEB" }, "en", "-", names)).toBe("Web form");
    expect(keyText({ groupBy: "CHANNEL", value: "FAX" }, "en", "-", names)).toBe("FAX");
    expect(rowText({ keys: [{ groupBy: "CHANNEL", value: "WEB" }, { groupBy: "QUARTER", value: "2026-Q1" }], received: 1 }, "en", "-"))
      .toBe("WEB · 2026-Q1");
  });

  it("scales bars to the largest value", () => {
    const b = bars([{ text: "a", value: 5 }, { text: "b", value: 10 }, { text: "c", value: 0 }], 200);
    expect(b.map((x) => x.width)).toEqual([100, 200, 0]);
    expect(bars([{ text: "a", value: 0 }], 200)[0].width).toBe(0);
    expect(bars([], 200)).toEqual([]);
  });

  it("fills the months of the period with no complaints, in order, across a year's end", () => {
    const trend = monthlyTrend([month("2027-01", 4), month("2026-11", 2)], "2026-11-15", "2027-02-03");
    expect(trend).toEqual([
      { month: "2026-11", value: 2 }, { month: "2026-12", value: 0 }, { month: "2027-01", value: 4 }, { month: "2027-02", value: 0 },
    ]);
  });

  it("adds the rows of one month when grouped by more than the month", () => {
    const rows = [
      { keys: [{ groupBy: "MONTH", value: "2026-03" }, { groupBy: "CHANNEL", value: "WEB" }], received: 3 },
      { keys: [{ groupBy: "MONTH", value: "2026-03" }, { groupBy: "CHANNEL", value: "PHONE" }], received: 4 },
    ];
    expect(monthlyTrend(rows, "2026-03-01", "2026-03-31")).toEqual([{ month: "2026-03", value: 7 }]);
  });

  it("draws the line from the bottom (zero) to the top (the maximum)", () => {
    expect(linePoints([0, 5, 10], 100, 50)).toEqual([[0, 50], [50, 25], [100, 0]]);
    expect(linePoints([0, 0], 100, 50)).toEqual([[0, 50], [100, 50]]);
    expect(linePoints([3], 100, 50)).toEqual([[0, 0]]);
  });

  it("starts the period on the first of January of today's year", () => {
    expect(defaultPeriod(new Date(2026, 11, 7))).toEqual({ from: "2026-01-01", to: "2026-12-07" });
    expect(defaultPeriod(new Date(2027, 0, 1))).toEqual({ from: "2027-01-01", to: "2027-01-01" });
    // in the tenant's zone: 17:30 UTC is already the next day in Shanghai (and a new year on 31 December)
    expect(defaultPeriod(new Date("2026-12-07T17:30:00Z"), "Asia/Shanghai")).toEqual({ from: "2026-01-01", to: "2026-12-08" });
    expect(defaultPeriod(new Date("2026-12-31T16:30:00Z"), "Asia/Shanghai")).toEqual({ from: "2027-01-01", to: "2027-01-01" });
    expect(defaultPeriod(new Date("2026-12-07T15:30:00Z"), "Asia/Shanghai")).toEqual({ from: "2026-01-01", to: "2026-12-07" });
  });
});

describe("jobs", () => {
  it("stop polling when completed or failed", () => {
    expect(["PENDING", "RUNNING", "COMPLETED", "FAILED", undefined].map(finished)).toEqual([false, false, true, true, false]);
  });

  it("show the progress within 0..100", () => {
    expect([percent(42), percent(150), percent(-3), percent(null), percent(33.6)]).toEqual([42, 100, 0, 0, 34]);
  });

  it("send a file as base64 in the format its name says", () => {
    expect(toBase64(new TextEncoder().encode("code,name\nS1,店\n"))).toBe(Buffer.from("code,name\nS1,店\n").toString("base64"));
    expect(toBase64(new Uint8Array(70000).fill(65))).toBe(Buffer.from("A".repeat(70000)).toString("base64"));
    expect([formatOf("units.CSV"), formatOf("users.xlsx"), formatOf("users.txt")]).toEqual(["CSV", "XLSX", null]);
  });
});

describe("pickers", () => {
  const sdl = readFileSync(join(__dirname, "../../frontend-schema/schema.graphql"), "utf-8");
  const values = (name: string) => {
    const m = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(sdl);
    if (!m) throw new Error(`no enum ${name}`);
    return m[1].split("\n").map((l) => l.trim()).filter((l) => /^[A-Z_0-9]+$/.test(l)).sort();
  };
  it.each([["StatisticsGroupBy", DIMENSIONS], ["ReportKind", REPORT_KINDS], ["ReportCadence", CADENCES], ["TableFormat", TABLE_FORMATS]])(
    "offer every value of %s", (name, list) => {
      expect([...list].sort()).toEqual(values(name as string));
    });
});
