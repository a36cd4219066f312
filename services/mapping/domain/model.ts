// The mapping model: rules as data, the canonical user they produce, and where each field
// came from. Plain TypeScript; the transport converts to and from protobuf.
import type { Json, UserState } from "../../core/domain/resources.ts";

export type CanonicalField =
  | "externalId"
  | "username"
  | "emails"
  | "givenName"
  | "familyName"
  | "displayName"
  | "jobTitle"
  | "department"
  | "employeeNumber"
  | "managerId"
  | "active"
  | "roles";

export type ValueType = "string" | "bool" | "number" | "time" | "stringList";

/** The type each canonical field holds. */
export const FIELD_TYPES: Readonly<Record<CanonicalField, ValueType>> = {
  externalId: "string",
  username: "string",
  emails: "stringList",
  givenName: "string",
  familyName: "string",
  displayName: "string",
  jobTitle: "string",
  department: "string",
  employeeNumber: "string",
  managerId: "string",
  active: "bool",
  roles: "stringList",
};

export type Transform =
  | { readonly kind: "trim" }
  | { readonly kind: "lowerCase" }
  | { readonly kind: "split"; readonly separator: string }
  | { readonly kind: "join"; readonly separator: string }
  | { readonly kind: "default"; readonly value: string }
  | { readonly kind: "toBool" }
  | { readonly kind: "toTime" };

export type RuleTarget = { readonly kind: "field"; readonly field: CanonicalField } | { readonly kind: "custom"; readonly name: string; readonly type: ValueType };

export interface MappingRule {
  readonly sourcePath: string;
  readonly target: RuleTarget;
  readonly transforms: readonly Transform[];
}

export type GroupMatch = "id" | "externalId" | "displayNamePattern";

export interface RoleRule {
  readonly match: GroupMatch;
  readonly value: string;
  readonly roles: readonly string[];
  readonly stop: boolean;
}

/** One rule as it takes part in evaluation: with whether it came from the preset. */
export interface EffectiveRule extends MappingRule {
  readonly fromPreset: boolean;
}

/** Everything evaluation needs: the effective attribute rules and the role rules. */
export interface RuleSet {
  readonly rules: readonly EffectiveRule[];
  readonly roleRules: readonly RoleRule[];
}

export type AttributeValue =
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "number"; readonly value: number }
  /** An instant, as an ISO 8601 UTC string. */
  | { readonly type: "time"; readonly value: string }
  | { readonly type: "stringList"; readonly value: readonly string[] };

/** What the mapping derives from a user; everything but identity, version and raw. */
export interface CanonicalFields {
  readonly externalId: string;
  readonly username: string;
  /** Primary first. */
  readonly emails: readonly string[];
  readonly givenName: string;
  readonly familyName: string;
  readonly displayName: string;
  readonly state: UserState;
  readonly jobTitle: string;
  readonly department: string;
  readonly employeeNumber: string;
  readonly managerId: string;
  readonly groupIds: readonly string[];
  readonly roles: readonly string[];
  readonly customAttributes: Readonly<Record<string, AttributeValue>>;
}

export interface CanonicalUser extends CanonicalFields {
  readonly id: string;
  readonly directoryId: string;
  readonly version: number;
  /** The SCIM resource as stored from the IdP's last write. */
  readonly raw: Json;
}

export interface FieldSource {
  /** A canonical field name, `custom.<name>`, or `roles`. */
  readonly target: string;
  readonly sourcePath: string;
  readonly fromPreset: boolean;
}

export function targetName(target: RuleTarget): string {
  return target.kind === "field" ? target.field : `custom.${target.name}`;
}

/** The group facts role rules look at. */
export interface GroupInfo {
  readonly id: string;
  readonly externalId: string | null;
  readonly displayName: string;
}
