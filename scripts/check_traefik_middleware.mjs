// Validates rendered Traefik Middleware objects (JSON files, one object each) with the validator
// that npm @kubernetes-models/traefik generated from Traefik v3's CRD schema (types, enums,
// required fields), and refuses fields that schema does not declare, as the API server's strict
// field validation would: the package's validator allows unknown fields, so the declared ones
// are read from its type declarations (the `"field"?:` members of each interface we use).
//
// Usage: node check_traefik_middleware.mjs <node_modules dir> file.json...
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
const pkg = join(modules, "@kubernetes-models", "traefik", "traefik.io", "v1alpha1");
const { Middleware } = await import(pathToFileURL(join(pkg, "Middleware.js")).href);

function declared(type) {
  const text = readFileSync(join(pkg, `${type}.d.ts`), "utf8");
  return new Set([...text.matchAll(/^ {4}"([A-Za-z0-9]+)"\??:/gm)].map((m) => m[1]));
}

// Where our objects have nested fields: the object path and the type declaring its fields.
const SHAPES = [
  [[], "Middleware"],
  [["spec"], "MiddlewareSpec"],
  [["spec", "forwardAuth"], "ForwardAuth"],
];

let failed = 0;
for (const file of files) {
  const object = JSON.parse(readFileSync(file, "utf8"));
  const problems = [];
  try {
    new Middleware(object).validate();
  } catch (e) {
    problems.push(e.message);
  }
  for (const [path, type] of SHAPES) {
    const node = path.reduce((o, k) => (o == null ? o : o[k]), object);
    if (node == null || typeof node !== "object") continue;
    const known = declared(type);
    for (const key of Object.keys(node)) {
      if (!known.has(key)) problems.push(`${["", ...path].join("/")}/${key}: not a field of ${type}`);
    }
  }
  if (problems.length) {
    failed++;
    console.log(`${file}: ${problems.join("; ")}`);
  } else {
    console.log(`${file}: ok`);
  }
}
process.exit(failed ? 1 : 0);
