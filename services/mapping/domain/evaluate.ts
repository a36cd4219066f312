// The evaluator: a stored (or previewed) user, its groups and a rule set in; the canonical
// user and where each field came from out. Pure and deterministic, so the remap can compare
// the form under the old rules with the form under the new ones.
import type { Json, UserRecord } from "../../core/domain/resources.ts";
import {
  FIELD_TYPES,
  targetName,
  type AttributeValue,
  type CanonicalFields,
  type CanonicalUser,
  type FieldSource,
  type GroupInfo,
  type RuleSet,
  type ValueType,
} from "./model.ts";
import { roleEvaluator } from "./roles.ts";
import { compileRule, type CompiledRule } from "./rules.ts";
import { applyTransform, coerce, CoercionProblem, isAbsent, typeOf, type Value } from "./transforms.ts";

export interface Evaluation {
  readonly fields: CanonicalFields;
  readonly sources: FieldSource[];
  readonly warnings: string[];
}

interface UserInput {
  readonly record: Pick<UserRecord, "active" | "deletedAt" | "resource">;
  readonly groups: readonly GroupInfo[];
}

/** A rule set compiled for repeated evaluation (a remap runs it over every user). */
export type Mapper = (input: UserInput) => Evaluation;

function readValue(rule: CompiledRule, resource: Json): Value {
  const found = rule.path.read(resource);
  if (found.length === 0) return undefined;
  if (rule.path.type === "stringList") return typeOf(found);
  if (rule.path.type === "any") return found.length === 1 ? typeOf(found[0]) : typeOf(found);
  return typeOf(found[0]);
}

function toAttribute(value: Value): AttributeValue | undefined {
  if (value === undefined) return undefined;
  switch (value.t) {
    case "string": return { type: "string", value: value.v };
    case "bool": return { type: "bool", value: value.v };
    case "number": return { type: "number", value: value.v };
    case "time": return { type: "time", value: value.v };
    case "stringList": return { type: "stringList", value: [...value.v] };
  }
}

/** Compiles a rule set (its paths and globs) once; the rules must have been validated. */
export function compileRuleSet(set: RuleSet): Mapper {
  const rules = set.rules.map(compileRule);
  const roles = roleEvaluator(set.roleRules);
  // Targets in first-appearance order, each with its rules in order.
  const byTarget = new Map<string, CompiledRule[]>();
  for (const rule of rules) {
    const key = targetName(rule.target);
    byTarget.set(key, [...(byTarget.get(key) ?? []), rule]);
  }

  return ({ record, groups }) => {
    const values = new Map<string, Value>();
    const sources: FieldSource[] = [];
    const warnings: string[] = [];
    for (const [key, targetRules] of byTarget) {
      const first = targetRules[0]!;
      const type: ValueType = first.target.kind === "field" ? FIELD_TYPES[first.target.field] : first.target.type;
      // Lists collect from every rule in order (each value once); scalars take the first rule
      // that yields a value.
      const collected: string[] = [];
      for (const rule of targetRules) {
        let value: Value;
        try {
          value = readValue(rule, record.resource);
          for (const t of rule.transforms) value = applyTransform(t, value);
          value = coerce(value, type);
        } catch (error) {
          if (!(error instanceof CoercionProblem)) throw error;
          warnings.push(`${key} from ${rule.sourcePath}: ${error.message}`);
          continue;
        }
        if (isAbsent(value)) continue;
        sources.push({ target: key, sourcePath: rule.sourcePath, fromPreset: rule.fromPreset });
        if (type !== "stringList") {
          values.set(key, value);
          break;
        }
        for (const s of (value as { v: readonly string[] }).v) if (!collected.includes(s)) collected.push(s);
      }
      if (type === "stringList" && collected.length > 0) values.set(key, { t: "stringList", v: collected });
    }

    const str = (field: string): string => {
      const v = values.get(field);
      return v?.t === "string" ? v.v : "";
    };
    const list = (field: string): string[] => {
      const v = values.get(field);
      return v?.t === "stringList" ? [...v.v] : [];
    };
    const activeValue = values.get("active");
    const active = activeValue?.t === "bool" ? activeValue.v : record.active;

    const derived = roles(groups);
    derived.matched.forEach((i) => {
      const r = set.roleRules[i]!;
      sources.push({ target: "roles", sourcePath: `role rule ${i + 1}: group ${r.match} ${r.match === "displayNamePattern" ? "matches" : "is"} ${JSON.stringify(r.value)}`, fromPreset: false });
    });
    const allRoles = [...derived.roles];
    for (const role of list("roles")) if (!allRoles.includes(role)) allRoles.push(role);

    const customAttributes: Record<string, AttributeValue> = {};
    for (const [key, value] of [...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!key.startsWith("custom.")) continue;
      const attribute = toAttribute(value);
      if (attribute) customAttributes[key.slice("custom.".length)] = attribute;
    }

    const fields: CanonicalFields = {
      externalId: str("externalId"),
      username: str("username"),
      emails: list("emails"),
      givenName: str("givenName"),
      familyName: str("familyName"),
      displayName: str("displayName"),
      state: record.deletedAt ? "deleted" : active ? "active" : "inactive",
      jobTitle: str("jobTitle"),
      department: str("department"),
      employeeNumber: str("employeeNumber"),
      managerId: str("managerId"),
      groupIds: groups.map((g) => g.id).sort(),
      roles: allRoles,
      customAttributes,
    };
    return { fields, sources, warnings };
  };
}

export function canonicalUser(user: UserRecord, fields: CanonicalFields): CanonicalUser {
  return { id: user.id, directoryId: user.directoryId, version: user.version, raw: user.resource, ...fields };
}

/** The canonical fields without roles (what a `user.updated` from a remap is about). */
export function attributesOf(fields: CanonicalFields): Omit<CanonicalFields, "roles"> {
  const { roles: _roles, ...rest } = fields;
  return rest;
}

/** Names of the canonical fields that differ (custom attributes as `custom.<name>`). */
export function changedFields(before: CanonicalFields, after: CanonicalFields): string[] {
  const out: string[] = [];
  for (const key of Object.keys(after) as Array<keyof CanonicalFields>) {
    if (key === "customAttributes") continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out.push(key);
  }
  const names = new Set([...Object.keys(before.customAttributes), ...Object.keys(after.customAttributes)]);
  for (const name of [...names].sort()) {
    if (JSON.stringify(before.customAttributes[name]) !== JSON.stringify(after.customAttributes[name])) out.push(`custom.${name}`);
  }
  return out;
}
