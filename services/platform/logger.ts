import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

// Structured JSON logs. Secrets never reach a log: tokens are redacted by path as a second
// line of defence, and code logs ids, never secrets.
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "roster" },
    // pg attaches the whole client to errors of idle connections (err.client: its
    // connection parameters and backend cancel key): never serialised.
    serializers: { err: serializeError },
    redact: {
      paths: ["authorization", "*.authorization", "secret", "*.secret", "token", "*.token", "password", "*.password"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { client: _client, ...serialised } = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  return serialised;
}
