import { Migration } from "@mikro-orm/migrations";

// The outbox becomes append-only. Marking a batch published used to update every row (its
// position and publication time), and each update wrote a new version of the whole row into
// every index of outbox_events. Now publication state lives in two narrow tables:
//
// - outbox_pending: one row per unpublished event (filled by a statement trigger on insert,
//   so every writer of the outbox is covered), with the columns the relay chooses batches
//   by. Marking deletes rows here: no index is written.
// - event_positions: one row per published event, its global position, inserted by the
//   relay in one multi-row statement; what EventService reads the log in order by.
export class Migration0009EventPositions extends Migration {
  override name = "0009-event-positions";

  override up(): void {
    this.addSql(`
      CREATE TABLE outbox_pending (
        seq bigint PRIMARY KEY,
        directory_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        sequence bigint NOT NULL,
        occurred_at timestamptz NOT NULL,
        txid xid8 NOT NULL
      )`);
    // The relay shares batches among directories (index skip scan), walks a held subject's
    // rows in sequence order, and the lag gauges read the oldest unpublished event.
    this.addSql(`CREATE INDEX outbox_pending_directory ON outbox_pending (directory_id, seq)`);
    this.addSql(`CREATE INDEX outbox_pending_subject ON outbox_pending (subject_id, sequence)`);
    this.addSql(`CREATE INDEX outbox_pending_age ON outbox_pending (occurred_at)`);
    // A queue: every row is deleted soon after it is inserted. Vacuumed after a fixed number
    // of deletions, so the relay's index walks do not step over a drained backlog's dead rows.
    this.addSql(`ALTER TABLE outbox_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000)`);
    this.addSql(`
      CREATE TABLE event_positions (
        position bigint PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        directory_id uuid NOT NULL,
        published_at timestamptz NOT NULL DEFAULT now()
      )`);
    this.addSql(`CREATE INDEX event_positions_directory ON event_positions (directory_id, position)`);

    this.addSql(`
      INSERT INTO event_positions (position, seq, directory_id, published_at)
      SELECT position, seq, directory_id, coalesce(published_at, now()) FROM outbox_events WHERE position IS NOT NULL`);
    this.addSql(`
      INSERT INTO outbox_pending (seq, directory_id, subject_id, sequence, occurred_at, txid)
      SELECT seq, directory_id, subject_id, sequence, occurred_at, txid FROM outbox_events WHERE position IS NULL`);

    this.addSql(`
      CREATE FUNCTION roster_outbox_pending() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO outbox_pending (seq, directory_id, subject_id, sequence, occurred_at, txid)
        SELECT seq, directory_id, subject_id, sequence, occurred_at, txid FROM added;
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE TRIGGER outbox_events_pending AFTER INSERT ON outbox_events
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION roster_outbox_pending()`);

    // Their indexes go with them: outbox_events keeps its key, id and (subject_id, sequence).
    this.addSql(`ALTER TABLE outbox_events DROP COLUMN position, DROP COLUMN published_at`);
  }
}
