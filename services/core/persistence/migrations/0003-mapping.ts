import { Migration } from "@mikro-orm/migrations";

// Attribute and role mapping: the directory's overrides (its current version), every
// version's effective rules (immutable, for remaps and audit), and remap jobs.
export class Migration0003Mapping extends Migration {
  override name = "0003-mapping";

  override up(): void {
    this.addSql(`
      CREATE TABLE mappings (
        directory_id uuid PRIMARY KEY REFERENCES directories(id),
        overrides jsonb NOT NULL,
        role_rules jsonb NOT NULL,
        version bigint NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    this.addSql(`
      CREATE TABLE mapping_versions (
        directory_id uuid NOT NULL REFERENCES directories(id),
        version bigint NOT NULL,
        rules jsonb NOT NULL,
        role_rules jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (directory_id, version)
      )`);
    this.addSql(`
      CREATE TABLE remap_jobs (
        id uuid PRIMARY KEY,
        directory_id uuid NOT NULL REFERENCES directories(id),
        state text NOT NULL,
        from_segments jsonb NOT NULL,
        to_version bigint NOT NULL,
        cursor uuid,
        users_total bigint NOT NULL,
        users_processed bigint NOT NULL,
        users_changed bigint NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        error text
      )`);
    this.addSql(`CREATE INDEX remap_jobs_directory_started ON remap_jobs (directory_id, started_at DESC, id DESC)`);
    // At most one running job per directory.
    this.addSql(`CREATE UNIQUE INDEX remap_jobs_one_running ON remap_jobs (directory_id) WHERE state = 'running'`);
    // The remap walks a directory's live users in id order, in batches.
    this.addSql(`CREATE INDEX users_directory_live_id ON users (directory_id, id) WHERE deleted_at IS NULL`);
  }
}
