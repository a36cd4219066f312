// The relay's figures in the process's Prometheus registry (services/platform/metrics.ts):
// publish rate and errors as they happen, leadership and outbox lag refreshed every second,
// and the deprovisioning latency (commit of a deactivation or deletion to Kafka's ack).
import type { Metrics } from "../platform/metrics.ts";
import type { Relay, RelayObserver } from "./relay.ts";

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
    metrics.outboxLagEvents.set(m.lagCount);
    metrics.outboxLagSeconds.set(m.lagSeconds);
  }, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}
