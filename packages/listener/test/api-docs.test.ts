// docs/listener.md is the reference of the package's public API: every member,
// method, limit and export it lists must exist on the real package, and every
// public one the package has must be listed. (The types are pinned at compile
// time by api.types.ts.)
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as api from '../src/index.js';
import { startListener } from './fixtures/fake-launcher.js';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/listener.md', import.meta.url)), 'utf8');
const indexSource = readFileSync(fileURLToPath(new URL('../src/index.ts', import.meta.url)), 'utf8');

/** The text of the `## title` section of docs/listener.md. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/listener.md has no section "${title}"`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** The names in the first column of the tables of a section: `name`, `name(args)`, `a`, `b`. */
function firstColumnNames(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const cell = /^\| ([^|]+) \|/.exec(line)?.[1];
    if (cell === undefined) continue;
    for (const m of cell.matchAll(/`([A-Za-z_$][\w$]*)(?:\([^`]*\))?`/g)) names.push(m[1]!);
  }
  return names;
}

/** Backticked names after `label:` in a paragraph of the Exports section. */
function exportList(label: 'Values' | 'Types'): string[] {
  const para = section('Exports')
    .split('\n')
    .find((l) => l.startsWith(`${label}: `));
  if (para === undefined) throw new Error(`no "${label}:" paragraph in the Exports section`);
  // Only the names themselves, not the unions in parentheses after some of them.
  return [...para.replace(/\([^)]*\)/g, '').matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((m) => m[1]!);
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

t.test('the Exports section lists exactly the run-time exports of the package', async (t) => {
  t.same(sorted(exportList('Values')), sorted(Object.keys(api)));
});

t.test('the Exports section lists exactly the type exports of src/index.ts', async (t) => {
  const typeExports = [...indexSource.matchAll(/\btype ([A-Za-z_$][\w$]*)/g)].map((m) => m[1]!);
  t.ok(typeExports.length > 20, 'found the type exports in src/index.ts');
  t.same(sorted(exportList('Types')), sorted(typeExports));
});

t.test('every member listed under "Other members" and "Events" exists on a listener, and every public member is listed', async (t) => {
  const listener = await startListener();
  t.teardown(() => listener.close());
  const documented = [...firstColumnNames(section('Other members')), 'register', 'control'];
  const eventsText = section('Events');
  for (const m of eventsText.matchAll(/`(on|once|off|listenerCount)\(/g)) documented.push(m[1]!);
  t.same(sorted(documented.filter((name) => !(name in listener))), [], 'documented members missing from the instance');

  const publicNames = new Set<string>(Object.keys(listener));
  for (
    let proto: object | null = Object.getPrototypeOf(listener);
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) publicNames.add(name);
  }
  publicNames.delete('constructor');
  publicNames.delete('emit'); // protected: the listener's own events only
  t.same(sorted([...publicNames].filter((name) => !documented.includes(name))), [], 'public members missing from docs/listener.md');
});

t.test('the Control table lists exactly the methods of a KernelControl', async (t) => {
  const listener = await startListener();
  t.teardown(() => listener.close());
  const control = listener.control('some-kernel');
  const methods = Object.keys(control).filter((k) => typeof (control as unknown as Record<string, unknown>)[k] === 'function');
  t.same(sorted(firstColumnNames(section('Control'))), sorted(methods));
});

t.test('the ListenerLimits table lists exactly the keys of DEFAULT_LIMITS, with their defaults', async (t) => {
  const rows = section('`ResponseListener.start(options)`')
    .split('\n')
    .map((l) => /^\| `(\w+)` \| (\d+) \|/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [m[1]!, Number(m[2])] as const);
  t.same(Object.fromEntries(rows), { ...api.DEFAULT_LIMITS });
});

t.test('every CONTROL_SIGNALS name is accepted by signal() and another name is a typed failure', async (t) => {
  const listener = await startListener();
  t.teardown(() => listener.close());
  const control = listener.control('never-launched');
  for (const name of api.CONTROL_SIGNALS) {
    const r = await control.signal(name);
    // Valid names pass validation and fail only for want of a launcher.
    t.equal(!r.ok && r.error.code, 'GL_ERR_CONTROL_UNAVAILABLE', name);
  }
  const untyped = control.signal as (name: string) => ReturnType<api.KernelControl['signal']>;
  const bad = await untyped('SIGNOPE');
  t.equal(!bad.ok && bad.error.code, 'GL_ERR_CONTROL_REQUEST_INVALID');
  t.ok(!bad.ok && api.isGatewayError(bad.error), 'a GatewayError');
});
