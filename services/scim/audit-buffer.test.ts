import { describe, expect, it } from "vitest";
import { createLogger } from "../platform/logger.ts";
import { AuditBuffer } from "./audit-buffer.ts";
import type { CoreClient } from "./core-client.ts";

function collectingCore() {
  const stored: Array<{ directoryId: string; responseBody?: unknown }> = [];
  const core = {
    appendScimAuditRecords: async ({ records }: { records: Array<{ directoryId: string; responseBody?: unknown }> }) => {
      stored.push(...records);
      return {};
    },
  } as unknown as CoreClient;
  return { core, stored };
}

describe("AuditBuffer refused-auth records", () => {
  it("keeps one record per address and window, and a bounded number under 100,000 addresses", async () => {
    const { core, stored } = collectingCore();
    const buffer = new AuditBuffer(core, createLogger("silent"));
    const at = new Date();
    for (let i = 0; i < 100_000; i++) {
      const client = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      buffer.addRefusedAuth({ client, requestId: `r${i}`, method: "GET", path: "/Users", status: 401, at });
      buffer.addRefusedAuth({ client, requestId: `s${i}`, method: "GET", path: "/Users", status: 429, at });
    }
    await buffer.close();
    expect(stored.length).toBe(10_001);
    expect(stored.every((r) => r.directoryId === "")).toBe(true);
    const counts = stored.map((r) => JSON.stringify(r.responseBody));
    expect(counts.filter((c) => c.includes('"unauthorized":1,"limited":1'))).toHaveLength(10_000);
    // Every address beyond the bound is counted together.
    expect(counts.find((c) => c.includes('"client":"*"'))).toContain('"unauthorized":90000,"limited":90000');
  });
});
