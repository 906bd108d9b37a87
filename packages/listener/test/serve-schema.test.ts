/**
 * The JSON Schemas of `gateway-listener serve` (packages/listener/serve-schema.json):
 * docs/listener-serve.md shows the same schemas, every method and
 * notification has one, the schema stays inside the subset the test validator
 * implements, and the validator does refuse what the schemas forbid (so that
 * "every message validates" in the process tests means something).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Schema, SchemaValidator } from './fixtures/json-schema.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const schemaFile = JSON.parse(readFileSync(join(ROOT, 'packages', 'listener', 'serve-schema.json'), 'utf8')) as Schema & {
  $defs: Record<string, Schema>;
};
const v = new SchemaValidator(schemaFile);

const METHODS = ['register', 'cancel', 'control', 'adopt', 'forget', 'controlTarget', 'stats', 'close'];
const NOTIFICATIONS = [
  'ready',
  'connection-info',
  'launch-failed',
  'launch-timeout',
  'registration-ended',
  'kernel-exit',
  'response-rejected',
];

t.test('docs/listener-serve.md shows exactly the schemas of serve-schema.json, in order', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'listener-serve.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## JSON Schemas'));
  const blocks = [...section.matchAll(/^#### `([^`]+)`\n\n```json\n([\s\S]*?)\n```$/gm)].map(
    (m) => [m[1], JSON.parse(m[2] as string)] as const,
  );
  t.same(
    blocks.map(([name]) => name),
    Object.keys(schemaFile.$defs),
    'the same names in the same order (regenerate: node tools/gen-serve-schema-doc.mjs)',
  );
  for (const [name, schema] of blocks) t.same(schema, schemaFile.$defs[name as string], `${name} agrees`);
  t.equal(schemaFile.$schema, 'https://json-schema.org/draft/2020-12/schema', 'draft 2020-12');
});

t.test('every method has a request and a result schema, every notification a schema', async (t) => {
  const names = Object.keys(schemaFile.$defs);
  t.same(
    names
      .filter((n) => n.endsWith('.request'))
      .map((n) => n.slice(0, -8))
      .sort(),
    [...METHODS].sort(),
  );
  t.same(
    names
      .filter((n) => n.endsWith('.result'))
      .map((n) => n.slice(0, -7))
      .sort(),
    [...METHODS].sort(),
  );
  t.same(
    names
      .filter((n) => n.endsWith('.notification'))
      .map((n) => n.slice(0, -13))
      .sort(),
    [...NOTIFICATIONS].sort(),
  );
  t.ok(names.includes('error.response'));
  const doc = readFileSync(join(ROOT, 'docs', 'listener-serve.md'), 'utf8');
  for (const m of [...METHODS, ...NOTIFICATIONS]) t.match(doc, new RegExp(`\\| \`${m}\` \\|`), `${m} is in a table of the doc`);
});

t.test('the schema file uses only the keywords the test validator implements', async (t) => {
  const allowed = new Set([
    '$schema',
    'title',
    'description',
    '$defs',
    'type',
    'properties',
    'required',
    'additionalProperties',
    'items',
    'enum',
    'const',
    'oneOf',
    '$ref',
    'pattern',
    'minimum',
    'maximum',
    'minLength',
    'maxLength',
  ]);
  const found = new Set<string>();
  const walk = (node: unknown, mapOfSchemas: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, false));
    if (typeof node !== 'object' || node === null) return;
    for (const [k, val] of Object.entries(node)) {
      if (!mapOfSchemas) found.add(k);
      if (k === 'enum' || k === 'const' || k === 'required') continue;
      walk(val, !mapOfSchemas && (k === 'properties' || k === '$defs'));
    }
  };
  walk(schemaFile, false);
  t.same(
    [...found].filter((k) => !allowed.has(k)),
    [],
  );
  for (const name of v.names) t.doesNotThrow(() => v.validate(name, {}), `${name}: its $refs resolve`);
});

t.test('the validator refuses what the schemas forbid', async (t) => {
  const target = { kernel_id: 'k1', protocol: 2, host: '10.0.0.9', comm_port: 40006, launcher_public_key: 'q8Zt' };
  const info = {
    shell_port: 40001,
    iopub_port: 40002,
    stdin_port: 40003,
    control_port: 40004,
    hb_port: 40005,
    ip: '10.0.0.9',
    transport: 'tcp',
    key: 'k',
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3',
  };
  const ci = {
    jsonrpc: '2.0',
    method: 'connection-info',
    params: {
      kernel_id: 'k1',
      protocol: 2,
      transport: 'ws',
      connection_info: info,
      comm_port: 40006,
      pid: 1,
      pgid: 1,
      mode: 'direct',
      control_target: target,
    },
  };
  t.same(v.validate('connection-info.notification', ci), [], 'a valid connection-info passes');
  t.not(
    v.validate('connection-info.notification', { ...ci, params: { ...ci.params, connection_info: { ...info, key: undefined } } }).length,
    0,
    'without a key: refused',
  );
  t.not(
    v.validate('connection-info.notification', { ...ci, params: { ...ci.params, mode: 'other' } }).length,
    0,
    'an unknown mode: refused',
  );
  t.not(v.validate('connection-info.notification', { ...ci, params: { ...ci.params, token: 'x' } }).length, 0, 'an extra member: refused');
  t.not(
    v.validate('connection-info.notification', { ...ci, params: { ...ci.params, comm_port: 70000 } }).length,
    0,
    'a port out of range: refused',
  );
  t.not(
    v.validate('connection-info.notification', { ...ci, params: { ...ci.params, kernel_id: 'a b' } }).length,
    0,
    'a bad kernel id: refused',
  );
  const ok = { jsonrpc: '2.0', id: 1, result: { ok: true, route: 'websocket' } };
  t.same(v.validate('control.result', ok), []);
  t.same(v.validate('control.result', { ...ok, result: { ok: false, code: 'GL_ERR_CONTROL_FAILED', message: 'm' } }), []);
  t.not(
    v.validate('control.result', { ...ok, result: { ok: true, route: 'websocket', code: 'GL_ERR_X' } }).length,
    0,
    'neither branch of oneOf: refused',
  );
  t.not(v.validate('control.result', { ...ok, id: 1.5 }).length, 0, 'a fractional id: refused');
  t.same(v.validate('controlTarget.result', { jsonrpc: '2.0', id: 'a', result: { control_target: null } }), []);
  t.not(
    v.validate('controlTarget.result', { jsonrpc: '2.0', id: 'a', result: { control_target: { ...target, comm_port: '1' } } }).length,
    0,
  );
  t.not(v.validate('register.result', { jsonrpc: '2.0', id: 1, result: {} }).length, 0, 'missing members: refused');
  t.not(
    v.validate('error.response', { jsonrpc: '2.0', id: null, error: { code: -1, message: 'x' } }).length,
    0,
    'an error code serve does not use: refused',
  );
  t.not(v.validate('ready.notification', { jsonrpc: '1.0', method: 'ready', params: {} }).length, 0);
  t.not(
    v.validate('register.result', {
      jsonrpc: '2.0',
      id: 1,
      result: {
        kernel_id: 'k',
        protocol: 2,
        transport: 'tcp',
        response_address: 'a',
        public_key: 'p',
        port_range: '0..0',
        timeout_ms: 1,
        env: { KERNEL_ID: 'k', KERNEL_RESPONSE_ADDRESS: 'a', KERNEL_PUBLIC_KEY: 'p', KERNEL_PORT_RANGE: '0..0' },
        argv: ['a', 1],
      },
    }).length,
    0,
    'a non-string argv item: refused',
  );
});
