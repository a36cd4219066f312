// Group-to-role rules. Precedence: rules are tried in order; every rule that matches one of
// the user's groups adds its roles (in rule order, each role once); a matching rule marked
// `stop` ends the evaluation. Roles mapped from an attribute (the `roles` target) come
// after the group-derived ones.
import type { GroupInfo, RoleRule } from "./model.ts";

/** A display-name glob: `*` any run of characters, `?` one; case-insensitive, whole name. */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (const ch of pattern) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "isu");
}

function ruleMatches(rule: RoleRule, group: GroupInfo, glob?: RegExp): boolean {
  switch (rule.match) {
    case "id":
      return group.id === rule.value.toLowerCase();
    case "externalId":
      return group.externalId !== null && group.externalId === rule.value;
    case "displayNamePattern":
      return (glob ?? globToRegExp(rule.value)).test(group.displayName);
  }
}

interface RoleDerivation {
  readonly roles: string[];
  /** Indexes of the rules that matched. */
  readonly matched: number[];
}

/** Compiled once per rule set: the globs. */
export function roleEvaluator(rules: readonly RoleRule[]): (groups: readonly GroupInfo[]) => RoleDerivation {
  const globs = rules.map((r) => (r.match === "displayNamePattern" ? globToRegExp(r.value) : undefined));
  return (groups) => {
    const roles: string[] = [];
    const seen = new Set<string>();
    const matched: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!groups.some((g) => ruleMatches(rule, g, globs[i]))) continue;
      matched.push(i);
      for (const role of rule.roles) {
        if (!seen.has(role)) {
          seen.add(role);
          roles.push(role);
        }
      }
      if (rule.stop) break;
    }
    return { roles, matched };
  };
}
