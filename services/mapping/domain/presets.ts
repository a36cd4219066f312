// Default rules per provider, from each IdP's published SCIM attribute mappings. An admin
// overrides only the targets that differ in their tenant.
import type { ProviderKind } from "../../core/domain/directory.ts";
import type { CanonicalField, MappingRule, Transform } from "./model.ts";

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const trim: Transform = { kind: "trim" };
const lower: Transform = { kind: "lowerCase" };

const rule = (field: CanonicalField, sourcePath: string, ...transforms: Transform[]): MappingRule => ({
  sourcePath,
  target: { kind: "field", field },
  transforms,
});

/** RFC 7643 core and enterprise attributes, where every IdP puts them by default. */
const GENERIC: readonly MappingRule[] = [
  rule("externalId", "externalId", trim),
  rule("username", "userName", trim, lower),
  rule("emails", "emails.value", trim, lower),
  rule("givenName", "name.givenName", trim),
  rule("familyName", "name.familyName", trim),
  rule("displayName", "displayName", trim),
  rule("displayName", "name.formatted", trim),
  rule("jobTitle", "title", trim),
  rule("department", `${ENTERPRISE}:department`, trim),
  rule("employeeNumber", `${ENTERPRISE}:employeeNumber`, trim),
  rule("managerId", `${ENTERPRISE}:manager.value`, trim),
  rule("active", "active"),
  rule("roles", "roles.value", trim, lower),
];

/** The base with every rule of the replaced targets swapped for the replacements, in place. */
function withRules(base: readonly MappingRule[], replace: readonly MappingRule[]): MappingRule[] {
  const key = (r: MappingRule) => (r.target.kind === "field" ? r.target.field : `custom.${r.target.name}`);
  const replaced = new Set(replace.map(key));
  const out: MappingRule[] = [];
  for (const r of base) {
    if (!replaced.has(key(r))) out.push(r);
    else if (!out.some((o) => key(o) === key(r))) out.push(...replace.filter((x) => key(x) === key(r)));
  }
  return out;
}

const PRESETS: Readonly<Record<ProviderKind, readonly MappingRule[]>> = {
  generic: GENERIC,
  // Okta: userName is the Okta login (an email by default), the primary email is marked
  // primary, names, title and the enterprise extension follow RFC 7643.
  okta: GENERIC,
  // Entra ID's default attribute mappings: `mail` goes to emails[type eq "work"].value
  // (usually without a primary flag, so work addresses come first), userPrincipalName to
  // userName, jobTitle to title, app role assignments to roles.
  entra: withRules(GENERIC, [
    rule("emails", `emails[type eq "work"].value`, trim, lower),
    rule("emails", "emails.value", trim, lower),
  ]),
  // Google Workspace: primary email marked primary, organisation fields in the enterprise
  // extension.
  google: GENERIC,
  // OneLogin: admin-edited JSON templates; the default one sends name.formatted rather than
  // displayName, and often leaves optional attributes as "" (read as absent).
  onelogin: withRules(GENERIC, [rule("displayName", "name.formatted", trim), rule("displayName", "displayName", trim)]),
  // JumpCloud: core and enterprise attributes; work emails marked primary.
  jumpcloud: GENERIC,
};

export function presetFor(provider: ProviderKind): readonly MappingRule[] {
  return PRESETS[provider];
}
