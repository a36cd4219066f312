import { pino, type Logger } from "pino";

export type { Logger };

// Structured JSON logs. Secrets never reach a log: tokens are redacted by path as a second
// line of defence, and code logs ids, never secrets.
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "roster" },
    redact: {
      paths: ["authorization", "*.authorization", "secret", "*.secret", "token", "*.token", "password", "*.password"],
      censor: "[redacted]",
    },
  });
}
