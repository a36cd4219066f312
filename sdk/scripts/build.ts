// Builds @roster/sdk: dist/ gets the compiled hand-written layer and a copy of the generated
// code (the compiled modules import it as ./gen/...), so the published package needs only dist/.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
cpSync(path.join(root, "src", "gen"), path.join(dist, "gen"), { recursive: true });
// tsc keeps ".ts" specifiers of type-only imports in declarations; older TypeScript
// consumers resolve only ".js" ones.
for (const name of readdirSync(dist)) {
  if (!name.endsWith(".d.ts")) continue;
  const file = path.join(dist, name);
  writeFileSync(file, readFileSync(file, "utf8").replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2"));
}
console.log(`built ${path.relative(process.cwd(), dist) || "."}`);
