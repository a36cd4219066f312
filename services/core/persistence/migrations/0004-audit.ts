import { Migration } from "@mikro-orm/migrations";

export class Migration0004Audit extends Migration {
  override name = "0004-audit";

  override up(): void {
    this.addSql(`
      CREATE TABLE scim_audit (
        id uuid PRIMARY KEY,
        directory_id uuid,
        request_id text NOT NULL,
        method text NOT NULL,
        path text NOT NULL,
        status integer NOT NULL,
        scim_type text NOT NULL DEFAULT '',
        latency_ms integer NOT NULL,
        at timestamptz NOT NULL,
        request_body jsonb,
        response_body jsonb
      )`);
    this.addSql(`CREATE INDEX scim_audit_directory_at ON scim_audit (directory_id, at DESC, id DESC)`);
    this.addSql(`CREATE INDEX scim_audit_at ON scim_audit (at)`);
  }
}
