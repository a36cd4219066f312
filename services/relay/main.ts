// The relay alone, for deployments that run it apart from the core (and for the fault run):
// DATABASE_URL and the Kafka settings from the environment; SIGTERM releases the lease.
import { loadConfig } from "../config.ts";
import { openOrm } from "../core/persistence/database.ts";
import { eventToPb } from "../core/transport/event-codec.ts";
import { createLogger } from "../platform/logger.ts";
import { relayDatabase, startRelay } from "./index.ts";

const config = loadConfig();
const logger = createLogger(config.logLevel);
if (config.databaseUrl === undefined) {
  logger.fatal("the relay needs DATABASE_URL");
  process.exit(2);
}
const role = startRelay(config, { url: config.databaseUrl, orm: await openOrm(config.databaseUrl, relayDatabase(logger)) }, logger, eventToPb);
logger.info({ holder: role.relay.holder, userTopic: config.kafka.userTopic, groupTopic: config.kafka.groupTopic }, "relay started");
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    role.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
