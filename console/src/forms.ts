// Forms drawn from the exported schema: an action's input type (AvailableAction.input) becomes its form, and the
// values typed in become the mutation's input. Pure functions, unit-tested.
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLInputType,
  type GraphQLSchema,
} from "graphql";

export type FieldKind =
  | "string" | "text" | "int" | "float" | "decimal" | "boolean" | "enum" | "date" | "datetime" | "id" | "object"
  | "list";

export type FieldSpec = {
  name: string;
  kind: FieldKind;
  required: boolean;
  hasDefault: boolean;
  description: string;
  enumValues: string[];
  /** nested input object fields (kind "object"), or the item of a list of objects */
  fields: FieldSpec[];
  /** a list's item kind */
  itemKind?: FieldKind;
};

const LONG_TEXT = new Set([
  "description", "findings", "solution", "customerReply", "causeAnalysis", "reason", "note", "instructions", "comment",
  "body", "message", "decisionNote", "resolution",
]);

export function loadSchema(sdl: string): GraphQLSchema {
  return buildSchema(sdl);
}

function kindOf(name: string, type: GraphQLInputType): FieldKind {
  const named = getNamedType(type);
  if (isEnumType(named)) return "enum";
  if (isInputObjectType(named)) return "object";
  switch (named.name) {
    case "Int": return "int";
    case "Float": return "float";
    case "Decimal": return "decimal";
    case "Boolean": return "boolean";
    case "Date": return "date";
    case "DateTime": return "datetime";
    case "ID": return "id";
    default: return LONG_TEXT.has(name) ? "text" : "string";
  }
}

/** The fields of an input type, in schema order. */
export function inputFields(schema: GraphQLSchema, typeName: string): FieldSpec[] {
  const type = schema.getType(typeName);
  if (!type || !isInputObjectType(type)) throw new Error(`unknown input type ${typeName}`);
  return Object.values(type.getFields()).map((f) => {
    const inner = isNonNullType(f.type) ? f.type.ofType : f.type;
    const named = getNamedType(f.type);
    const list = isListType(inner);
    const itemKind = kindOf(f.name, named);
    return {
      name: f.name,
      kind: list ? "list" : itemKind,
      itemKind: list ? itemKind : undefined,
      required: isNonNullType(f.type) && f.defaultValue === undefined,
      hasDefault: f.defaultValue !== undefined,
      description: f.description ?? "",
      enumValues: isEnumType(named) ? named.getValues().map((v) => v.name) : [],
      fields: isInputObjectType(named) ? inputFields(schema, named.name) : [],
    };
  });
}

export type FormValues = Record<string, unknown>;

export class FormError extends Error {
  constructor(public field: string[], public reason: "required" | "number") {
    super(`${field.join(".")}: ${reason}`);
  }
}

/** Nothing entered: no value, empty text, or an object whose fields are all blank. */
function blank(raw: unknown): boolean {
  if (raw === undefined || raw === null || raw === "") return true;
  if (typeof raw === "object" && !Array.isArray(raw)) return Object.values(raw as object).every(blank);
  return false;
}

function convert(spec: FieldSpec, raw: unknown, path: string[]): unknown {
  if (spec.kind === "object") {
    if (!spec.required && blank(raw)) return undefined; // an optional group left empty is not sent

    const nested = buildInput(spec.fields, (raw ?? {}) as FormValues, path);
    return nested;
  }
  if (spec.kind === "boolean") return Boolean(raw);
  if (raw === undefined || raw === null || raw === "") return undefined;
  if (spec.kind === "list") {
    const items = Array.isArray(raw) ? raw : String(raw).split(",").map((s) => s.trim()).filter(Boolean);
    return items.map((item) => convert({ ...spec, kind: spec.itemKind ?? "string" }, item, path));
  }
  const text = String(raw).trim();
  if (text === "") return undefined;
  switch (spec.kind) {
    case "int": {
      if (!/^-?\d+$/.test(text)) throw new FormError(path, "number");
      return Number.parseInt(text, 10);
    }
    case "float": {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new FormError(path, "number");
      return n;
    }
    case "decimal":
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw new FormError(path, "number");
      return text;
    case "datetime":
      return new Date(text).toISOString();
    default:
      return spec.kind === "text" || spec.kind === "string" ? String(raw) : text;
  }
}

/** The mutation's input from the form's values; `fixed` (e.g. complaintId) wins. Throws FormError. */
export function buildInput(fields: FieldSpec[], values: FormValues, path: string[] = [], fixed: FormValues = {}):
  Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of fields) {
    const here = [...path, spec.name];
    if (spec.name in fixed) {
      out[spec.name] = fixed[spec.name];
      continue;
    }
    const value = convert(spec, values[spec.name], here);
    if (value === undefined) {
      if (spec.required) throw new FormError(here, "required");
      continue;
    }
    out[spec.name] = value;
  }
  return out;
}

/** Where an ID field picks from. */
export function pickerFor(fieldName: string): "orgUnit" | "user" | "category" | "externalBody" | null {
  if (/^(departmentId|storeId|orgUnitId|parentId)$/.test(fieldName)) return "orgUnit";
  if (/^(investigatorId|newOwnerId|userId|reviewerId|ownerId|personId)$/.test(fieldName)) return "user";
  if (fieldName === "categoryId") return "category";
  if (/^(externalBodyId|bodyId)$/.test(fieldName)) return "externalBody";
  return null;
}
