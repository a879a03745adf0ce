// The catalogs: the same keys in zh-CN and en, every key the code asks for present, every status, channel and
// deadline kind of the exported schema labelled.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import en from "./locales/en.json";
import zh from "./locales/zh-CN.json";
import { translate } from "./i18n";

const SRC = __dirname;
const SDL = readFileSync(join(SRC, "../../frontend-schema/schema.graphql"), "utf-8");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "gql" ? [] : sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".test.ts") ? [path] : [];
  });
}

function enumValues(name: string): string[] {
  const m = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(SDL);
  if (!m) throw new Error(`no enum ${name}`);
  return m[1].split("\n").map((l) => l.trim()).filter((l) => /^[A-Z_]+$/.test(l));
}

const code = sources(SRC).map((p) => readFileSync(p, "utf-8")).join("\n");

describe("catalogs", () => {
  it("have the same keys in both languages, none empty", () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const [key, text] of [...Object.entries(en), ...Object.entries(zh)]) expect(text.trim(), key).not.toBe("");
  });

  it("have every key the code names literally", () => {
    const keys = [...code.matchAll(/\bt\("([\w.]+)"/g)].map((m) => m[1]);
    expect(keys.length).toBeGreaterThan(100);
    const missing = keys.filter((k) => !(k in en) || !(k in zh));
    expect(missing).toEqual([]);
  });

  it("have the keys built from lists (admin tabs, management screens, form problems)", () => {
    const lists: [string, RegExp][] = [["admin", /ADMIN_TABS = \[([^\]]*)\]/], ["management", /MANAGEMENT_SCREENS = \[([^\]]*)\]/]];
    for (const [group, pattern] of lists) {
      const m = pattern.exec(code);
      expect(m, group).not.toBeNull();
      const names = [...m![1].matchAll(/"(\w+)"/g)].map((x) => x[1]);
      expect(names.length).toBeGreaterThan(3);
      for (const name of names) expect(Object.keys(en), `${group}.${name}`).toContain(`${group}.${name}`);
    }
    for (const reason of ["required", "number"]) expect(Object.keys(zh)).toContain(`form.${reason}`);
  });

  it.each([["status", "ComplaintStatus"], ["channel", "Channel"], ["deadlineKind", "DeadlineKind"], ["scope", "Scope"],
    ["cause", "ComplaintCause"], ["rating", "Satisfaction"]])("label every %s of the schema", (group, enumName) => {
    const values = enumValues(enumName);
    expect(values.length).toBeGreaterThan(1);
    const missing = values.filter((v) => !(`${group}.${v}` in en) || !(`${group}.${v}` in zh));
    expect(missing).toEqual([]);
  });

  it("fill placeholders", () => {
    expect(translate("en", "inbox.count", { n: 3 })).toBe("3 complaints");
    expect(translate("zh-CN", "inbox.count", { n: 3 })).toBe("共 3 件投诉");
  });
});

describe("dates", () => {
  it("show in the tenant's time zone", async () => {
    const { formatDateTime } = await import("./i18n");
    // 2026-12-07T16:30Z is 00:30 the next day in Shanghai (UTC+8), 11:30 the same day in New York (UTC-5)
    expect(formatDateTime("2026-12-07T16:30:00+00:00", "en", "Asia/Shanghai")).toBe("12/08/2026, 00:30");
    expect(formatDateTime("2026-12-07T16:30:00+00:00", "zh-CN", "Asia/Shanghai")).toBe("2026/12/08 00:30");
    expect(formatDateTime("2026-12-07T16:30:00+00:00", "en", "America/New_York")).toBe("12/07/2026, 11:30");
    expect(formatDateTime(null)).toBe("");
    // the public pages pass the tenant's zone: whatever zone this process (the viewer) is in, Shanghai time shows
    expect(formatDateTime("2026-12-07T23:59:00-05:00", "en", "Asia/Shanghai")).toBe("12/08/2026, 12:59");
  });
});
