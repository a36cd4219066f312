// SCIM calls are audited off the request path: records are buffered and sent to the core
// in batches, so an audited call costs no extra round trip. Records buffered when the
// process dies are lost; the flush interval bounds how many.
//
// Calls refused for their bearer token are not audited one row each (a client trying
// random tokens would fill the table): they are counted per client address over a window,
// and each address's window becomes one record.
import type { AuditRecord } from "../core/domain/audit.ts";
import { newId } from "../core/domain/ids.ts";
import { auditRecordToPb } from "../core/transport/convert.ts";
import type { Logger } from "../platform/logger.ts";
import type { CoreClient } from "./core-client.ts";

const FLUSH_INTERVAL_MS = 250;
const MAX_BATCH = 500;
// Beyond this many waiting records (the core unreachable for long) the oldest are dropped
// and counted, rather than growing memory without bound.
const MAX_BUFFERED = 50_000;
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
  private buffer: AuditRecord[] = [];
  private dropped = 0;
  private refused = new Map<string, RefusedTally>();
  private refusedSince = 0;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(core: CoreClient, logger: Logger) {
    this.core = core;
    this.logger = logger;
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  add(record: AuditRecord): void {
    this.buffer.push(record);
    if (this.buffer.length > MAX_BUFFERED) {
      this.buffer.shift();
      this.dropped++;
    }
  }

  addRefusedAuth(call: RefusedAuthCall): void {
    if (this.refused.size === 0) this.refusedSince = performance.now();
    const key = this.refused.has(call.client) || this.refused.size < MAX_REFUSED_ADDRESSES ? call.client : "*";
    let tally = this.refused.get(key);
    if (tally === undefined) {
      tally = { first: { ...call, client: key }, last: call.at, unauthorized: 0, limited: 0 };
      this.refused.set(key, tally);
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
    this.closeRefusedWindow();
    await this.flush();
  }

  /** One record per address of the window: its first call, with the counts as the body. */
  private closeRefusedWindow(): void {
    const tallies = this.refused;
    this.refused = new Map();
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
    if (this.refused.size > 0 && performance.now() - this.refusedSince >= REFUSED_AUTH_WINDOW_MS) this.closeRefusedWindow();
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, MAX_BATCH);
      try {
        await this.core.appendScimAuditRecords({ records: batch.map(auditRecordToPb) });
        this.buffer.splice(0, batch.length);
      } catch (error) {
        this.logger.warn({ err: error, waiting: this.buffer.length }, "could not store SCIM audit records; will retry");
        return;
      }
    }
    if (this.dropped > 0) {
      this.logger.error({ dropped: this.dropped }, "SCIM audit records dropped while the core was unreachable");
      this.dropped = 0;
    }
  }
}
