// Typed transforms. Each is checked against the type flowing into it when rules are saved
// (`transformType`), and applied to values when users are mapped (`applyTransform`).
import type { Transform, ValueType } from "./model.ts";

/** A value while it flows through a rule; `undefined` is absent. */
export type Value =
  | { readonly t: "string"; readonly v: string }
  | { readonly t: "bool"; readonly v: boolean }
  | { readonly t: "number"; readonly v: number }
  | { readonly t: "time"; readonly v: string }
  | { readonly t: "stringList"; readonly v: readonly string[] }
  | undefined;

/** A static type: the value types plus `any` (a custom extension, typed when read). */
export type StaticType = ValueType | "any";

export function describeTransform(t: Transform): string {
  switch (t.kind) {
    case "trim": return "trim";
    case "lowerCase": return "lower_case";
    case "split": return `split(${JSON.stringify(t.separator)})`;
    case "join": return `join(${JSON.stringify(t.separator)})`;
    case "default": return `default_value(${JSON.stringify(t.value)})`;
    case "toBool": return "to_bool";
    case "toTime": return "to_time";
  }
}

export const TYPE_NAMES: Readonly<Record<StaticType, string>> = {
  string: "a string",
  bool: "a boolean",
  number: "a number",
  time: "a time",
  stringList: "a list of strings",
  any: "a value of unknown type",
};

const BOOL_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, "1": true, "0": false, yes: true, no: false };

function parseBool(text: string): boolean | undefined {
  return BOOL_WORDS[text.trim().toLowerCase()];
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** RFC 3339 (offset optional, UTC assumed) or a date (midnight UTC), as an ISO UTC string. */
export function parseTime(text: string): string | undefined {
  const s = text.trim();
  let ms: number;
  if (DATE_ONLY.test(s)) ms = Date.parse(`${s}T00:00:00Z`);
  else if (RFC3339.test(s)) ms = Date.parse(/([Zz]|[+-]\d{2}:?\d{2})$/.test(s) ? s.replace(" ", "T") : `${s.replace(" ", "T")}Z`);
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  // Date rolls 2024-02-30 over into March; refuse dates that do not exist.
  const [y = 0, m = 0, d = 0] = s.slice(0, 10).split("-").map(Number);
  const check = new Date(Date.UTC(y, m - 1, d));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) return undefined;
  return new Date(ms).toISOString();
}

/**
 * The type out of a transform given the type in, or an error message. `any` flows through
 * permissively: its mismatches are found per value, as warnings.
 */
export function transformType(t: Transform, input: StaticType): StaticType | string {
  const needs = (what: string) => `${describeTransform(t)} needs ${what}, but gets ${TYPE_NAMES[input]}`;
  switch (t.kind) {
    case "trim":
    case "lowerCase":
      return input === "string" || input === "stringList" || input === "any" ? input : needs("a string or a list of strings");
    case "split":
      if (t.separator === "") return "split needs a non-empty separator";
      return input === "string" || input === "any" ? "stringList" : needs("a string");
    case "join":
      return input === "stringList" || input === "any" ? "string" : needs("a list of strings");
    case "default":
      if (input === "bool" && parseBool(t.value) === undefined) return `default_value ${JSON.stringify(t.value)} is not a boolean (true/false/1/0/yes/no)`;
      if (input === "time" && parseTime(t.value) === undefined) return `default_value ${JSON.stringify(t.value)} is not an RFC 3339 time or a date`;
      if (input === "number" && !Number.isFinite(Number(t.value))) return `default_value ${JSON.stringify(t.value)} is not a number`;
      return input;
    case "toBool":
      return input === "string" || input === "any" ? "bool" : needs("a string");
    case "toTime":
      return input === "string" || input === "any" ? "time" : needs("a string");
  }
}

/** Whether a value of type `from` can fill a target of type `to` (implicitly). */
export function assignable(from: StaticType, to: ValueType): boolean {
  if (from === "any" || from === to) return true;
  if (to === "string") return from === "stringList" || from === "number" || from === "time";
  if (to === "stringList") return from === "string";
  return false;
}

/** A value read from JSON, typed by what it is. */
export function typeOf(raw: unknown): Value {
  if (typeof raw === "string") return raw === "" ? undefined : { t: "string", v: raw };
  if (typeof raw === "boolean") return { t: "bool", v: raw };
  if (typeof raw === "number" && Number.isFinite(raw)) return { t: "number", v: raw };
  if (Array.isArray(raw)) {
    const list = raw.filter((x) => typeof x === "string" || typeof x === "number" || typeof x === "boolean").map(String);
    return list.length === 0 ? undefined : { t: "stringList", v: list };
  }
  return undefined;
}

export function isAbsent(value: Value): boolean {
  return value === undefined || (value.t === "string" && value.v === "") || (value.t === "stringList" && value.v.length === 0);
}

export class CoercionProblem extends Error {
  override name = "CoercionProblem";
}

const mapStrings = (value: Value, f: (s: string) => string, what: string): Value => {
  if (value === undefined) return undefined;
  if (value.t === "string") return { t: "string", v: f(value.v) };
  if (value.t === "stringList") return { t: "stringList", v: value.v.map(f).filter((s) => s !== "") };
  throw new CoercionProblem(`${what} needs a string, got ${value.t}`);
};

/** Applies a transform to a value; throws CoercionProblem when the value cannot take it. */
export function applyTransform(t: Transform, value: Value): Value {
  switch (t.kind) {
    case "trim":
      return mapStrings(value, (s) => s.trim(), "trim");
    case "lowerCase":
      return mapStrings(value, (s) => s.toLowerCase(), "lower_case");
    case "split":
      if (value === undefined || value.t === "stringList") return value;
      if (value.t !== "string") throw new CoercionProblem(`split needs a string, got ${value.t}`);
      return { t: "stringList", v: value.v.split(t.separator).filter((s) => s !== "") };
    case "join":
      if (value === undefined || value.t === "string") return value;
      if (value.t !== "stringList") throw new CoercionProblem(`join needs a list, got ${value.t}`);
      return { t: "string", v: value.v.join(t.separator) };
    case "default":
      if (!isAbsent(value)) return value;
      return { t: "string", v: t.value };
    case "toBool": {
      if (value === undefined || value.t === "bool") return value;
      if (value.t !== "string") throw new CoercionProblem(`to_bool needs a string, got ${value.t}`);
      const b = parseBool(value.v);
      if (b === undefined) throw new CoercionProblem(`to_bool cannot read ${JSON.stringify(value.v.slice(0, 64))}`);
      return { t: "bool", v: b };
    }
    case "toTime": {
      if (value === undefined || value.t === "time") return value;
      if (value.t !== "string") throw new CoercionProblem(`to_time needs a string, got ${value.t}`);
      const iso = parseTime(value.v);
      if (iso === undefined) throw new CoercionProblem(`to_time cannot read ${JSON.stringify(value.v.slice(0, 64))}`);
      return { t: "time", v: iso };
    }
  }
}

/** Converts a final value to the target type (the implicit conversions of `assignable`). */
export function coerce(value: Value, to: ValueType): Value {
  if (isAbsent(value)) return undefined;
  const v = value!;
  if (v.t === to) return v;
  if (to === "string") {
    if (v.t === "stringList") return v.v[0] === undefined ? undefined : { t: "string", v: v.v[0] };
    if (v.t === "number") return { t: "string", v: String(v.v) };
    if (v.t === "time") return { t: "string", v: v.v };
  }
  if (to === "stringList" && v.t === "string") return { t: "stringList", v: [v.v] };
  // Defaults are written as text; read them as the target's type.
  if (v.t === "string") {
    if (to === "bool") {
      const b = parseBool(v.v);
      if (b !== undefined) return { t: "bool", v: b };
    } else if (to === "time") {
      const iso = parseTime(v.v);
      if (iso !== undefined) return { t: "time", v: iso };
    } else if (to === "number" && v.v.trim() !== "" && Number.isFinite(Number(v.v))) {
      return { t: "number", v: Number(v.v) };
    }
  }
  throw new CoercionProblem(`expected ${TYPE_NAMES[to]}, got ${TYPE_NAMES[v.t]}`);
}
