// The shapes of parsed SCIM filters and attribute paths (RFC 7644 sections 3.4.2.2 and
// 3.5.2). Parsers produce them; the SQL compiler, the in-memory matcher and the PATCH
// engine consume them.

export type CompareOp = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";

export type FilterValue = string | number | boolean | null;

/** An attribute reference: `[urn:...:]name[.sub]`. Names keep the case they were written in. */
export interface AttrRef {
  /** The schema URN when the path was written with one, lower-cased; otherwise undefined. */
  readonly schema?: string;
  readonly name: string;
  readonly sub?: string;
}

export type Filter =
  | { readonly kind: "compare"; readonly attr: AttrRef; readonly op: CompareOp; readonly value: FilterValue }
  | { readonly kind: "present"; readonly attr: AttrRef }
  | { readonly kind: "and"; readonly left: Filter; readonly right: Filter }
  | { readonly kind: "or"; readonly left: Filter; readonly right: Filter }
  | { readonly kind: "not"; readonly filter: Filter }
  /** `emails[type eq "work"]`: the inner filter's attributes are sub-attributes of attr. */
  | { readonly kind: "valuePath"; readonly attr: AttrRef; readonly filter: Filter };

/** A PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, with optional URN. */
export interface PatchPath {
  readonly attr: AttrRef;
  readonly filter?: Filter;
  /** The sub-attribute after a value filter: `members[value eq "x"].display`. */
  readonly subAfterFilter?: string;
}
