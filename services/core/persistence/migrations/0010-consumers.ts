import { Migration } from "@mikro-orm/migrations";

// Registered consumers and their revocation progress. A consumer is named per directory, or
// globally (directory_id NULL). `acknowledged_position` is what it has applied;
// `judged_through` how far its leavers have been judged against the objective (each leaver
// that misses it is counted once, in objective_missed_users, and in the metric).
//
// Leavers between two positions are read from event_positions (by position, per directory)
// joined to outbox_events by key: no index of their own.
export class Migration0010Consumers extends Migration {
  override name = "0010-consumers";

  override up(): void {
    this.addSql(`
      CREATE TABLE consumers (
        id uuid PRIMARY KEY,
        directory_id uuid REFERENCES directories (id),
        name text NOT NULL,
        owner text NOT NULL,
        objective_seconds integer NOT NULL,
        kafka_group_id text,
        acknowledged_position bigint NOT NULL,
        acknowledged_at timestamptz,
        judged_through bigint NOT NULL,
        revoked_users bigint NOT NULL DEFAULT 0,
        revocation_seconds_sum double precision NOT NULL DEFAULT 0,
        revocation_seconds_max double precision NOT NULL DEFAULT 0,
        objective_missed_users bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    this.addSql(`CREATE UNIQUE INDEX consumers_directory_name ON consumers (directory_id, name) WHERE directory_id IS NOT NULL`);
    this.addSql(`CREATE UNIQUE INDEX consumers_global_name ON consumers (name) WHERE directory_id IS NULL`);
  }
}
