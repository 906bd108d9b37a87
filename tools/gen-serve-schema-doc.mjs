#!/usr/bin/env node
// Renders the "JSON Schemas" section of docs/listener-serve.md from
// packages/listener/serve-schema.json: one heading and JSON block per schema in
// $defs, in order, after the marker comment. A test
// (packages/listener/test/serve-schema.test.ts) checks that they agree.
//   node tools/gen-serve-schema-doc.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const DOC = `${root}docs/listener-serve.md`;
const SCHEMA = `${root}packages/listener/serve-schema.json`;
const MARKER = '<!-- The schema blocks below are the $defs of packages/listener/serve-schema.json, in order; a test compares them. -->';

const doc = readFileSync(DOC, 'utf8');
const at = doc.indexOf(MARKER);
if (at < 0) {
  console.error(`gen-serve-schema-doc: marker not found in ${DOC}`);
  process.exit(1);
}
const schema = JSON.parse(readFileSync(SCHEMA, 'utf8'));
const blocks = Object.entries(schema.$defs).map(([name, s]) => `#### \`${name}\`\n\n\`\`\`json\n${JSON.stringify(s, null, 2)}\n\`\`\`\n`);
writeFileSync(DOC, `${doc.slice(0, at + MARKER.length)}\n\n${blocks.join('\n')}`);
