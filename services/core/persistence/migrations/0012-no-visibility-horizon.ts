import { Migration } from "@mikro-orm/migrations";

// The relay reads committed, unpublished rows from outbox_pending and orders each subject by
// its cursor; it no longer waits for every older transaction to end (the visibility horizon),
// so the transaction ids it compared go.
export class Migration0012NoVisibilityHorizon extends Migration {
  override name = "0012-no-visibility-horizon";

  override up(): void {
    this.addSql(`
      CREATE OR REPLACE FUNCTION roster_outbox_pending() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO outbox_pending (seq, directory_id, subject_id, sequence, occurred_at)
        SELECT seq, directory_id, subject_id, sequence, occurred_at FROM added;
        RETURN NULL;
      END $$`);
    this.addSql(`ALTER TABLE outbox_pending DROP COLUMN txid`);
    this.addSql(`ALTER TABLE outbox_events DROP COLUMN txid`);
  }
}
