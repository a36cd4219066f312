// SCIM calls are audited off the request path: records are buffered and sent to the core
// in batches, so an audited call costs no extra round trip. Records buffered when the
// process dies are lost; the flush interval bounds how many.
//
// A batch the core cannot take now (unreachable, database down) is kept and sent again. A
// record the core refuses for what it holds is not: sending it again would fail again and
// hold back every record behind it, so it is dropped, counted and logged without content.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ScimAuditRecord } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { AuditRecord } from "../core/domain/audit.ts";
import { auditRecordToPb } from "../core/transport/convert.ts";
import type { Logger } from "../platform/logger.ts";
import type { CoreClient } from "./core-client.ts";

const FLUSH_INTERVAL_MS = 250;
const MAX_BATCH = 500;
// Beyond this many waiting records (the core unreachable for long) the oldest are dropped
// and counted, rather than growing memory without bound.
const MAX_BUFFERED = 50_000;
// Answers that refuse the content itself: the same records would be refused again.
const REFUSED = new Set([Code.InvalidArgument, Code.FailedPrecondition, Code.OutOfRange]);

const isRefusal = (error: unknown) => REFUSED.has(ConnectError.from(error).code);

export class AuditBuffer {
  private readonly core: CoreClient;
  private readonly logger: Logger;
  private buffer: ScimAuditRecord[] = [];
  /** Records lost to a full buffer, and records the core refused, since last logged. */
  private dropped = 0;
  private refused = 0;
  /** Set while the core cannot take records, so an outage is logged once, not every flush. */
  private failingSince: number | undefined;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(core: CoreClient, logger: Logger) {
    this.core = core;
    this.logger = logger;
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  add(record: AuditRecord): void {
    this.buffer.push(auditRecordToPb(record));
    if (this.buffer.length > MAX_BUFFERED) {
      this.buffer.shift();
      this.dropped++;
    }
  }

  /** Sends what is buffered; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async send(): Promise<void> {
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
