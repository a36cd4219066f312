// Builds @roster/sdk: dist/ gets the compiled hand-written layer (the root and ./testing).
// The generated code is shipped once, in src/gen (also the "@roster/sdk/gen/*" subpaths):
// compiled modules import it there, so a message class or enum is the same object whichever
// path a consumer imports it from.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const distGen = path.join(dist, "gen");
const srcGen = path.join(root, "src", "gen");
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });

// Relative specifiers in `from "..."` and `import("...")`.
const SPECIFIER = /(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\2/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(js|d\.ts)$/.test(entry.name)) continue;
  const file = path.join(entry.parentPath, entry.name);
  const dir = path.dirname(file);
  const text = readFileSync(file, "utf8").replace(SPECIFIER, (_all, lead: string, quote: string, specifier: string) => {
    let target = path.resolve(dir, specifier);
    if (target.startsWith(distGen + path.sep)) target = path.join(srcGen, path.relative(distGen, target));
    // tsc keeps ".ts" specifiers of type-only imports in declarations; older TypeScript
    // consumers resolve only ".js" ones.
    target = target.replace(/\.ts$/, ".js");
    let relative = path.relative(dir, target).split(path.sep).join("/");
    if (!relative.startsWith(".")) relative = `./${relative}`;
    return `${lead}${quote}${relative}${quote}`;
  });
  writeFileSync(file, text);
}
console.log(`built ${path.relative(process.cwd(), dist) || "."}`);
