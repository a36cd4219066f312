// Validation of rules as an admin saves them, and the effective rule set (preset plus
// overrides). Every problem is reported at once, each naming its rule, so a bad save
// changes nothing and says exactly what to fix.
import { InvalidInputError } from "../../core/domain/errors.ts";
import { FIELD_TYPES, targetName, type EffectiveRule, type MappingRule, type RoleRule, type RuleTarget } from "./model.ts";
import { compilePath, type CompiledPath } from "./paths.ts";
import { assignable, describeTransform, transformType, TYPE_NAMES, type StaticType } from "./transforms.ts";

const MAX_RULES = 200;
const MAX_ROLE_RULES = 500;
const MAX_ROLES_PER_RULE = 50;
const MAX_TRANSFORMS = 10;
const CUSTOM_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const ROLE_SLUG = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

export class MappingValidationError extends InvalidInputError {
  override name = "MappingValidationError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super("invalidValue", `invalid mapping: ${problems.join("; ")}`);
    this.problems = problems;
  }
}

/** A rule ready to run: its path compiled. */
export interface CompiledRule extends EffectiveRule {
  readonly path: CompiledPath;
}

/** Checks one rule; returns the compiled rule, or throws InvalidInputError with the reason. */
export function compileRule(rule: EffectiveRule): CompiledRule {
  const target: RuleTarget = rule.target;
  if (target.kind === "custom" && !CUSTOM_NAME.test(target.name)) {
    throw new InvalidInputError("invalidValue", `custom attribute name ${JSON.stringify(target.name)} must start with a letter and hold at most 64 letters, digits, "_", "." or "-"`);
  }
  if (rule.sourcePath.trim() === "") throw new InvalidInputError("invalidPath", "source_path is empty");
  if (rule.transforms.length > MAX_TRANSFORMS) throw new InvalidInputError("tooMany", `at most ${MAX_TRANSFORMS} transforms per rule`);
  const path = compilePath(rule.sourcePath);
  const want = target.kind === "field" ? FIELD_TYPES[target.field] : target.type;
  let type: StaticType = path.type;
  for (const t of rule.transforms) {
    const next = transformType(t, type);
    if (!isStaticType(next)) throw new InvalidInputError("invalidValue", next);
    type = next;
  }
  if (!assignable(type, want)) {
    const hint = want === "bool" ? " (add to_bool)" : want === "time" ? " (add to_time)" : want === "string" && type === "bool" ? "" : "";
    const via = rule.transforms.length === 0 ? "" : ` after ${rule.transforms.map(describeTransform).join(", ")}`;
    throw new InvalidInputError("invalidValue", `type mismatch: ${targetName(target)} needs ${TYPE_NAMES[want]}, but ${JSON.stringify(rule.sourcePath)}${via} gives ${TYPE_NAMES[type]}${hint}`);
  }
  return { ...rule, path };
}

function isStaticType(x: StaticType | string): x is StaticType {
  return x === "string" || x === "bool" || x === "number" || x === "time" || x === "stringList" || x === "any";
}

const label = (rule: MappingRule, i: number, what = "override") => `${what} ${i + 1} (${targetName(rule.target)})`;

/** Validates overrides and role rules; throws one MappingValidationError listing every problem. */
export function validateMapping(overrides: readonly MappingRule[], roleRules: readonly RoleRule[]): void {
  const problems: string[] = [];
  if (overrides.length > MAX_RULES) problems.push(`at most ${MAX_RULES} overrides`);
  if (roleRules.length > MAX_ROLE_RULES) problems.push(`at most ${MAX_ROLE_RULES} role rules`);
  const customTypes = new Map<string, string>();
  overrides.forEach((rule, i) => {
    try {
      compileRule({ ...rule, fromPreset: false });
      if (rule.target.kind === "custom") {
        const seen = customTypes.get(rule.target.name);
        if (seen !== undefined && seen !== rule.target.type) problems.push(`${label(rule, i)}: custom attribute "${rule.target.name}" is already declared as ${seen}`);
        customTypes.set(rule.target.name, rule.target.type);
      }
    } catch (error) {
      problems.push(`${label(rule, i)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  roleRules.forEach((rule, i) => {
    const where = `role rule ${i + 1}`;
    if (rule.value.trim() === "") problems.push(`${where}: value is empty`);
    if (rule.value.length > 1024) problems.push(`${where}: value is longer than 1024 characters`);
    if (rule.match === "id" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(rule.value)) problems.push(`${where}: a group id must be a UUID, got ${JSON.stringify(rule.value.slice(0, 64))}`);
    if (rule.roles.length === 0) problems.push(`${where}: names no role`);
    if (rule.roles.length > MAX_ROLES_PER_RULE) problems.push(`${where}: at most ${MAX_ROLES_PER_RULE} roles`);
    for (const role of rule.roles) {
      if (!ROLE_SLUG.test(role)) problems.push(`${where}: role ${JSON.stringify(role.slice(0, 64))} is not a slug (lower-case letters, digits, ".", "_", ":" or "-", at most 64)`);
    }
  });
  if (problems.length > 0) throw new MappingValidationError(problems);
}

/**
 * The preset with the overrides applied: the overrides of a target replace every preset
 * rule of that target (several rules for one target are fallbacks, tried in order).
 */
export function effectiveRules(preset: readonly MappingRule[], overrides: readonly MappingRule[]): EffectiveRule[] {
  const overridden = new Set(overrides.map((r) => targetName(r.target)));
  return [
    ...preset.filter((r) => !overridden.has(targetName(r.target))).map((r) => ({ ...r, fromPreset: true })),
    ...overrides.map((r) => ({ ...r, fromPreset: false })),
  ];
}
