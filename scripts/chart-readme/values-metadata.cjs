// Turns the `# --` comments of the chart's values.yaml (the description right above each value,
// as helm-docs writes them) into the `## @param` / `## @section` metadata that Bitnami's
// readme-generator-for-helm reads, and prints values.yaml with that metadata appended. The
// values file itself keeps its comments as they are; scripts/chart-readme.sh feeds this output
// to the generator.
//
// - A value with a `# --` comment gets it as its description.
// - A map or list documented as a whole (e.g. `resources`) is shown as a row of its own, and
//   each of its entries as a row pointing to it, with its default.
// - A value with neither its own comment nor a documented parent gets no metadata, so the
//   generator fails naming it ("Missing metadata for key"): every value must be documented.
// - Each top-level map is a section (its plain comment paragraph right above, if any, is the
//   section's description); top-level scalars go to "Global parameters".
//
// Usage: node values-metadata.cjs values.yaml > annotated-values.yaml
'use strict';

const fs = require('fs');
const YAML = require('yaml');
const dot = require('dot-object');

const valuesPath = process.argv[2];
const text = fs.readFileSync(valuesPath, 'utf8');
const doc = YAML.parseDocument(text);

// The comment block above a key, split into its `-- ` description and the plain paragraph
// before it (banners of `=` dropped).
function parseComment(comment) {
  if (!comment) return { description: null, prose: null };
  const lines = comment.split('\n').map((l) => l.replace(/^ ?/, '').trimEnd());
  let start = -1;
  lines.forEach((l, i) => { if (/^--(\s|$)/.test(l)) start = i; });
  const paragraph = (from, to) => lines.slice(from, to).filter((l) => !/^=+$/.test(l.trim()));
  if (start < 0) {
    // the last paragraph (after the last empty line)
    let from = lines.length;
    while (from > 0 && lines[from - 1].trim() !== '') from -= 1;
    const prose = paragraph(from, lines.length).join(' ').trim();
    return { description: null, prose: prose || null };
  }
  let end = start + 1;
  while (end < lines.length && lines[end].trim() !== '') end += 1;
  const description = [lines[start].replace(/^--\s?/, '')].concat(lines.slice(start + 1, end).map((l) => l.trim()));
  return { description: description.join(' ').trim(), prose: null };
}

// One line of Markdown table text: pipes escaped, and `<name>` outside code spans written so that
// it is not taken for an HTML tag.
const clean = (s) => s.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')
  .split('`').map((part, i) => (i % 2 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;'))).join('`');

// key path -> { description, prose } for every map key in the file
const comments = new Map();
function walk(node, path) {
  if (!YAML.isMap(node)) return;
  node.items.forEach((pair, i) => {
    const key = String(pair.key.value);
    let comment = pair.key.commentBefore;
    // yaml attaches the comment above a map's first key to the map itself
    if (i === 0 && !comment) comment = node.commentBefore;
    const p = path.concat(key);
    comments.set(p.join('.'), parseComment(comment));
    walk(pair.value, p);
  });
}
walk(doc.contents, []);

// The leaves as the generator sees them: dot-object paths, a list of strings as one value.
const values = doc.toJS();
const leaves = [];
for (const p of Object.keys(dot.dot(values))) {
  const plainList = p.replace(/\[\d+\].*$/, '');
  if (p !== plainList) {
    const list = dot.pick(plainList, values);
    if (Array.isArray(list) && list.every((e) => typeof e === 'string')) {
      if (!leaves.includes(plainList)) leaves.push(plainList);
      continue;
    }
  }
  leaves.push(p);
}

// The map keys a leaf path goes through (`a.b[0].c` -> a, a.b, ...), longest last.
function ancestors(leaf) {
  const keys = [];
  let cur = '';
  for (const part of leaf.split(/\.(?![^[]*\])/)) {
    const name = part.replace(/\[\d+\].*$/, '');
    cur = cur ? `${cur}.${name}` : name;
    keys.push(cur);
    if (name !== part) break; // inside a list: the rest is the list's content
  }
  return keys;
}

const sections = new Map(); // title -> { prose, lines }
function section(title, prose) {
  if (!sections.has(title)) sections.set(title, { prose: prose || '', lines: [] });
  return sections.get(title);
}
section('Global parameters', 'Settings shared by the whole release.');
const extras = new Set();
for (const leaf of leaves) {
  const keys = ancestors(leaf);
  const top = keys[0];
  const isTopScalar = keys.length === 1 && leaf === top;
  const sec = isTopScalar
    ? section('Global parameters')
    : section(`${top} parameters`, (comments.get(top) || {}).prose || (comments.get(top) || {}).description);
  const own = keys[keys.length - 1] === leaf ? comments.get(leaf) : null;
  if (own && own.description) {
    sec.lines.push(`## @param ${leaf} ${clean(own.description)}`);
    continue;
  }
  // the nearest documented map or list above it
  const documented = keys.slice(0, -1).reverse().concat(leaf === keys[keys.length - 1] ? [] : [keys[keys.length - 1]])
    .filter((k) => k !== leaf)
    .sort((a, b) => b.length - a.length)
    .find((k) => comments.get(k) && comments.get(k).description);
  if (!documented) continue; // no metadata: the generator reports it as missing
  if (!extras.has(documented)) {
    extras.add(documented);
    sec.lines.push(`## @extra ${documented} ${clean(comments.get(documented).description)}`);
  }
  sec.lines.push(`## @param ${leaf} Part of \`${documented}\`.`);
}

const out = [text.trimEnd(), '', '## Metadata for readme-generator-for-helm, generated by scripts/chart-readme/values-metadata.cjs'];
for (const [title, { prose, lines }] of sections) {
  if (lines.length === 0) continue;
  out.push(`## @section ${title}`);
  if (prose) out.push(`## @descriptionStart`, `## ${clean(prose)}`, '## @descriptionEnd');
  out.push(...lines);
}
process.stdout.write(`${out.join('\n')}\n`);
