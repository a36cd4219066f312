import { Migration } from "@mikro-orm/migrations";

// The brake on mass deprovisioning. `deprovisioning_brakes` holds a directory's policy and
// its hold (persisted: a hold survives restarts and binds every replica); its row is also the
// per-directory lock deprovisioning transactions take. `deprovisioning_counts` counts
// deprovisions in 10-second buckets, updated in the deprovision's own transaction, so the
// count in a window is a sum over at most a few thousand rows whatever the directory's size.
export class Migration0008DeprovisioningBrake extends Migration {
  override name = "0008-deprovisioning-brake";

  override up(): void {
    this.addSql(`
      CREATE TABLE deprovisioning_brakes (
        directory_id uuid PRIMARY KEY REFERENCES directories (id),
        mode text NOT NULL,
        window_seconds integer NOT NULL,
        max_deprovisions integer NOT NULL,
        max_share_percent integer NOT NULL,
        group_wipe_percent integer NOT NULL,
        held_since timestamptz,
        held_reason text NOT NULL DEFAULT '',
        released_until timestamptz,
        alerted_at timestamptz,
        sequence bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL
      )`);
    this.addSql(`
      CREATE TABLE deprovisioning_counts (
        directory_id uuid NOT NULL REFERENCES directories (id),
        bucket timestamptz NOT NULL,
        count integer NOT NULL,
        PRIMARY KEY (directory_id, bucket)
      )`);
  }
}
