import { randomBytes } from "node:crypto";

/** The broker the tests use: KAFKA_BROKERS, or the project's script's default port. */
export function testKafkaBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}
