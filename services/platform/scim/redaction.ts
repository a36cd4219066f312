// The audit trail of SCIM calls. Bodies are kept for investigation, with every secret an
// IdP may send (passwords, tokens) replaced before anything is stored.
//
// Secrets are found by SCIM meaning, not only by key: a key naming one (`password`,
// `Password`, `urn:...:User:password`), the `value` of a PATCH operation whose `path` names
// one, and filters that compare one (`filter=password eq "..."`, in a body or in the query
// string). What was found is then scrubbed from the rest of the call (an error detail that
// echoes it). Everything here is total: whatever the input, it returns, within bounds.
import { MAX_JSON_DEPTH, storableText } from "../json-limits.ts";
import { setOwn } from "./json.ts";

const SECRET_NAME = /pass(word)?|secret|token|authorization|credential|api[-_]?key/i;
export const REDACTED = "[redacted]";
/** Stands for what lies deeper than MAX_JSON_DEPTH (a body nothing accepted). */
export const TOO_DEEP = "[too deep]";
/** Larger bodies are stored as a marker: the audit log is not a bulk-data store. */
export const MAX_AUDIT_BODY_BYTES = 64 * 1024;
// Secrets shorter than this are not scrubbed out of other text: they would match anywhere.
const MIN_SCRUBBED_LENGTH = 4;
const MAX_SECRETS = 64;

/** Whether an attribute name, path or filter names a secret attribute. */
export function namesSecret(text: string): boolean {
  return SECRET_NAME.test(text);
}

type Secrets = Set<string>;

function remember(secrets: Secrets, text: string): void {
  if (text.length < MIN_SCRUBBED_LENGTH || secrets.size >= MAX_SECRETS) return;
  secrets.add(text);
  // As an error detail would quote it with JSON.stringify.
  const quoted = JSON.stringify(text).slice(1, -1);
  if (quoted !== text) secrets.add(quoted);
}

/** Remembers every string and number in a secret value (bounded like the rest). */
function rememberAll(secrets: Secrets, value: unknown, depth = 0): void {
  if (typeof value === "string") remember(secrets, value);
  else if (typeof value === "number") remember(secrets, String(value));
  else if (value !== null && typeof value === "object" && depth < MAX_JSON_DEPTH) {
    for (const item of Object.values(value)) rememberAll(secrets, item, depth + 1);
  }
}

// The literals a filter compares with: quoted strings, and the bare values lenient
// directories accept (`password eq hunter2`).
const QUOTED = /"((?:[^"\\]|\\.)*)"/g;
const BARE = /\b(?:eq|ne|co|sw|ew|gt|ge|lt|le)\s+([^\s()[\]"]+)/gi;

/** A filter or path text naming a secret, when it may carry a literal, redacted whole. */
function redactFilterText(text: string, secrets: Secrets): string {
  if (!namesSecret(text) || !/[\s"[]/.test(text)) return text;
  for (const m of text.matchAll(QUOTED)) {
    remember(secrets, m[1]!);
    try {
      remember(secrets, JSON.parse(`"${m[1]}"`) as string);
    } catch {
      // not a JSON string literal: the raw text is remembered already
    }
  }
  for (const m of text.matchAll(BARE)) remember(secrets, m[1]!);
  return REDACTED;
}

const FILTER_KEYS = new Set(["filter", "path"]);

/** A copy of a JSON value fit for the audit log: secrets redacted (and remembered), text storable. */
function redactValue(value: unknown, depth: number, secrets: Secrets): unknown {
  if (typeof value === "string") return storableText(value);
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "boolean" || value === null) return value;
  if (typeof value !== "object") return null;
  if (depth >= MAX_JSON_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, secrets));
  const entries = Object.entries(value);
  // A PATCH operation whose path names a secret: its value is the secret.
  const secretOperation = entries.some(([k, v]) => typeof v === "string" && k.length === 4 && k.toLowerCase() === "path" && namesSecret(v));
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    const lower = key.length <= 6 ? key.toLowerCase() : "";
    if (namesSecret(key) || (secretOperation && lower === "value")) {
      rememberAll(secrets, item);
      setOwn(out, storableText(key), REDACTED);
    } else if (typeof item === "string" && FILTER_KEYS.has(lower)) {
      setOwn(out, key, storableText(redactFilterText(item, secrets)));
    } else {
      setOwn(out, storableText(key), redactValue(item, depth + 1, secrets));
    }
  }
  return out;
}

function scrubText(text: string, secrets: Secrets): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
  return out;
}

/** The same value with every remembered secret cut out of its strings (keys included). */
function scrub(value: unknown, secrets: Secrets, depth = 0): unknown {
  if (secrets.size === 0) return value;
  if (typeof value === "string") return scrubText(value, secrets);
  if (value === null || typeof value !== "object" || depth >= MAX_JSON_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => scrub(item, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, scrubText(key, secrets), scrub(item, secrets, depth + 1));
  return out;
}

/** What is stored of a body: an object, or a marker when too large; undefined when empty. */
function stored(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > MAX_AUDIT_BODY_BYTES) return { truncated: true, bytes: size };
  return typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
}

/** The query string's secrets: parameters named like one, filters comparing one. */
function redactPath(path: string, secrets: Secrets): string {
  const text = storableText(path);
  const at = text.indexOf("?");
  if (at < 0) return scrubText(text, secrets);
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(text.slice(at + 1));
  } catch {
    return `${text.slice(0, at)}?${REDACTED}`;
  }
  let changed = false;
  const kept = new URLSearchParams();
  for (const [name, value] of query) {
    let next = namesSecret(name) ? REDACTED : redactFilterText(value, secrets);
    if (next === value) next = scrubText(value, secrets);
    changed ||= next !== value;
    kept.append(name, next);
  }
  // Untouched paths keep their exact text; redacted ones are re-encoded.
  return changed ? `${text.slice(0, at)}?${kept.toString()}` : text;
}

export interface AuditedCall {
  readonly path: string;
  readonly requestBody: Record<string, unknown> | undefined;
  readonly responseBody: Record<string, unknown> | undefined;
}

/**
 * What the audit log keeps of a call: secrets redacted from the request body and the query
 * string, then cut out of everything else (a refusal's detail may quote them); text made
 * storable; bodies bounded. Idempotent, so the core applies it again to what a facade sent.
 */
export function auditedCall(path: string, requestBody: unknown, responseBody: unknown): AuditedCall {
  const secrets: Secrets = new Set();
  const request = redactValue(requestBody ?? null, 0, secrets);
  const redactedPath = redactPath(path, secrets);
  const response = scrub(redactValue(responseBody ?? null, 0, secrets), secrets);
  return { path: redactedPath, requestBody: stored(scrub(request, secrets)), responseBody: stored(response) };
}
