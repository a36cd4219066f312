// Limits on JSON a client sends (SCIM bodies, resources in RPCs), checked once where it
// enters, without recursion, so code behind that edge may walk it recursively.
//
// Depth: every reader of a stored resource must be able to read it back. protobuf-es decodes
// at most 100 nested messages (binary and JSON, the SDK's Kafka decoder included), and each
// JSON level of a google.protobuf.Struct costs two (Value, then Struct or ListValue), under
// up to 4 envelope messages (ListEventsResponse, Event, UserUpdated, CanonicalUser). 32
// levels keep a resource at about 70 of those 100; real IdP resources use 4.
//
// Strings: Postgres text and jsonb cannot hold U+0000, and jsonb refuses a lone UTF-16
// surrogate, which JSON.parse accepts ("\ud800"). Neither is text anyone means to send.

/** Deepest nesting of objects and arrays accepted in a client's JSON document. */
export const MAX_JSON_DEPTH = 32;

export interface JsonProblem {
  /** The SCIM scimType it is refused with. */
  readonly kind: "invalidSyntax" | "invalidValue";
  /** Says what is wrong without repeating the input. */
  readonly message: string;
}

const NUL = "\u0000";

/** Whether a string can be stored as text and in jsonb: no U+0000, no lone surrogate. */
export function isStorableText(text: string): boolean {
  return !text.includes(NUL) && text.isWellFormed();
}

/** The storable form of any string: U+0000 and lone surrogates become U+FFFD. */
export function storableText(text: string): string {
  return isStorableText(text) ? text : text.toWellFormed().replaceAll(NUL, "\uFFFD");
}

/**
 * The first reason a parsed JSON value may not be accepted, or undefined when it may:
 * nested deeper than maxDepth, a string or key that is not storable text, or a number that
 * is not finite (JSON.parse reads 1e400 as Infinity). Iterative: any depth is safe to check.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | undefined {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop()!;
    if (typeof v === "string") {
      if (!isStorableText(v)) return { kind: "invalidValue", message: "strings must not contain U+0000 or unpaired UTF-16 surrogates" };
      continue;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return { kind: "invalidValue", message: "numbers must be finite" };
      continue;
    }
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) continue;
    if (depth >= maxDepth) return { kind: "invalidSyntax", message: `JSON must not nest deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      if (!isStorableText(key)) return { kind: "invalidValue", message: "attribute names must not contain U+0000 or unpaired UTF-16 surrogates" };
      stack.push({ value: item, depth: depth + 1 });
    }
  }
  return undefined;
}
