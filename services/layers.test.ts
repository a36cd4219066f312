// The layer rules `npm run lint` enforces (eslint.config.js, docs/architecture.md): a
// forbidden import fails the lint, an allowed one does not. Linted as if the code were a file
// at the given path, through ESLint's own API and the repository's configuration.
import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const eslint = new ESLint({ cwd: ROOT });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("layer rules", () => {
  it.each([
    ["the facade into the core", "services/scim/new.ts", `import { applyPatch } from "../core/domain/scim/patch.ts";`, "the facade reaches the core only through the generated contract"],
    ["the facade into the core's transport", "services/scim/new.ts", `export { toConnectError } from "../core/transport/errors.ts";`, "the SCIM facade must not import services/core/transport/errors.ts"],
    ["a dynamic import into another service", "services/scim/new.ts", `await import("../relay/relay.ts");`, "the SCIM facade must not import services/relay/relay.ts"],
    ["the domain into storage", "services/core/domain/new.ts", `import type { Sql } from "../persistence/sql.ts";`, "the domain knows nothing of use cases, storage or transports"],
    ["the domain into a framework", "services/core/domain/new.ts", `import { Entity } from "@mikro-orm/core";`, "the domain knows no framework"],
    ["the domain into the platform's server", "services/core/domain/new.ts", `import type { Logger } from "../../platform/logger.ts";`, "of the platform, the domain uses only its plain libraries"],
    ["a use case into a transport", "services/core/application/new.ts", `import { toConnectError } from "../transport/errors.ts";`, "use cases reach storage through their ports"],
    ["storage into a transport", "services/core/persistence/new.ts", `import { eventToPb } from "../transport/event-codec.ts";`, "storage never imports a transport"],
    ["the core into the relay", "services/core/transport/new.ts", `import { startRelay } from "../../relay/index.ts";`, "no service imports another service's internals"],
    ["the relay into the core", "services/relay/new.ts", `import { eventToPb } from "../core/transport/event-codec.ts";`, "no service imports another service's internals"],
    ["mapping into the core's storage", "services/mapping/transport/new.ts", `import { OrmStore } from "../../core/persistence/store.ts";\nexport { OrmStore };`, "mapping uses the core's domain and ports only"],
    ["the platform into a service", "services/platform/scim/new.ts", `import { NotFoundError } from "../../core/domain/errors.ts";`, "the platform is below every service"],
    ["a raw database client in the service", "services/relay/new.ts", `import pg from "pg";\nexport const pool = new pg.Pool();`, "MikroORM is the only database access"],
    ["a raw database client's types in the service", "services/event-log/new.ts", `import type { Pool } from "pg";\nexport type Db = Pool;`, "MikroORM is the only database access"],
    ["the event log read around its module", "services/relay/new.ts", "const sql = `SELECT * FROM outbox_events o JOIN event_positions p USING (seq)`;", "reach the event log through"],
  ])("fails on %s", async (_what, file, code, expected) => {
    const found = await problems(file, code);
    expect(found.some((p) => p.includes(expected)), found.join("\n")).toBe(true);
  });

  it.each([
    ["the facade on the contract and the platform", "services/scim/new.ts", `import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";\nimport { parseFilter } from "../platform/scim/filter.ts";\nexport { DirectoryService, parseFilter };`],
    ["the domain on the platform's SCIM library", "services/core/domain/new.ts", `import { parseFilter } from "../../platform/scim/filter.ts";\nexport { parseFilter };`],
    ["the LISTEN/NOTIFY connection on pg", "services/platform/notifier.ts", `import pg from "pg";\nexport const client = new pg.Client();`],
    ["a use case on the domain and its ports", "services/core/application/new.ts", `import type { Store } from "./store.ts";\nimport { checkId } from "../domain/directory.ts";\nexport type { Store };\nexport { checkId };`],
  ])("passes %s", async (_what, file, code) => {
    expect(await problems(file, code)).toEqual([]);
  });
});
