// SCIM over real HTTP for tests: a directory with its own bearer token, a small fetch
// wrapper that parses SCIM JSON, and readers for what was stored (rows and outbox events).
import { DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "./database.ts";
import type { TestRoster } from "./roster.ts";

export const SCIM_JSON = "application/scim+json";
export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";
export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
export const SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

export interface ScimResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // Tests read arbitrary SCIM JSON.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

export interface ScimRequestOptions {
  readonly headers?: Record<string, string>;
  /** Sent as is instead of JSON.stringify(body). */
  readonly raw?: string;
  /** Overrides the directory's token; null sends no Authorization header. */
  readonly token?: string | null;
}

export type ScimCall = (method: string, path: string, body?: unknown, options?: ScimRequestOptions) => Promise<ScimResult>;

export interface ScimDirectory {
  readonly id: string;
  readonly secret: string;
  readonly tokenId: string;
  readonly scim: ScimCall;
}

/** One SCIM request over real HTTP; `path` is below /scim/v2. */
export async function scimRequest(baseUrl: string, token: string | null, method: string, path: string, body?: unknown, options: ScimRequestOptions = {}): Promise<ScimResult> {
  const headers: Record<string, string> = { accept: SCIM_JSON, ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
  let payload: string | undefined = options.raw;
  if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers["content-type"] = SCIM_JSON;
  const response = await fetch(`${baseUrl}/scim/v2${path}`, { method, headers: { ...headers, ...options.headers }, body: payload });
  const text = await response.text();
  let parsed: unknown;
  if (text !== "") {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

let directoryCounter = 0;

export async function createScimDirectory(t: TestRoster, provider: ProviderKind, name = `dir ${++directoryCounter} ${ProviderKind[provider]}`): Promise<ScimDirectory> {
  const admin = t.client(DirectoryService);
  const { directory } = await admin.createDirectory({ name, provider });
  const { secret, token } = await admin.createScimToken({ directoryId: directory!.id, name: "idp" });
  return {
    id: directory!.id,
    secret,
    tokenId: token!.id,
    scim: (method, path, body, options = {}) => scimRequest(t.url, options.token === undefined ? secret : options.token, method, path, body, options),
  };
}

export interface EventRow {
  subject_type: string;
  subject_id: string;
  sequence: string;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: any;
  seq: string;
  directory_id: string;
}

/** A subject's events in sequence order. */
export async function eventsOf(t: TestRoster, subjectId: string): Promise<EventRow[]> {
  return queryDatabase<EventRow>(
    t.database.url,
    `SELECT seq, directory_id, subject_type, subject_id, sequence, type, payload FROM outbox_events WHERE subject_id = $1 ORDER BY sequence`,
    [subjectId],
  );
}

/** Throws unless the sequences run 1, 2, 3... and commit order (seq) follows them. */
export function checkContiguous(events: readonly EventRow[]): void {
  events.forEach((e, i) => {
    if (Number(e.sequence) !== i + 1) throw new Error(`subject ${e.subject_id}: event ${i} has sequence ${e.sequence}, expected ${i + 1}`);
    if (i > 0 && BigInt(e.seq) <= BigInt(events[i - 1]!.seq)) throw new Error(`subject ${e.subject_id}: sequence ${e.sequence} was written before ${i}`);
  });
}

export const patchOp = (...operations: unknown[]) => ({ schemas: [PATCH_OP], Operations: operations });
