// Forms drawn from the schema: the fields of an input type and the input built from typed values.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildInput, FormError, inputFields, loadSchema, pickerFor } from "./forms";
import { MUTATIONS } from "./ops";

const OPS = join(__dirname, "../../frontend-schema/operations");
const schema = loadSchema(readFileSync(join(__dirname, "../../frontend-schema/schema.graphql"), "utf-8"));

describe("inputFields", () => {
  it("reads ProposeSolutionInput in schema order with kinds and requiredness", () => {
    const fields = inputFields(schema, "ProposeSolutionInput");
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["complaintId", "id", true], ["solution", "text", true], ["customerReply", "text", true],
      ["causeAnalysis", "text", false], ["compensationAmount", "decimal", false],
    ]);
  });

  it("nests input objects and lists enum values; a defaulted non-null field is not required", () => {
    const fields = inputFields(schema, "RecordComplaintInput");
    const complainant = fields.find((f) => f.name === "complainant")!;
    expect(complainant.kind).toBe("object");
    expect(complainant.fields.map((f) => f.name)).toEqual(["name", "phone", "email", "idNumber", "address"]);
    const scope = fields.find((f) => f.name === "scope")!;
    expect([scope.kind, scope.required, scope.enumValues]).toEqual(["enum", false, ["DOMESTIC", "FOREIGN"]]);
  });

  it("refuses an unknown type", () => {
    expect(() => inputFields(schema, "NoSuchInput")).toThrow("unknown input type NoSuchInput");
  });
});

describe("buildInput", () => {
  const fields = inputFields(schema, "SubmitInvestigationInput");

  it("converts typed text and drops empty optional fields; fixed values win", () => {
    const input = buildInput(fields, { complaintId: "x", valid: true, findings: "broken seal", quantity: "12", amount: "19.90", orderNumber: "" },
      [], { complaintId: "Q29tcGxhaW50OjE=" });
    expect(input).toEqual({ complaintId: "Q29tcGxhaW50OjE=", valid: true, findings: "broken seal", quantity: 12, amount: "19.90" });
  });

  it("names the missing required field", () => {
    try {
      buildInput(fields, { valid: false }, [], { complaintId: "c" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FormError);
      expect([(e as FormError).field, (e as FormError).reason]).toEqual([["findings"], "required"]);
    }
  });

  it("refuses a number that is not one", () => {
    expect(() => buildInput(fields, { findings: "f", quantity: "1.5" }, [], { complaintId: "c" })).toThrow(FormError);
    expect(() => buildInput(fields, { findings: "f", amount: "1e3" }, [], { complaintId: "c" })).toThrow(FormError);
  });

  it("builds nested objects and a boolean left unticked as false", () => {
    const input = buildInput(inputFields(schema, "SubmitComplaintInput"),
      { complainant: { name: "王芳", phone: "13800000000" }, title: "t", description: "d" });
    expect(input).toEqual({ complainant: { name: "王芳", phone: "13800000000" }, title: "t", description: "d" });
    // an optional group left empty is not sent; a required one still names its missing field
    expect(buildInput(inputFields(schema, "SubmitComplaintInput"),
      { complainant: { name: "王芳" }, title: "t", description: "d", preferredContact: { address: "" } })).not.toHaveProperty("preferredContact");
    expect(() => buildInput(inputFields(schema, "SubmitComplaintInput"), { title: "t", description: "d" }))
      .toThrow("complainant.name: required");
  });
});

describe("step documents", () => {
  it("every mutation of the steps folder is reachable by its root field", () => {
    const files = readdirSync(join(OPS, "steps"));
    const roots = files.map((f) => /mutation \w+\([^)]*\) \{\s*(\w+)/.exec(readFileSync(join(OPS, "steps", f), "utf-8"))![1]);
    expect(roots.length).toBe(files.length);
    for (const root of roots) expect(Object.keys(MUTATIONS), root).toContain(root);
  });

  it("picks IDs from the right lists", () => {
    expect([pickerFor("departmentId"), pickerFor("newOwnerId"), pickerFor("categoryId"), pickerFor("externalBodyId"), pickerFor("complaintId")])
      .toEqual(["orgUnit", "user", "category", "externalBody", null]);
  });
});
