// Mapping domain objects to and from the generated protobuf messages.
import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { UserState as PbUserState } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import {
  AttributeType as PbAttributeType,
  CanonicalField as PbCanonicalField,
  CanonicalUserSchema,
  FieldSourceSchema,
  GroupMatch as PbGroupMatch,
  MappingRuleSchema,
  MappingSchema,
  PresetSchema,
  RemapJobSchema,
  RemapJobState as PbRemapJobState,
  RoleRuleSchema,
  TransformSchema,
  type AttributeValue as PbAttributeValue,
  type CanonicalUser as PbCanonicalUser,
  type FieldSource as PbFieldSource,
  type Mapping as PbMapping,
  type MappingRule as PbMappingRule,
  type Preset as PbPreset,
  type RemapJob as PbRemapJob,
  type RoleRule as PbRoleRule,
  type Transform as PbTransform,
} from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { InvalidInputError } from "../../core/domain/errors.ts";
import type { ProviderKind } from "../../core/domain/directory.ts";
import { optionalTime, providerToPb } from "../../shared/convert.ts";
import type { MappingView } from "../application/mapping.ts";
import type { RemapJob } from "../application/ports.ts";
import type { CanonicalField, CanonicalUser, FieldSource, GroupMatch, MappingRule, RoleRule, Transform, ValueType } from "../domain/model.ts";

const FIELDS: ReadonlyArray<[CanonicalField, PbCanonicalField]> = [
  ["externalId", PbCanonicalField.EXTERNAL_ID],
  ["username", PbCanonicalField.USERNAME],
  ["emails", PbCanonicalField.EMAILS],
  ["givenName", PbCanonicalField.GIVEN_NAME],
  ["familyName", PbCanonicalField.FAMILY_NAME],
  ["displayName", PbCanonicalField.DISPLAY_NAME],
  ["jobTitle", PbCanonicalField.JOB_TITLE],
  ["department", PbCanonicalField.DEPARTMENT],
  ["employeeNumber", PbCanonicalField.EMPLOYEE_NUMBER],
  ["managerId", PbCanonicalField.MANAGER_ID],
  ["active", PbCanonicalField.ACTIVE],
  ["roles", PbCanonicalField.ROLES],
];

const TYPES: ReadonlyArray<[ValueType, PbAttributeType]> = [
  ["string", PbAttributeType.STRING],
  ["bool", PbAttributeType.BOOL],
  ["number", PbAttributeType.NUMBER],
  ["time", PbAttributeType.TIME],
  ["stringList", PbAttributeType.STRING_LIST],
];

const MATCHES: ReadonlyArray<[GroupMatch, PbGroupMatch]> = [
  ["id", PbGroupMatch.ID],
  ["externalId", PbGroupMatch.EXTERNAL_ID],
  ["displayNamePattern", PbGroupMatch.DISPLAY_NAME_PATTERN],
];

function transformFromPb(t: PbTransform, where: string): Transform {
  const on = (flag: boolean, kind: "trim" | "lowerCase" | "toBool" | "toTime", name: string): Transform => {
    if (!flag) throw new InvalidInputError("invalidValue", `${where}: ${name} must be true when set`);
    return { kind };
  };
  switch (t.kind.case) {
    case "trim": return on(t.kind.value, "trim", "trim");
    case "lowerCase": return on(t.kind.value, "lowerCase", "lower_case");
    case "toBool": return on(t.kind.value, "toBool", "to_bool");
    case "toTime": return on(t.kind.value, "toTime", "to_time");
    case "split": return { kind: "split", separator: t.kind.value };
    case "join": return { kind: "join", separator: t.kind.value };
    case "defaultValue": return { kind: "default", value: t.kind.value };
    default: throw new InvalidInputError("invalidValue", `${where}: names no transform (trim, lower_case, split, join, default_value, to_bool or to_time)`);
  }
}

function transformToPb(t: Transform): PbTransform {
  switch (t.kind) {
    case "trim": return create(TransformSchema, { kind: { case: "trim", value: true } });
    case "lowerCase": return create(TransformSchema, { kind: { case: "lowerCase", value: true } });
    case "toBool": return create(TransformSchema, { kind: { case: "toBool", value: true } });
    case "toTime": return create(TransformSchema, { kind: { case: "toTime", value: true } });
    case "split": return create(TransformSchema, { kind: { case: "split", value: t.separator } });
    case "join": return create(TransformSchema, { kind: { case: "join", value: t.separator } });
    case "default": return create(TransformSchema, { kind: { case: "defaultValue", value: t.value } });
  }
}

export function rulesFromPb(rules: readonly PbMappingRule[], what = "override"): MappingRule[] {
  return rules.map((r, i) => {
    const where = `${what} ${i + 1}`;
    let target: MappingRule["target"];
    if (r.target.case === "field") {
      const value = r.target.value;
      const field = FIELDS.find(([, pb]) => pb === value)?.[0];
      if (!field) throw new InvalidInputError("invalidValue", `${where}: field must name a canonical field`);
      if (r.customType !== PbAttributeType.UNSPECIFIED) throw new InvalidInputError("invalidValue", `${where}: custom_type applies to custom attributes only`);
      target = { kind: "field", field };
    } else if (r.target.case === "customAttribute") {
      const type = TYPES.find(([, pb]) => pb === r.customType)?.[0];
      if (!type) throw new InvalidInputError("invalidValue", `${where}: custom attribute ${JSON.stringify(r.target.value)} needs a custom_type (STRING, BOOL, NUMBER, TIME or STRING_LIST)`);
      target = { kind: "custom", name: r.target.value, type };
    } else {
      throw new InvalidInputError("invalidValue", `${where}: set a target (field or custom_attribute)`);
    }
    return { sourcePath: r.sourcePath, target, transforms: r.transforms.map((t, j) => transformFromPb(t, `${where}, transform ${j + 1}`)) };
  });
}

function ruleToPb(r: MappingRule): PbMappingRule {
  return create(MappingRuleSchema, {
    sourcePath: r.sourcePath,
    target: r.target.kind === "field" ? { case: "field", value: FIELDS.find(([f]) => f === (r.target as { field: CanonicalField }).field)![1] } : { case: "customAttribute", value: r.target.name },
    customType: r.target.kind === "custom" ? TYPES.find(([t]) => t === (r.target as { type: ValueType }).type)![1] : PbAttributeType.UNSPECIFIED,
    transforms: r.transforms.map(transformToPb),
  });
}

export function roleRulesFromPb(rules: readonly PbRoleRule[]): RoleRule[] {
  return rules.map((r, i) => {
    const match = MATCHES.find(([, pb]) => pb === r.match)?.[0];
    if (!match) throw new InvalidInputError("invalidValue", `role rule ${i + 1}: match must be ID, EXTERNAL_ID or DISPLAY_NAME_PATTERN`);
    return { match, value: r.value, roles: [...r.roles], stop: r.stop };
  });
}

function roleRuleToPb(r: RoleRule): PbRoleRule {
  return create(RoleRuleSchema, { match: MATCHES.find(([m]) => m === r.match)![1], value: r.value, roles: [...r.roles], stop: r.stop });
}

export function presetToPb(provider: ProviderKind, rules: readonly MappingRule[]): PbPreset {
  return create(PresetSchema, { provider: providerToPb(provider), rules: rules.map(ruleToPb) });
}

export function mappingToPb(m: MappingView): PbMapping {
  return create(MappingSchema, {
    directoryId: m.directoryId,
    provider: providerToPb(m.provider),
    overrides: m.overrides.map(ruleToPb),
    roleRules: m.roleRules.map(roleRuleToPb),
    effectiveRules: m.effectiveRules.map(ruleToPb),
    version: BigInt(m.version),
    updateTime: optionalTime(m.updatedAt),
  });
}

const STATES = { active: PbUserState.ACTIVE, inactive: PbUserState.INACTIVE, deleted: PbUserState.DELETED } as const;

function attributeToPb(v: CanonicalUser["customAttributes"][string]): PbAttributeValue {
  switch (v.type) {
    case "string": return { $typeName: "roster.mapping.v1.AttributeValue", kind: { case: "stringValue", value: v.value } };
    case "bool": return { $typeName: "roster.mapping.v1.AttributeValue", kind: { case: "boolValue", value: v.value } };
    case "number": return { $typeName: "roster.mapping.v1.AttributeValue", kind: { case: "numberValue", value: v.value } };
    case "time": return { $typeName: "roster.mapping.v1.AttributeValue", kind: { case: "timeValue", value: timestampFromDate(new Date(v.value)) } };
    case "stringList": return { $typeName: "roster.mapping.v1.AttributeValue", kind: { case: "stringList", value: { $typeName: "roster.mapping.v1.StringList", values: [...v.value] } } };
  }
}

export function canonicalUserToPb(u: CanonicalUser): PbCanonicalUser {
  return create(CanonicalUserSchema, {
    id: u.id,
    directoryId: u.directoryId,
    externalId: u.externalId,
    username: u.username,
    emails: [...u.emails],
    givenName: u.givenName,
    familyName: u.familyName,
    displayName: u.displayName,
    state: STATES[u.state],
    jobTitle: u.jobTitle,
    department: u.department,
    employeeNumber: u.employeeNumber,
    managerId: u.managerId,
    groupIds: [...u.groupIds],
    roles: [...u.roles],
    customAttributes: Object.fromEntries(Object.entries(u.customAttributes).map(([k, v]) => [k, attributeToPb(v)])),
    raw: u.raw as JsonObject,
    version: BigInt(u.version),
  });
}

export function fieldSourceToPb(s: FieldSource): PbFieldSource {
  return create(FieldSourceSchema, { target: s.target, sourcePath: s.sourcePath, fromPreset: s.fromPreset });
}

const JOB_STATES = {
  running: PbRemapJobState.RUNNING,
  done: PbRemapJobState.DONE,
  failed: PbRemapJobState.FAILED,
  superseded: PbRemapJobState.SUPERSEDED,
} as const;

export function remapJobToPb(j: RemapJob): PbRemapJob {
  return create(RemapJobSchema, {
    id: j.id,
    directoryId: j.directoryId,
    state: JOB_STATES[j.state],
    usersTotal: BigInt(j.usersTotal),
    usersProcessed: BigInt(j.usersProcessed),
    usersChanged: BigInt(j.usersChanged),
    startTime: timestampFromDate(j.startedAt),
    endTime: optionalTime(j.endedAt),
    error: j.error ?? "",
    mappingVersion: BigInt(j.toVersion),
  });
}
