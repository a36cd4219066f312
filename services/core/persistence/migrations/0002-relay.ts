import { Migration } from "@mikro-orm/migrations";

// The relay's state: one lease row per relay group (holder, fencing epoch, expiry, and the
// last global position assigned), and the last published sequence of every subject (what
// the relay holds a subject back against, kept after published rows are cleaned up).
export class Migration0002Relay extends Migration {
  override name = "0002-relay";

  override up(): void {
    this.addSql(`
      CREATE TABLE relay_leases (
        name text PRIMARY KEY,
        holder text,
        epoch bigint NOT NULL DEFAULT 0,
        expires_at timestamptz NOT NULL DEFAULT '-infinity',
        position bigint NOT NULL DEFAULT 0
      )`);
    this.addSql(`
      CREATE TABLE relay_subject_cursors (
        subject_id uuid PRIMARY KEY,
        sequence bigint NOT NULL
      )`);
    // Replay-window cleanup walks published rows by age.
    this.addSql(`CREATE INDEX outbox_events_published_at ON outbox_events (published_at) WHERE position IS NOT NULL`);
    // A wake-up hint for the relay, sent at commit (once per channel and payload per
    // transaction); the relay still polls, so a lost notification only costs latency.
    this.addSql(`
      CREATE FUNCTION roster_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('roster_outbox', '');
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
        FOR EACH STATEMENT EXECUTE FUNCTION roster_outbox_notify()`);
  }
}
