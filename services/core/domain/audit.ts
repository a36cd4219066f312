// The audit trail of SCIM calls. Bodies are kept for investigation, with every secret an
// IdP may send (passwords, tokens) replaced before anything is stored.

export interface AuditRecord {
  readonly id: string;
  readonly directoryId: string | null;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly scimType: string;
  readonly latencyMs: number;
  readonly at: Date;
  readonly requestBody: unknown;
  readonly responseBody: unknown;
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|credential|api[-_]?key/i;
export const REDACTED = "[redacted]";
/** Larger bodies are stored as a marker: the audit log is not a bulk-data store. */
export const MAX_AUDIT_BODY_BYTES = 64 * 1024;

/** A copy of a JSON value with the values of secret-looking keys replaced. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? REDACTED : redact(v)]));
  }
  return value;
}

/** What is stored of a body: redacted, or a marker when too large; undefined when empty. */
export function auditBody(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  const redacted = redact(value);
  const size = Buffer.byteLength(JSON.stringify(redacted));
  if (size > MAX_AUDIT_BODY_BYTES) return { truncated: true, bytes: size };
  return redacted !== null && typeof redacted === "object" && !Array.isArray(redacted) ? (redacted as Record<string, unknown>) : { value: redacted };
}
