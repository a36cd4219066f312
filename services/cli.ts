// `roster`: run the service (`serve`) and administer it. The administration commands work on
// the database directly (DATABASE_URL, or the embedded one under the data directory, reusing
// it if the service is running) and print JSON on stdout. Errors go to stderr: exit 2 for a
// usage or domain error (bad flag, unknown id, invalid value), 1 for anything else. Secrets
// are printed once, by the command that creates them, and never logged.
//
// The ORM, Kafka and logging modules are loaded only by the commands that use them, so
// `--help` and usage errors answer at once.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import type { Orm } from "./core/persistence/database.ts";
import type { Sql } from "./platform/sql.ts";
import type { OrmStore } from "./core/persistence/store.ts";
import type { DirectoryUseCases } from "./core/application/directories.ts";
import { checkId, type ApiKey, type Directory, type ScimToken } from "./core/domain/directory.ts";
import { DomainError } from "./core/domain/errors.ts";

const USAGE = `usage: roster <command> [options]

  serve [--roles core,scim,relay]           run the service (as npm start) with these roles
                                            (default: ROSTER_ROLES, else all three)
  migrate                                   apply pending database migrations
  api-key create --name NAME --scope admin|read [--directory ID]...
                                            limited to those directories; none: global
  api-key list
  api-key revoke ID
  directory create --name NAME --provider okta|entra|google|onelogin|jumpcloud|generic [--strict]
  directory list
  directory get ID
  directory suspend ID                      SCIM tokens of the directory stop working
  directory activate ID
  scim-token create --directory ID [--name NAME]
  scim-token list --directory ID
  scim-token revoke --directory ID ID
  outbox lag                                unpublished events, parked subjects, relay lease,
                                            stuck subjects
  outbox parked                             subjects whose events wait because the broker
                                            refused one of them for good
  outbox unpark --subject ID | --all        send a parked subject's events again (after
                                            fixing what made the broker refuse them)
  brake get --directory ID                  the deprovisioning brake: policy, hold, count
  brake set --directory ID --mode off|alert|hold [--window SECONDS] [--max-deprovisions N]
            [--max-share PERCENT] [--group-wipe PERCENT]
                                            set the policy (0 or absent: no such threshold)
  brake release --directory ID [--for SECONDS] [--note TEXT]
                                            lift a hold: once (the count restarts), or with
                                            --for, no threshold holds for that long
  brake keep --directory ID [--note TEXT]   keep the directory held (recorded)
  consumers register [--directory ID] --name NAME --owner OWNER --objective SECONDS [--kafka-group GROUP]
                                            register (or update) a consumer of the directory's
                                            events (no --directory: of every directory); with
                                            --kafka-group its group's committed offsets are its
                                            acknowledgement
  consumers list [--directory ID]           with acknowledged position and revocation figures
  consumers delete [--directory ID] --name NAME
  consumers unrevoked [--directory ID] --name NAME [--all]
                                            leavers the consumer has not acknowledged within its
                                            objective (--all: also those still within it),
                                            oldest first, at most 1000
  events replay --directory ID --subject ID [--from-sequence N]
                                            publish a user's or group's published events to
                                            Kafka again (same event ids; consumers dedupe)

Configuration comes from the environment (see docs/operations.md). Output is JSON.
Exit status: 0 success, 2 usage or domain error, 1 any other failure.
`;

class UsageError extends Error {}

/** What runCli returns for `serve`: the process keeps running until a signal stops it. */
const SERVING = "serving";

interface Session {
  readonly orm: Orm;
  readonly store: OrmStore;
  /** Migrations this invocation applied. */
  readonly applied: string[];
  readonly directories: DirectoryUseCases;
  readonly config: Config;
}

async function withDatabase<T>(config: Config, fn: (session: Session) => Promise<T>): Promise<T> {
  const { migrate, openOrm, startEmbeddedPostgres } = await import("./core/persistence/database.ts");
  const { OrmStore } = await import("./core/persistence/store.ts");
  const { storedEventMessage } = await import("./core/transport/event-codec.ts");
  const { mappingRepositories } = await import("./mapping/persistence/mapping-repository.ts");
  const { DirectoryUseCases } = await import("./core/application/directories.ts");
  let url = config.databaseUrl;
  let orm: Orm | undefined;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (url === undefined) {
    // The embedded Postgres of a running service, else one started for this command.
    url = `postgres://postgres:postgres@127.0.0.1:${config.embeddedPostgresPort}/postgres`;
    orm = await openOrm(url, { poolMax: 2, connectTimeoutMs: 1_000 });
    const running = await orm.connect().then(
      async () => (await orm!.checkConnection()).ok,
      () => false,
    );
    if (!running) {
      await orm.close();
      const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort);
      stopEmbedded = () => embedded.stop();
      url = embedded.url;
      orm = undefined;
    }
  }
  orm ??= await openOrm(url, { poolMax: 2 });
  try {
    const applied = await migrate(orm);
    const store = new OrmStore(orm, mappingRepositories, storedEventMessage);
    return await fn({ orm, store, applied, directories: new DirectoryUseCases(store), config });
  } finally {
    await orm.close();
    await stopEmbedded?.();
  }
}

/** The event log commands' statements (outbox, replay, the log head): on the session's ORM, outside any transaction. */
async function eventSql(orm: Orm): Promise<Sql> {
  const { sqlFor } = await import("./platform/sql.ts");
  return sqlFor(orm.em.fork());
}

// Directories, keys and tokens print as the API spells them (proto3 JSON: `createTime`,
// `PROVIDER_KIND_OKTA`, `SCOPE_ADMIN`...), so what the CLI shows is what a client reads.
// Loaded by the commands that print them, like everything heavy here.
async function apiForms() {
  const [{ toJson }, pb, convert] = await Promise.all([
    import("@bufbuild/protobuf"),
    import("@roster/sdk/gen/roster/directory/v1/directory_pb.js"),
    import("./core/transport/convert.ts"),
  ]);
  return {
    asDirectory: (d: Directory) => toJson(pb.DirectorySchema, convert.directoryToPb(d)),
    asApiKey: (k: ApiKey) => toJson(pb.ApiKeySchema, convert.apiKeyToPb(k)),
    asScimToken: (t: ScimToken) => toJson(pb.ScimTokenSchema, convert.scimTokenToPb(t)),
  };
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: "string" },
        scope: { type: "string" },
        provider: { type: "string" },
        // Repeatable for api-key create; once for the other commands.
        directory: { type: "string", multiple: true },
        subject: { type: "string" },
        "from-sequence": { type: "string" },
        mode: { type: "string" },
        window: { type: "string" },
        "max-deprovisions": { type: "string" },
        "max-share": { type: "string" },
        "group-wipe": { type: "string" },
        for: { type: "string" },
        note: { type: "string" },
        owner: { type: "string" },
        objective: { type: "string" },
        "kafka-group": { type: "string" },
        roles: { type: "string" },
        strict: { type: "boolean", default: false },
        all: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // Unknown option, missing option value: node's parseArgs throws a TypeError.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

type Handler = (session: Session) => Promise<void>;

async function runCli(argv: string[]): Promise<number | typeof SERVING> {
  const { values, positionals } = parse(argv);
  const [command, sub, arg, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === undefined) throw new UsageError("no command given");

  if (command === "serve") {
    if (sub !== undefined) throw new UsageError(`serve takes no arguments, got "${sub}"`);
    if (values.roles !== undefined) {
      // services/main.ts is the one way the service runs (signals, bootstrap admin key,
      // graceful shutdown), and it reads its configuration from the environment through
      // loadConfig(). --roles is therefore handed over as ROSTER_ROLES before main.ts is
      // loaded: the CLI is the only module that writes the environment, and only here.
      // eslint-disable-next-line no-restricted-properties
      process.env.ROSTER_ROLES = values.roles;
    }
    loadConfig(); // a bad --roles or variable is a usage error, reported before anything starts
    await import("./main.ts"); // resolves once the server listens; main.ts owns the process from here
    return SERVING;
  }

  const need = (value: string | undefined, what: string): string => {
    if (value === undefined || value === "") throw new UsageError(`${command} ${sub ?? ""}: ${what} is required`);
    return value;
  };
  const directoryOption = values.directory ?? [];
  if (directoryOption.length > 1 && `${command} ${sub ?? ""}` !== "api-key create") throw new UsageError("--directory may be given once here");
  const oneDirectory = directoryOption[0];
  const noMore = (): void => {
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  };

  /** A non-negative integer flag (the use case checks its range). */
  const count = (flag: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    if (!/^[0-9]{1,9}$/.test(raw)) throw new UsageError(`--${flag} must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 32))}`);
    return Number(raw);
  };
  const withBrake = (fn: (brake: import("./core/application/brake.ts").BrakeUseCases) => Promise<unknown>): Handler => async ({ store }) => {
    const { BrakeUseCases } = await import("./core/application/brake.ts");
    print(await fn(new BrakeUseCases(store)));
  };

  const withConsumers = (fn: (consumers: import("./core/application/consumers.ts").ConsumerUseCases) => Promise<unknown>): Handler => async ({ orm, directories }) => {
    const [{ ConsumerUseCases }, { ConsumerRepository }, { EventLog }] = await Promise.all([
      import("./core/application/consumers.ts"),
      import("./core/persistence/consumer-repository.ts"),
      import("./event-log/index.ts"),
    ]);
    const consumers = new ConsumerUseCases({
      store: new ConsumerRepository(orm),
      globalHead: async () => new EventLog(await eventSql(orm)).globalHeadPosition(),
      requireDirectory: async (id) => void (await directories.getDirectory(id)),
      latencyBuckets: [],
    });
    print(await fn(consumers));
  };
  const asConsumer = async (c: import("./core/domain/consumers.ts").Consumer) => {
    const [{ toJson }, { ConsumerSchema }, { consumerToPb }] = await Promise.all([
      import("@bufbuild/protobuf"),
      import("@roster/sdk/gen/roster/consumers/v1/consumers_pb.js"),
      import("./core/transport/consumer-service.ts"),
    ]);
    return toJson(ConsumerSchema, consumerToPb(c));
  };

  const commands: Record<string, () => Handler> = {
    "consumers register": () => {
      const name = need(values.name, "--name");
      const owner = need(values.owner, "--owner");
      const objectiveSeconds = count("objective", need(values.objective, "--objective"), 0);
      noMore();
      return withConsumers(async (consumers) =>
        asConsumer(await consumers.register({ directoryId: oneDirectory ?? "", name, owner, objectiveSeconds, kafkaGroupId: values["kafka-group"] ?? "" })),
      );
    },
    "consumers list": () => {
      noMore();
      return withConsumers(async (consumers) => Promise.all((await consumers.list(oneDirectory ?? "")).map(asConsumer)));
    },
    "consumers delete": () => {
      const name = need(values.name, "--name");
      noMore();
      return withConsumers(async (consumers) => {
        await consumers.delete(oneDirectory ?? "", name);
        return { deleted: name };
      });
    },
    "consumers unrevoked": () => {
      const name = need(values.name, "--name");
      noMore();
      return withConsumers(async (consumers) =>
        (await consumers.unrevoked(oneDirectory ?? "", name, { all: values.all, after: 0n, limit: 1000 })).map((u) => ({
          directoryId: u.directoryId,
          userId: u.userId,
          eventId: u.eventId,
          eventType: u.type,
          position: u.position.toString(),
          eventTime: u.occurredAt.toISOString(),
          waitingSeconds: Math.round(u.waitingSeconds),
          overdue: u.overdue,
        })),
      );
    },
    "brake get": () => {
      const directory = need(oneDirectory, "--directory");
      noMore();
      return withBrake((brake) => brake.get(directory));
    },
    "brake set": () => {
      const directory = need(oneDirectory, "--directory");
      const mode = need(values.mode, "--mode");
      if (mode !== "off" && mode !== "alert" && mode !== "hold") throw new UsageError("--mode must be off, alert or hold");
      const policy = {
        mode,
        windowSeconds: count("window", values.window, 60),
        maxDeprovisions: count("max-deprovisions", values["max-deprovisions"], 0),
        maxSharePercent: count("max-share", values["max-share"], 0),
        groupWipePercent: count("group-wipe", values["group-wipe"], 0),
      } as const;
      noMore();
      return withBrake((brake) => brake.setPolicy(directory, policy, "cli"));
    },
    "brake release": () => {
      const directory = need(oneDirectory, "--directory");
      noMore();
      const seconds = values.for === undefined ? undefined : count("for", values.for, 0);
      return withBrake((brake) => brake.decide(directory, seconds === undefined ? "release_once" : "release_for", seconds ?? 0, values.note ?? "", "cli"));
    },
    "brake keep": () => {
      const directory = need(oneDirectory, "--directory");
      noMore();
      return withBrake((brake) => brake.decide(directory, "keep", 0, values.note ?? "", "cli"));
    },
    migrate: () => async ({ applied }) => print({ applied }),
    "api-key create": () => {
      const scope = need(values.scope, "--scope");
      if (scope !== "admin" && scope !== "read") throw new UsageError("--scope must be admin or read");
      const name = need(values.name, "--name");
      return async ({ directories }) => {
        const { key, secret } = await directories.createApiKey(name, scope, directoryOption);
        print({ key: (await apiForms()).asApiKey(key), secret });
        process.stderr.write("The secret is shown once; store it now.\n");
      };
    },
    "api-key list": () => async ({ directories }) => print((await directories.listApiKeys()).map((await apiForms()).asApiKey)),
    "api-key revoke": () => {
      const id = need(arg, "ID");
      noMore();
      return async ({ directories }) => print((await apiForms()).asApiKey(await directories.revokeApiKey(id)));
    },
    "directory create": () => {
      const name = need(values.name, "--name");
      const provider = need(values.provider, "--provider");
      return async ({ directories }) => print((await apiForms()).asDirectory(await directories.createDirectory({ name, provider, strict: values.strict })));
    },
    "directory list": () => async ({ directories }) => {
      const all = [];
      let token = "";
      do {
        const page = await directories.listDirectories(200, token);
        all.push(...page.items);
        token = page.nextPageToken;
      } while (token !== "");
      print(all.map((await apiForms()).asDirectory));
    },
    "directory get": () => {
      const id = need(arg, "ID");
      noMore();
      return async ({ directories }) => print((await apiForms()).asDirectory(await directories.getDirectory(id)));
    },
    "directory suspend": () => {
      const id = need(arg, "ID");
      noMore();
      return async ({ directories }) => print((await apiForms()).asDirectory(await directories.updateDirectory({ id, state: "suspended" })));
    },
    "directory activate": () => {
      const id = need(arg, "ID");
      noMore();
      return async ({ directories }) => print((await apiForms()).asDirectory(await directories.updateDirectory({ id, state: "active" })));
    },
    "scim-token create": () => {
      const directory = need(oneDirectory, "--directory");
      return async ({ directories }) => {
        const { token, secret } = await directories.createScimToken(directory, values.name ?? "scim");
        print({ token: (await apiForms()).asScimToken(token), secret });
        process.stderr.write("The secret is shown once; give it to the IdP now.\n");
      };
    },
    "scim-token list": () => {
      const directory = need(oneDirectory, "--directory");
      return async ({ directories }) => print((await directories.listScimTokens(directory)).map((await apiForms()).asScimToken));
    },
    "scim-token revoke": () => {
      const directory = need(oneDirectory, "--directory");
      const id = need(arg, "ID");
      noMore();
      return async ({ directories }) => print((await apiForms()).asScimToken(await directories.revokeScimToken(directory, id)));
    },
    "outbox lag": () => {
      if (arg !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      return async ({ orm }) => {
        const { outboxLag } = await import("./relay/admin.ts");
        print(await outboxLag(await eventSql(orm)));
      };
    },
    "outbox parked": () => {
      if (arg !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      return async ({ orm }) => {
        const { parkedSubjects } = await import("./relay/admin.ts");
        print(await parkedSubjects(await eventSql(orm)));
      };
    },
    "outbox unpark": () => {
      if (arg !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      if (values.all === (values.subject !== undefined)) throw new UsageError("outbox unpark: give either --subject ID or --all");
      const which = values.all ? ("all" as const) : { subjectId: checkId("--subject", values.subject!) };
      return async ({ orm }) => {
        const { unpark } = await import("./relay/admin.ts");
        const result = await unpark(await eventSql(orm), which);
        print(result);
        if (result.unparked.length === 0) process.stderr.write("No such parked subject.\n");
      };
    },
    "events replay": () => {
      if (arg !== undefined) throw new UsageError(`unexpected argument "${arg}"`);
      const directoryId = checkId("--directory", need(oneDirectory, "--directory"));
      const subjectId = checkId("--subject", need(values.subject, "--subject"));
      const rawFrom = values["from-sequence"] ?? "1";
      if (!/^[1-9][0-9]{0,17}$/.test(rawFrom)) throw new UsageError(`--from-sequence must be a positive integer, got "${rawFrom}"`);
      const fromSequence = BigInt(rawFrom);
      return async ({ orm, directories, config }) => {
        if (config.kafka.brokers.length === 0) throw new ConfigError("events replay publishes to Kafka: set KAFKA_BROKERS");
        await directories.getDirectory(directoryId); // an unknown directory is an error, not "0 replayed"
        const [{ replaySubject }, { eventToPb }] = await Promise.all([import("./relay/admin.ts"), import("./core/transport/event-codec.ts")]);
        const { platformaticPublisher } = await import("./relay/platformatic-publisher.ts");
        const { createLogger } = await import("./platform/logger.ts");
        // The Kafka client's log lines go to stderr; stdout carries the JSON result only.
        const logger = createLogger(config.logLevel, process.stderr);
        const publisher = platformaticPublisher({
          brokers: config.kafka.brokers,
          clientId: `${config.kafka.clientId}-replay`,
          topics: [config.kafka.userTopic, config.kafka.groupTopic],
          partitions: config.kafka.topicPartitions,
          logger,
        });
        try {
          const result = await replaySubject(await eventSql(orm), publisher, {
            directoryId,
            subjectId,
            fromSequence,
            userTopic: config.kafka.userTopic,
            groupTopic: config.kafka.groupTopic,
            formats: config.kafka.formats,
            toEvent: eventToPb,
          });
          const { eventIds: _ids, ...summary } = result;
          print({ directoryId, subjectId, fromSequence: Number(fromSequence), ...summary });
          if (result.replayed === 0) {
            process.stderr.write("No published events to replay: wrong ids, or older than the replay window (ROSTER_EVENT_RETENTION_MS).\n");
          } else if (result.firstSequence !== Number(fromSequence)) {
            process.stderr.write(`Events before sequence ${result.firstSequence} are past the replay window and were not sent.\n`);
          }
        } finally {
          await publisher.close();
        }
      };
    },
  };

  const key = sub === undefined ? command : `${command} ${sub}`;
  const build = commands[key];
  if (build === undefined) throw new UsageError(`unknown command "${positionals.join(" ")}"`);
  // Flags are checked before the database is touched.
  const handler = build();
  const config = loadConfig();
  await withDatabase(config, handler);
  return 0;
}

// Run directly (not imported); import.meta.main would need Node 24.2.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      if (code !== SERVING) process.exit(code);
    },
    (error: unknown) => {
      if (error instanceof UsageError || error instanceof DomainError || error instanceof ConfigError) {
        process.stderr.write(`roster: ${error.message}\n${error instanceof UsageError ? `\n${USAGE}` : ""}`);
        process.exit(2);
      }
      process.stderr.write(`roster: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
