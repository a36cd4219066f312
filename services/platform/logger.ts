import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

// Structured JSON logs. Secrets never reach a log: tokens are redacted by path as a second
// line of defence, and code logs ids, never secrets.
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "roster" },
    redact: {
      paths: ["authorization", "*.authorization", "secret", "*.secret", "token", "*.token", "password", "*.password"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
