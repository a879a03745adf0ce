// Shared pieces: user errors, a schema-driven form for any input type, and small layout helpers.
import { useMemo, useState, type FormEvent, type ReactNode } from "react";
import { useMutation, useQuery } from "urql";
import type { DocumentNode } from "graphql";
import sdl from "../../frontend-schema/schema.graphql?raw";
import { buildInput, FormError, inputFields, loadSchema, pickerFor, type FieldSpec, type FormValues } from "./forms";
import { label, t, useI18n } from "./i18n";
import { ExternalBodiesDocument, InboxFilterOptionsDocument } from "./ops";

/** Fields typed in hidden (a provider's client secret, passwords). */
const SECRET_FIELDS = new Set(["clientSecret", "password"]);

let schemaCache: ReturnType<typeof loadSchema> | null = null;
export function schema() {
  schemaCache ??= loadSchema(sdl);
  return schemaCache;
}

export type UserError = { code: string; message: string; field?: string[] | null };

export function UserErrors({ errors }: { errors: readonly UserError[] | undefined | null }) {
  if (!errors?.length) return null;
  return (
    <div role="alert" className="errors">
      {errors.map((e, i) => (
        <p key={i}>
          <strong>{label("error", e.code) || e.code}</strong>
          {e.field?.length ? ` (${e.field.join(".")})` : ""}: {e.message}
        </p>
      ))}
    </div>
  );
}

export function RequestError({ error }: { error: { message: string } | undefined }) {
  if (!error) return null;
  return <div role="alert" className="errors"><p>{t("common.requestFailed")}: {error.message}</p></div>;
}

export function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

type Option = { value: string; text: string };

function usePickers(enabled: boolean) {
  const [options] = useQuery({ query: InboxFilterOptionsDocument, pause: !enabled });
  const [bodies] = useQuery({ query: ExternalBodiesDocument, variables: {}, pause: !enabled });
  return useMemo(() => {
    const d = options.data;
    const map: Record<string, Option[]> = {
      orgUnit: (d?.orgUnits ?? []).map((o) => ({ value: o.id, text: `${o.name} (${o.code})` })),
      user: (d?.users ?? []).filter((u) => u.active).map((u) => ({ value: u.id, text: `${u.displayName ?? u.email}` })),
      category: (d?.categories ?? []).filter((c) => c.active).map((c) => ({ value: c.id, text: `${c.code} ${c.name}` })),
      externalBody: (bodies.data?.externalBodies ?? []).map((b) => ({ value: b.id, text: b.name })),
    };
    return map;
  }, [options.data, bodies.data]);
}

function fieldLabel(name: string): string {
  const key = `field.${name}`;
  const text = t(key);
  return text === key ? name : text;
}

function Control({ spec, path, values, set, pickers, inOptional = false }: {
  spec: FieldSpec; path: string; values: FormValues; set: (name: string, v: unknown) => void;
  pickers: Record<string, Option[]>;
  /** inside an optional group: the browser may not demand the field (the group may be left empty; buildInput
   * names a missing field of a group that was begun) */
  inOptional?: boolean;
}) {
  const id = `f-${path}`;
  const value = values[spec.name];
  const text = fieldLabel(spec.name) + (spec.required ? " *" : "");
  if (spec.kind === "object") {
    return (
      <fieldset>
        <legend>{text}</legend>
        {spec.fields.map((f) => (
          <Control key={f.name} spec={f} path={`${path}-${f.name}`} values={(value ?? {}) as FormValues}
            set={(n, v) => set(spec.name, { ...((value ?? {}) as FormValues), [n]: v })} pickers={pickers}
            inOptional={inOptional || !spec.required} />
        ))}
      </fieldset>
    );
  }
  let input: ReactNode;
  const picker = spec.kind === "id" ? pickerFor(spec.name) : null;
  const common = { id, name: spec.name, required: spec.required && !inOptional, "aria-describedby": spec.description ? `${id}-d` : undefined };
  if (spec.kind === "boolean") {
    input = <input type="checkbox" {...common} required={false} checked={Boolean(value)} onChange={(e) => set(spec.name, e.target.checked)} />;
  } else if (spec.kind === "enum" || (picker && pickers[picker]?.length)) {
    const opts: Option[] = spec.kind === "enum"
      ? spec.enumValues.map((v) => ({ value: v, text: label(spec.name === "status" || spec.name === "pauseIn" ? "status" : spec.name, v) || v }))
      : pickers[picker!];
    input = (
      <select {...common} value={String(value ?? "")} onChange={(e) => set(spec.name, e.target.value)}>
        <option value="">{t("common.choose")}</option>
        {opts.map((o) => <option key={o.value} value={o.value}>{o.text}</option>)}
      </select>
    );
  } else if (spec.kind === "text") {
    input = <textarea {...common} rows={3} value={String(value ?? "")} onChange={(e) => set(spec.name, e.target.value)} />;
  } else {
    const type = SECRET_FIELDS.has(spec.name) ? "password"
      : { int: "number", float: "number", decimal: "text", date: "date", datetime: "datetime-local" }[spec.kind as string] ?? "text";
    input = <input type={type} {...common} autoComplete={SECRET_FIELDS.has(spec.name) ? "new-password" : undefined} value={String(value ?? "")} inputMode={spec.kind === "decimal" ? "decimal" : undefined}
      onChange={(e) => set(spec.name, e.target.value)} />;
  }
  return (
    <div className={spec.kind === "boolean" ? "field check" : "field"}>
      <label htmlFor={id}>{text}</label>
      {input}
      {spec.description ? <small id={`${id}-d`}>{spec.description}</small> : null}
    </div>
  );
}

/** A form for an input type of the schema; `fixed` fields are filled and hidden. */
export function InputForm({ inputType, fixed, submitLabel, onSubmit, busy, initial }: {
  inputType: string; fixed: FormValues; submitLabel: string; busy?: boolean; initial?: FormValues;
  onSubmit: (input: Record<string, unknown>) => void;
}) {
  useI18n();
  const fields = useMemo(() => inputFields(schema(), inputType), [inputType]);
  const visible = fields.filter((f) => !(f.name in fixed) && f.name !== "contentBase64");
  const needsPickers = fields.some((f) => f.kind === "id" && pickerFor(f.name));
  const pickers = usePickers(needsPickers);
  const [values, setValues] = useState<FormValues>(initial ?? {});
  const [problem, setProblem] = useState<string | null>(null);
  const upload = fields.some((f) => f.name === "contentBase64");

  async function readFile(file: File) {
    const buffer = new Uint8Array(await file.arrayBuffer());
    let binary = "";
    for (let i = 0; i < buffer.length; i += 0x8000) binary += String.fromCharCode(...buffer.subarray(i, i + 0x8000));
    setValues((v) => ({ ...v, filename: file.name, contentType: file.type || "application/octet-stream", contentBase64: btoa(binary) }));
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    try {
      setProblem(null);
      onSubmit(buildInput(fields, values, [], fixed));
    } catch (err) {
      if (err instanceof FormError) setProblem(t(`form.${err.reason}`, { field: fieldLabel(err.field[err.field.length - 1]) }));
      else throw err;
    }
  }

  return (
    <form onSubmit={submit} className="form">
      {upload ? (
        <div className="field">
          <label htmlFor="f-file">{t("evidence.file")}</label>
          <input id="f-file" type="file" onChange={(e) => e.target.files?.[0] && void readFile(e.target.files[0])} />
        </div>
      ) : null}
      {visible.map((f) => (
        <Control key={f.name} spec={f} path={f.name} values={values} pickers={pickers}
          set={(n, v) => setValues((old) => ({ ...old, [n]: v }))} />
      ))}
      {problem ? <p role="alert" className="errors">{problem}</p> : null}
      <button type="submit" disabled={busy}>{submitLabel}</button>
    </form>
  );
}

/** Run a mutation whose payload has userErrors; returns [run, state]. */
export function usePayloadMutation(doc: DocumentNode) {
  const [state, run] = useMutation(doc);
  const payload = state.data ? (Object.values(state.data)[0] as { userErrors?: UserError[] } | null) : null;
  return { run, fetching: state.fetching, error: state.error, userErrors: payload?.userErrors ?? [], data: state.data };
}
