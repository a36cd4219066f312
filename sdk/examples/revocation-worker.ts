// Access revocation: when a user is deactivated or deleted, revoke their sessions and
// grants in your system. Follows the event stream, persists its cursor after each handled
// event (so a restart resumes without loss), and stops loudly on a sequence gap.
//
// It reads every event, not only the leavers: a type filter makes each subject's sequence
// sparse, which turns gap checking off, and a missed deactivation is exactly the gap that
// matters here. The cursor file is written atomically, and a file that cannot be read stops
// the worker instead of starting over (which would revoke everyone again).
//
// It acknowledges what it has handled to Roster as the registered consumer ROSTER_CONSUMER
// (default "revocation-worker"), so Roster measures its revocation latency and lists the
// leavers it has not revoked in time. Register it once, with its objective:
//
//   roster consumers register --directory <id> --name revocation-worker --owner security --objective 300
//   ROSTER_URL=http://127.0.0.1:8080 ROSTER_API_KEY=rst_key_... ROSTER_DIRECTORY_ID=... \
//     node sdk/examples/revocation-worker.ts
//
// In your service, import from "@roster/sdk" instead of "../src/index.ts".
import { fileURLToPath } from "node:url";
import {
  createRosterClients,
  fileCursorStore,
  isEvent,
  subscribe,
  SequenceGapError,
  type AcknowledgeOptions,
  type CursorStore,
  type RosterClients,
  type User,
} from "../src/index.ts";

export interface Revoker {
  /** Must be idempotent: an event may be handled again after a crash before its cursor was saved. */
  revoke(user: User, reason: "deactivated" | "deleted" | "no_roles"): Promise<void>;
}

export async function runRevocationWorker(options: {
  events: RosterClients["events"];
  directoryId: string;
  revoker: Revoker;
  cursors: CursorStore;
  signal?: AbortSignal;
  /** Reports each handled event to Roster as a registered consumer. */
  acknowledge?: AcknowledgeOptions;
}): Promise<void> {
  const stream = subscribe(options.events, {
    directoryId: options.directoryId,
    cursor: await options.cursors.load(),
    signal: options.signal,
    acknowledge: options.acknowledge,
  });
  for await (const { event, cursor } of stream) {
    // The leavers, as Roster counts them: deactivated, deleted, or left without any role.
    if (isEvent(event, "userDeactivated", "userDeleted") && event.payload.value.user) {
      await options.revoker.revoke(event.payload.value.user, event.payload.case === "userDeleted" ? "deleted" : "deactivated");
    } else if (isEvent(event, "userRolesChanged") && event.payload.value.user && event.payload.value.roles.length === 0 && event.payload.value.removedRoles.length > 0) {
      await options.revoker.revoke(event.payload.value.user, "no_roles");
    }
    await options.cursors.save(cursor);
  }
}

function env(name: string): string {
  // eslint-disable-next-line no-restricted-properties -- a standalone example configured by its environment
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

// Run directly (not imported). import.meta.main would need Node 24.2.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const clients = createRosterClients({ baseUrl: env("ROSTER_URL"), apiKey: env("ROSTER_API_KEY") });
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  runRevocationWorker({
    events: clients.events,
    directoryId: env("ROSTER_DIRECTORY_ID"),
    cursors: fileCursorStore(".revocation-cursor"),
    signal: controller.signal,
    acknowledge: {
      client: clients.consumers,
      // eslint-disable-next-line no-restricted-properties -- a standalone example configured by its environment
      consumer: process.env.ROSTER_CONSUMER || "revocation-worker",
      // Not fatal: the next report carries the progress again (e.g. after a Roster restart).
      onError: (error) => console.error(`acknowledgement failed, sent again with the next: ${error instanceof Error ? error.message : String(error)}`),
    },
    revoker: {
      async revoke(user, reason) {
        console.log(`revoking access of ${user.userName} (${user.id}): ${reason}`);
      },
    },
  }).catch((error: unknown) => {
    if (error instanceof SequenceGapError) console.error(`events missing for ${error.subjectId}: ${error.expected}..${error.received - 1n}`);
    else console.error(error);
    process.exitCode = 1;
  });
}
