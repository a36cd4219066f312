// For tests: MappingService as the real server serves it, with a small remap batch so that
// batching is exercised.
import type { Client } from "@connectrpc/connect";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { startTestRoster, type TestRoster } from "../../testing/roster.ts";

export interface MappingServer {
  readonly t: TestRoster;
  readonly client: Client<typeof MappingService>;
  stop(): Promise<void>;
}

export async function serveMapping(env: Record<string, string> = {}): Promise<MappingServer> {
  const t = await startTestRoster({ ROSTER_REMAP_BATCH_SIZE: "7", ...env });
  return { t, client: t.client(MappingService), stop: () => t.stop() };
}
