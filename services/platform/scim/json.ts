// JSON as SCIM resources and requests hold it.
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * Sets an own property. A JSON body may carry an own "__proto__" key: assigned, it would
 * replace the target's prototype instead of staying (unknown) data, so that one key is
 * defined; plain assignment is much faster for every other.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * A deep copy of a JSON value; several times cheaper than structuredClone for a SCIM
 * resource. Recursive: callers pass depth-bounded values (json-limits.ts).
 */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const out: JsonObject = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (v !== undefined) setOwn(out, key, cloneJson(v));
  }
  return out as T;
}
