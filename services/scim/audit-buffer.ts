// SCIM calls are audited off the request path: records are buffered and sent to the core
// in batches, so an audited call costs no extra round trip. Records buffered when the
// process dies are lost; the flush interval bounds how many.
//
// A batch the core cannot take now (unreachable, database down) is kept and sent again. A
// record the core refuses for what it holds is not: sending it again would fail again and
// hold back every record behind it, so it is dropped, counted and logged without content.
//
// Calls refused for their bearer token are not audited one row each (a client trying
// random tokens would fill the table): they are counted per client address over a window,
// and each address's window becomes one record.
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ScimAuditRecordSchema, type ScimAuditRecord } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { newId } from "../platform/ids.ts";
import type { Logger } from "../platform/logger.ts";
import type { JsonObject } from "../platform/scim/json.ts";
import type { CoreClient } from "./core-client.ts";

const FLUSH_INTERVAL_MS = 250;
const MAX_BATCH = 500;
// Beyond this many waiting records (the core unreachable for long) the oldest are dropped
// and counted, rather than growing memory without bound.
const MAX_BUFFERED = 50_000;
// Answers that refuse the content itself: the same records would be refused again.
const REFUSED = new Set([Code.InvalidArgument, Code.FailedPrecondition, Code.OutOfRange]);

const isRefusal = (error: unknown) => REFUSED.has(ConnectError.from(error).code);

/** One audited SCIM call, its bodies redacted already. */
export interface AuditedScimCall {
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

const bodyOf = (v: unknown) => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined);

function toRecord(call: AuditedScimCall): ScimAuditRecord {
  return create(ScimAuditRecordSchema, {
    id: call.id,
    directoryId: call.directoryId ?? "",
    requestId: call.requestId,
    method: call.method,
    path: call.path,
    status: call.status,
    scimType: call.scimType,
    latencyMs: call.latencyMs,
    time: timestampFromDate(call.at),
    requestBody: bodyOf(call.requestBody),
    responseBody: bodyOf(call.responseBody),
  });
}

/** How long refused calls of one address are counted into one record. */
export const REFUSED_AUTH_WINDOW_MS = 60_000;
// Addresses counted apart per window; refusals from any more are counted together under "*".
const MAX_REFUSED_ADDRESSES = 10_000;

/** One call refused for its bearer token (401), or refused more attempts (429). */
export interface RefusedAuthCall {
  readonly client: string;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly at: Date;
}

interface RefusedTally {
  readonly first: RefusedAuthCall;
  last: Date;
  unauthorized: number;
  limited: number;
}

export class AuditBuffer {
  private readonly core: CoreClient;
  private readonly logger: Logger;
  private buffer: ScimAuditRecord[] = [];
  /** Records lost to a full buffer, and records the core refused, since last logged. */
  private dropped = 0;
  private refused = 0;
  /** Set while the core cannot take records, so an outage is logged once, not every flush. */
  private failingSince: number | undefined;
  private refusedAuth = new Map<string, RefusedTally>();
  private refusedAuthSince = 0;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(core: CoreClient, logger: Logger) {
    this.core = core;
    this.logger = logger;
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  add(call: AuditedScimCall): void {
    this.buffer.push(toRecord(call));
    if (this.buffer.length > MAX_BUFFERED) {
      this.buffer.shift();
      this.dropped++;
    }
  }

  addRefusedAuth(call: RefusedAuthCall): void {
    if (this.refusedAuth.size === 0) this.refusedAuthSince = performance.now();
    const key = this.refusedAuth.has(call.client) || this.refusedAuth.size < MAX_REFUSED_ADDRESSES ? call.client : "*";
    let tally = this.refusedAuth.get(key);
    if (tally === undefined) {
      tally = { first: { ...call, client: key }, last: call.at, unauthorized: 0, limited: 0 };
      this.refusedAuth.set(key, tally);
    }
    tally.last = call.at;
    if (call.status === 429) tally.limited++;
    else tally.unauthorized++;
  }

  /** Sends what is buffered; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.closeRefusedAuthWindow();
    await this.flush();
  }

  /** One record per address of the window: its first call, with the counts as the body. */
  private closeRefusedAuthWindow(): void {
    const tallies = this.refusedAuth;
    this.refusedAuth = new Map();
    for (const { first, last, unauthorized, limited } of tallies.values()) {
      this.add({
        id: newId(),
        directoryId: null,
        requestId: first.requestId,
        method: first.method,
        path: first.path,
        status: first.status,
        scimType: "",
        latencyMs: 0,
        at: first.at,
        requestBody: undefined,
        responseBody: { refusedAuth: { client: first.client, unauthorized, limited, from: first.at.toISOString(), until: last.toISOString() } },
      });
    }
  }

  private async send(): Promise<void> {
    if (this.refusedAuth.size > 0 && performance.now() - this.refusedAuthSince >= REFUSED_AUTH_WINDOW_MS) this.closeRefusedAuthWindow();
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, MAX_BATCH);
      try {
        await this.core.appendScimAuditRecords({ records: batch });
      } catch (error) {
        if (!isRefusal(error)) return this.unavailable(error);
        // One of them is refused: find it by sending them one at a time.
        for (const record of batch) {
          try {
            await this.core.appendScimAuditRecords({ records: [record] });
          } catch (single) {
            if (!isRefusal(single)) return this.unavailable(single);
            this.refused++;
          }
          this.buffer.shift();
        }
        continue;
      }
      this.buffer.splice(0, batch.length);
      if (this.failingSince !== undefined) {
        this.logger.info({ failedForMs: Date.now() - this.failingSince }, "SCIM audit records are stored again");
        this.failingSince = undefined;
      }
    }
    if (this.dropped > 0) {
      this.logger.error({ dropped: this.dropped }, "SCIM audit records dropped while the core was unreachable");
      this.dropped = 0;
    }
    if (this.refused > 0) {
      this.logger.error({ refused: this.refused }, "SCIM audit records the core refused were dropped");
      this.refused = 0;
    }
  }

  private unavailable(error: unknown): void {
    if (this.failingSince !== undefined) return;
    this.failingSince = Date.now();
    this.logger.warn({ err: error, waiting: this.buffer.length }, "could not store SCIM audit records; will retry");
  }
}
