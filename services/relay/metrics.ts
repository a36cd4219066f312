// The relay's figures in the process's Prometheus registry (services/platform/metrics.ts):
// publish rate and errors as they happen, leadership refreshed every second, the
// deprovisioning latency (commit of a deactivation or deletion to Kafka's ack), and the
// outbox lag, which every process with the database reports from the database itself: an
// alert on lag must fire when no relay is alive to report it.
import type { Sql } from "../platform/sql.ts";
import type { Logger } from "../platform/logger.ts";
import type { Metrics, OutboxFigures } from "../platform/metrics.ts";
import { lagFigures } from "../event-log/index.ts";
import type { Relay, RelayObserver } from "./relay.ts";

/** How long one measurement of the lag serves scrapes. */
const LAG_CACHE_MS = 5_000;
/** A scrape never waits longer than this for the database. */
const LAG_TIMEOUT_MS = 2_000;

const DEPROVISIONING = new Set(["user.deactivated", "user.deleted"]);

export function relayObserver(metrics: Metrics): RelayObserver {
  return {
    published(batch, ackedAt) {
      metrics.relayPublished.inc(batch.length);
      for (const e of batch) {
        if (DEPROVISIONING.has(e.type)) metrics.deprovisioningLatency.observe(Math.max(0, ackedAt - e.occurredAt.getTime()) / 1000);
      }
    },
    failed(kind) {
      metrics.relayErrors.inc({ kind });
    },
  };
}

/** Copies the relay's gauges into the registry every second; returns the stopper. */
export function exportRelayGauges(relay: Relay, metrics: Metrics): () => void {
  const timer = setInterval(() => {
    const m = relay.metrics();
    metrics.relayActive.set(m.leader ? 1 : 0);
  }, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The lag figures from the database, measured at most every LAG_CACHE_MS whatever the scrape
 * rate (concurrent scrapes share one query). A failed or slow measurement keeps the last
 * figures (NaN before the first), and is logged.
 */
export function cachedLagReader(sql: Sql, logger: Logger, cacheMs = LAG_CACHE_MS): () => Promise<OutboxFigures> {
  let last: OutboxFigures = { unpublished: Number.NaN, lagSeconds: Number.NaN, parked: Number.NaN };
  let measuredAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<OutboxFigures> | undefined;
  const measure = async (): Promise<OutboxFigures> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const f = await Promise.race([
        lagFigures(sql),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${LAG_TIMEOUT_MS} ms`)), LAG_TIMEOUT_MS);
        }),
      ]);
      last = { unpublished: f.unpublished, lagSeconds: f.oldestUnpublishedAgeSeconds, parked: f.parked };
      measuredAt = performance.now();
    } catch (error) {
      logger.warn({ err: error }, "measuring the outbox lag failed; the lag gauges keep their last figures");
    } finally {
      clearTimeout(timer);
      pending = undefined;
    }
    return last;
  };
  return () => {
    if (performance.now() - measuredAt < cacheMs) return Promise.resolve(last);
    pending ??= measure();
    return pending;
  };
}
