// `roster` administration commands. They work on the database directly (DATABASE_URL, or
// the embedded one under the data directory, reusing it if the service is running).
import { parseArgs } from "node:util";
import pg from "pg";
import { loadConfig, type Config } from "./config.ts";
import { migrate, openOrm, startEmbeddedPostgres, type Orm } from "./core/persistence/database.ts";
import { OrmStore } from "./core/persistence/store.ts";
import { DirectoryUseCases } from "./core/application/directories.ts";
import { DomainError } from "./core/domain/errors.ts";

const USAGE = `usage: roster <command> [options]

  migrate                                   apply pending database migrations
  api-key create --name NAME --scope admin|read
  api-key list
  api-key revoke ID
  directory create --name NAME --provider okta|entra|google|onelogin|jumpcloud|generic [--strict]
  directory list
  scim-token create --directory ID [--name NAME]
  scim-token list --directory ID
  scim-token revoke --directory ID ID
`;

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function withDatabase<T>(config: Config, fn: (orm: Orm) => Promise<T>): Promise<T> {
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (url === undefined) {
    const running = `postgres://postgres:postgres@127.0.0.1:${config.embeddedPostgresPort}/postgres`;
    if (await reachable(running)) {
      url = running;
    } else {
      const embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort);
      url = embedded.url;
      stopEmbedded = () => embedded.stop();
    }
  }
  const orm = await openOrm(url, { poolMax: 2 });
  try {
    await migrate(orm);
    return await fn(orm);
  } finally {
    await orm.close();
    await stopEmbedded?.();
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export async function runCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      scope: { type: "string" },
      provider: { type: "string" },
      directory: { type: "string" },
      strict: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const config = loadConfig();
  const need = (value: string | undefined, flag: string): string => {
    if (value === undefined) throw new UsageError(`${command} ${sub ?? ""}: ${flag} is required`);
    return value;
  };
  return withDatabase(config, async (orm) => {
    const directories = new DirectoryUseCases(new OrmStore(orm));
    switch (`${command} ${sub ?? ""}`.trim()) {
      case "migrate":
        process.stdout.write("migrations applied\n");
        return 0;
      case "api-key create": {
        const scope = need(values.scope, "--scope");
        if (scope !== "admin" && scope !== "read") throw new UsageError("--scope must be admin or read");
        const { key, secret } = await directories.createApiKey(need(values.name, "--name"), scope);
        print({ key, secret });
        process.stderr.write("The secret is shown once; store it now.\n");
        return 0;
      }
      case "api-key list":
        print(await directories.listApiKeys());
        return 0;
      case "api-key revoke":
        print(await directories.revokeApiKey(need(arg, "ID")));
        return 0;
      case "directory create":
        print(await directories.createDirectory({ name: need(values.name, "--name"), provider: need(values.provider, "--provider"), strict: values.strict }));
        return 0;
      case "directory list": {
        const all = [];
        let token = "";
        do {
          const page = await directories.listDirectories(200, token);
          all.push(...page.items);
          token = page.nextPageToken;
        } while (token !== "");
        print(all);
        return 0;
      }
      case "scim-token create": {
        const { token, secret } = await directories.createScimToken(need(values.directory, "--directory"), values.name ?? "scim");
        print({ token, secret });
        process.stderr.write("The secret is shown once; give it to the IdP now.\n");
        return 0;
      }
      case "scim-token list":
        print(await directories.listScimTokens(need(values.directory, "--directory")));
        return 0;
      case "scim-token revoke":
        print(await directories.revokeScimToken(need(values.directory, "--directory"), need(arg, "ID")));
        return 0;
      default:
        throw new UsageError(`unknown command "${positionals.join(" ")}"`);
    }
  });
}

class UsageError extends Error {}

if (import.meta.main) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError || error instanceof DomainError) {
        process.stderr.write(`roster: ${error.message}\n${error instanceof UsageError ? USAGE : ""}`);
        process.exit(2);
      }
      process.stderr.write(`roster: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
