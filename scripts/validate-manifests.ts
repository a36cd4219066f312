// Validates deploy/kubernetes/*.yaml against the Kubernetes API schemas (kubernetes-models,
// generated from the OpenAPI spec), and checks what the project promises of them: every
// Deployment has readiness and liveness probes and runs as non-root.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";

type Model = { validate(): void };
const MODELS: Record<string, new (data: never) => Model> = {
  "v1/ConfigMap": ConfigMap as never,
  "v1/Service": Service as never,
  "apps/v1/Deployment": Deployment as never,
  "batch/v1/Job": Job as never,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as never,
};

interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: { template?: { spec?: { securityContext?: { runAsNonRoot?: boolean }; containers?: Array<{ readinessProbe?: unknown; livenessProbe?: unknown }> } } };
}

const dir = path.resolve(import.meta.dirname, "../deploy/kubernetes");
const problems: string[] = [];
let count = 0;
for (const file of (await readdir(dir)).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of parseAllDocuments(await readFile(path.join(dir, file), "utf8"))) {
    if (doc.errors.length > 0) {
      problems.push(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const manifest = doc.toJSON() as Manifest | null;
    if (manifest === null) continue;
    count++;
    const key = `${manifest.apiVersion}/${manifest.kind}`;
    const where = `${file}: ${key} ${manifest.metadata?.name ?? "?"}`;
    const Model = MODELS[key];
    if (!Model) {
      problems.push(`${where}: no schema known for this kind`);
      continue;
    }
    try {
      new Model(manifest as never).validate();
    } catch (error) {
      problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (manifest.kind === "Deployment") {
      const pod = manifest.spec?.template?.spec;
      if (pod?.securityContext?.runAsNonRoot !== true) problems.push(`${where}: must run as non-root`);
      for (const c of pod?.containers ?? []) {
        if (!c.readinessProbe || !c.livenessProbe) problems.push(`${where}: every container needs readiness and liveness probes`);
      }
    }
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join("\n")}\n`);
  process.exit(1);
}
process.stdout.write(`${count} Kubernetes manifests valid\n`);
