import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

// Errors are logged through one serializer that keeps what identifies a failure and drops
// what carries data. Postgres errors hold the values of the statement that failed (`detail`,
// `where` with a JSON snippet, `hint`, the query and its parameters), libraries copy them
// into `message` (MikroORM appends detail and hint), and other messages quote input too
// (JSON.parse): of any error, only its type, code, the names of the database objects
// involved, its frames and its message's first line, quoted text elided, are kept.
const KEPT_DATABASE_FIELDS = ["severity", "table", "column", "constraint", "schema", "dataType", "routine"] as const;
const MAX_MESSAGE = 500;
const MAX_CAUSES = 3;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The first line, quoted text elided (`"..."`, `'...'`), bounded. */
function safeMessage(message: string): string {
  const first = message.split("\n", 1)[0]!;
  return first.replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'").slice(0, MAX_MESSAGE);
}

function sqlStateOf(error: Record<string, unknown>): string | undefined {
  for (const candidate of [error.sqlState, error.code]) if (typeof candidate === "string" && SQLSTATE.test(candidate)) return candidate;
  return undefined;
}

function serializeError(error: unknown, depth = 0): Record<string, unknown> {
  if (error === null || typeof error !== "object") return { type: typeof error, message: safeMessage(String(error)) };
  const e = error as Record<string, unknown>;
  const type = typeof e.name === "string" ? e.name : (error.constructor?.name ?? "Error");
  const rawMessage = typeof e.message === "string" ? e.message : "";
  const sqlState = sqlStateOf(e);
  const message = safeMessage(rawMessage);
  const out: Record<string, unknown> = { type, message };
  if (e.code !== undefined && (typeof e.code === "string" || typeof e.code === "number")) out.code = e.code;
  if (sqlState !== undefined) {
    out.sqlState = sqlState;
    for (const field of KEPT_DATABASE_FIELDS) if (typeof e[field] === "string") out[field] = e[field];
  }
  // The stack's first lines repeat the message: only the frames are kept.
  if (typeof e.stack === "string") {
    const frames = e.stack.split("\n").filter((line) => line.trimStart().startsWith("at "));
    out.stack = [`${type}: ${message}`, ...frames].join("\n");
  }
  if (e.cause !== undefined && depth < MAX_CAUSES) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

// Structured JSON logs. Secrets never reach a log: tokens are redacted by path as a second
// line of defence, and code logs ids, never secrets.
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "roster" },
    serializers: { err: (error: unknown) => serializeError(error), error: (error: unknown) => serializeError(error) },
    redact: {
      paths: ["authorization", "*.authorization", "secret", "*.secret", "token", "*.token", "password", "*.password"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
