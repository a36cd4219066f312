// The SCIM filter grammar (RFC 7644 section 3.4.2.2), PATCH paths (section 3.5.2) and the
// `attributes`/`excludedAttributes` lists (section 3.4.2.5), parsed by hand.
//
// Why not `scim2-parse-filter` (0.2.10, weighed per DESIGN.md): it has no unquoted values
// (Entra's conformance suite sends `userName sw O`), no bound on input length or nesting
// depth (its recursive descent can be driven to a stack overflow), errors without a
// character offset, `not` without the required parentheses, a regex tokenizer that
// rewrites backslashes in strings, and its AST would need a conversion to ours anyway. The
// grammar is small; a recursive-descent parser over the string is shorter than the wrapper.

import type { AttrRef, CompareOp, Filter, FilterValue, PatchPath } from "./ast.ts";
import { isStorableText } from "../json-limits.ts";
import { ScimFilterError, type ScimFilterErrorType } from "./filter-error.ts";
import { evaluatePlan, planFilter, type PlanOptions } from "./filter-eval.ts";
import type { ResourceType } from "./schema.ts";

export { ScimFilterError } from "./filter-error.ts";

export interface FilterOptions {
  /** Accept unquoted values (`userName sw O`), read as a bare token up to space, `)` or `]`. */
  readonly lenient?: boolean;
  /** Longest accepted text; default 4096 characters. */
  readonly maxLength?: number;
  /** Deepest nesting of parentheses, `not (...)` and value filters; default 32. */
  readonly maxDepth?: number;
}

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
// Characters of an attrPath token: URN segments (letters, digits, ":", ".", "-"), names
// ("_", "$" for "$ref") and the "." before a sub-attribute. Split and validated afterwards.
const PATH_CHAR = /[A-Za-z0-9_:.$-]/;
// ATTRNAME = ALPHA *(nameChar), plus the "$ref" sub-attribute.
const ATTR_NAME = /^\$?[A-Za-z][A-Za-z0-9_-]*$/;
const URN = /^urn:[A-Za-z0-9][A-Za-z0-9.-]*(:[A-Za-z0-9._-]+)+$/i;
const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const WS = /\s/;

class Parser {
  readonly text: string;
  readonly lenient: boolean;
  readonly maxDepth: number;
  readonly scimType: ScimFilterErrorType;
  pos = 0;
  depth = 0;

  constructor(text: string, opts: FilterOptions, scimType: ScimFilterErrorType) {
    const maxLength = opts.maxLength ?? 4096;
    if (text.length > maxLength) {
      throw new ScimFilterError(`text is ${text.length} characters long, more than the ${maxLength} allowed`, scimType);
    }
    this.text = text;
    this.lenient = opts.lenient ?? false;
    this.maxDepth = opts.maxDepth ?? 32;
    this.scimType = scimType;
  }

  fail(expected: string, at = this.pos): never {
    const found = at >= this.text.length ? "end of input" : JSON.stringify(this.text.slice(at, at + 12));
    throw new ScimFilterError(`expected ${expected}, found ${found}`, this.scimType, at);
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? "";
  }

  skipWs(): void {
    while (WS.test(this.peek())) this.pos++;
  }

  expect(char: string): void {
    this.skipWs();
    if (this.peek() !== char) this.fail(`"${char}"`);
    this.pos++;
  }

  /** Consumes `word` (any case) when it stands alone at the position; restores it otherwise. */
  keyword(word: string): boolean {
    const save = this.pos;
    this.skipWs();
    const end = this.pos + word.length;
    if (this.text.slice(this.pos, end).toLowerCase() === word && !PATH_CHAR.test(this.text[end] ?? "")) {
      this.pos = end;
      return true;
    }
    this.pos = save;
    return false;
  }

  nested<T>(at: number, body: () => T): T {
    if (++this.depth > this.maxDepth) {
      throw new ScimFilterError(`nesting deeper than ${this.maxDepth} levels`, this.scimType, at);
    }
    const result = body();
    this.depth--;
    return result;
  }

  // filter := and ("or" and)*        -- "or" binds loosest, both are left-associative
  parseOr(inValuePath: boolean): Filter {
    let left = this.parseAnd(inValuePath);
    while (this.keyword("or")) left = { kind: "or", left, right: this.parseAnd(inValuePath) };
    return left;
  }

  parseAnd(inValuePath: boolean): Filter {
    let left = this.parseUnary(inValuePath);
    while (this.keyword("and")) left = { kind: "and", left, right: this.parseUnary(inValuePath) };
    return left;
  }

  // unary := "not" "(" filter ")" | "(" filter ")" | attrExp | valuePath
  parseUnary(inValuePath: boolean): Filter {
    this.skipWs();
    const start = this.pos;
    if (this.keyword("not")) {
      this.skipWs();
      // An attribute may be called "not"; only "not" followed by "(" is the operator.
      if (this.peek() === "(") return { kind: "not", filter: this.parseGroup(inValuePath) };
      this.pos = start;
    }
    if (this.peek() === "(") return this.parseGroup(inValuePath);
    return this.parseAttrExp(inValuePath);
  }

  parseGroup(inValuePath: boolean): Filter {
    return this.nested(this.pos, () => {
      this.pos++; // "("
      const inner = this.parseOr(inValuePath);
      this.expect(")");
      return inner;
    });
  }

  parseAttrExp(inValuePath: boolean): Filter {
    const attr = this.parseAttrPath();
    if (this.peek() === "[") {
      if (inValuePath) this.fail("an operator (value filters do not nest)");
      return { kind: "valuePath", attr, filter: this.parseValueFilter(attr) };
    }
    if (!WS.test(this.peek())) this.fail("a space and an operator");
    this.skipWs();
    const opStart = this.pos;
    while (/[A-Za-z]/.test(this.peek())) this.pos++;
    const op = this.text.slice(opStart, this.pos).toLowerCase();
    if (op === "pr" && !PATH_CHAR.test(this.peek())) return { kind: "present", attr };
    if (!COMPARE_OPS.has(op) || PATH_CHAR.test(this.peek())) this.fail("an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)", opStart);
    if (!WS.test(this.peek())) this.fail("a space and a value");
    this.skipWs();
    return { kind: "compare", attr, op: op as CompareOp, value: this.parseCompValue() };
  }

  /** `[valFilter]` after an attribute; the position is at "[". */
  parseValueFilter(attr: AttrRef): Filter {
    if (attr.sub !== undefined) this.fail("a value filter on an attribute, not a sub-attribute");
    return this.nested(this.pos, () => {
      this.pos++; // "["
      const inner = this.parseOr(true);
      this.expect("]");
      return inner;
    });
  }

  // attrPath := [URI ":"] ATTRNAME ["." subAttr]. The URI itself contains ":" and "." (for
  // example "...:enterprise:2.0:User"), so the token is read whole and split at its last ":".
  parseAttrPath(): AttrRef {
    const start = this.pos;
    while (PATH_CHAR.test(this.peek())) this.pos++;
    const token = this.text.slice(start, this.pos);
    if (token === "") this.fail("an attribute path", start);
    const colon = token.lastIndexOf(":");
    const schema = colon < 0 ? undefined : token.slice(0, colon);
    if (schema !== undefined && !URN.test(schema)) this.fail("a schema URN", start);
    const names = token.slice(colon + 1).split(".");
    const nameAt = (i: number) => start + colon + 1 + names.slice(0, i).reduce((n, s) => n + s.length + 1, 0);
    if (names.length > 2) this.fail("at most one sub-attribute", nameAt(2) - 1);
    const [name = "", sub] = names;
    if (!ATTR_NAME.test(name)) this.fail("an attribute name", nameAt(0));
    if (sub !== undefined && !ATTR_NAME.test(sub)) this.fail("a sub-attribute name", nameAt(1));
    return {
      ...(schema === undefined ? {} : { schema: schema.toLowerCase() }),
      name,
      ...(sub === undefined ? {} : { sub }),
    };
  }

  // compValue := false / null / true / number / string (ABNF literals are case-insensitive),
  // or, when lenient, a bare token.
  parseCompValue(): FilterValue {
    const start = this.pos;
    if (this.peek() === "\"") {
      let i = start + 1;
      while (i < this.text.length && this.text[i] !== "\"") i += this.text[i] === "\\" ? 2 : 1;
      if (i >= this.text.length) this.fail("a closing quote for the string", start);
      this.pos = i + 1;
      let value: string;
      try {
        value = JSON.parse(this.text.slice(start, this.pos)) as string;
      } catch {
        this.fail("a valid JSON string", start);
      }
      // Escapes can spell what the request itself may not carry (json-limits.ts).
      if (!isStorableText(value)) throw new ScimFilterError("strings must not contain U+0000 or unpaired UTF-16 surrogates", "invalidValue", start);
      return value;
    }
    while (!this.atEnd() && !WS.test(this.peek()) && this.peek() !== ")" && this.peek() !== "]") this.pos++;
    const bare = this.text.slice(start, this.pos);
    const lower = bare.toLowerCase();
    if (lower === "true" || lower === "false") return lower === "true";
    if (lower === "null") return null;
    if (JSON_NUMBER.test(bare) && Number.isFinite(Number(bare))) return Number(bare);
    if (this.lenient && bare !== "") return bare;
    return this.fail("a value (a quoted string, a number, true, false or null)", start);
  }
}

/** Parses a `filter` query parameter or a POST /.search filter. */
export function parseFilter(text: string, opts: FilterOptions = {}): Filter {
  const p = new Parser(text, opts, "invalidFilter");
  const filter = p.parseOr(false);
  p.skipWs();
  if (!p.atEnd()) p.fail("\"and\", \"or\" or the end of the filter");
  return filter;
}

/**
 * Parses a PATCH operation's `path`: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`,
 * each optionally URN-qualified. A path that is a schema URN alone reads as schema = the URN
 * minus its last segment, name = that segment (`...:2.0` and `User`).
 */
export function parsePatchPath(text: string, opts: FilterOptions = {}): PatchPath {
  const p = new Parser(text.trim(), opts, "invalidPath");
  const attr = p.parseAttrPath();
  if (p.atEnd()) return { attr };
  if (p.peek() !== "[") p.fail("\"[\" or the end of the path");
  const filter = p.parseValueFilter(attr);
  if (p.atEnd()) return { attr, filter };
  if (p.peek() !== ".") p.fail("\".\" and a sub-attribute, or the end of the path");
  p.pos++;
  const subStart = p.pos;
  const sub = p.text.slice(subStart);
  if (!ATTR_NAME.test(sub)) p.fail("a sub-attribute name", subStart);
  return { attr, filter, subAfterFilter: sub };
}

/**
 * Parses the comma-separated `attributes`/`excludedAttributes` list. Entra sends value
 * filters in it (`emails[type eq "work"]`); they are read and ignored, leaving `emails`
 * (or `emails.sub` for `emails[...].sub`). Empty text is an empty list.
 */
export function parseAttributeList(text: string, opts: FilterOptions = {}): AttrRef[] {
  const p = new Parser(text, { lenient: true, ...opts }, "invalidSyntax");
  const refs: AttrRef[] = [];
  p.skipWs();
  if (p.atEnd()) return refs;
  for (;;) {
    p.skipWs();
    let ref = p.parseAttrPath();
    if (p.peek() === "[") {
      p.parseValueFilter(ref);
      if (p.peek() === ".") {
        p.pos++;
        ref = { ...ref, sub: p.parseAttrPath().name };
      }
    }
    refs.push(ref);
    p.skipWs();
    if (p.atEnd()) return refs;
    p.expect(",");
  }
}

/**
 * Evaluates a parsed filter against a resource in memory. The resource is expected in
 * canonical attribute casing (see normalizeResource), as stored. Attribute characteristics
 * (caseExact, type, multiValued) come from the schema; unknown attributes match nothing
 * unless `strict`, where they are an error.
 */
export function matchesFilter(
  filter: Filter,
  resource: Record<string, unknown>,
  resourceType: ResourceType,
  opts: PlanOptions = {},
): boolean {
  return evaluatePlan(planFilter(filter, resourceType, opts), resource);
}
