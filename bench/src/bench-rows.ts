/**
 * Rows of the bench's two tables, which section modules return and the
 * bench's main prints and writes: the Results table of docs/benchmarks.md
 * (launch, load, proxy: measurement, median, target, status) and the targets
 * table spliced between its `<!-- bench:targets -->` markers (every other section).
 *
 * @module
 */

/** One line of the Results table: measurement, median (min–max), target, status (`met`, `**missed**` or empty). */
export type ResultRow = readonly [measurement: string, value: string, target: string, status: string];

/** `met` or a bold `**missed**`, the Results table's status cell. */
export const status = (met: boolean): string => (met ? 'met' : '**missed**');

/** The Results rows as a fixed-width console table. */
export function resultsText(rows: readonly ResultRow[]): string {
  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length)), 8, 10];
  const lines = [`${'measurement'.padEnd(w[0]!)}  ${'median (min–max)'.padEnd(w[1]!)}  ${'target'.padEnd(w[2]!)}  status`];
  for (const r of rows) lines.push(`${r[0].padEnd(w[0]!)}  ${r[1].padEnd(w[1]!)}  ${r[2].padEnd(w[2]!)}  ${r[3].replaceAll('*', '')}`);
  return lines.join('\n');
}

/** The Results rows as the body of a markdown table. */
export function resultsMarkdown(rows: readonly ResultRow[]): string {
  return rows.map((r) => `| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} |`).join('\n');
}

/** One measured figure with its target. */
export interface TargetRow {
  /** Section that measured it (`fairness`, `idle`, …). */
  readonly section: string;
  readonly metric: string;
  /** The measured value, formatted. */
  readonly value: string;
  /** The target, formatted. */
  readonly target: string;
  /** Whether the target is met; undefined when the figure could not be measured. */
  readonly met: boolean | undefined;
}

const verdict = (met: boolean | undefined): string => (met === undefined ? 'n/a' : met ? 'met' : 'missed');

/** The rows as a fixed-width console table. */
export function rowsText(rows: readonly TargetRow[]): string {
  const cells = rows.map((r) => [r.section, r.metric, r.value, r.target, verdict(r.met)]);
  const head = ['section', 'metric', 'value', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  return [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i] as number)).join('  ')).join('\n');
}

/** The rows as a markdown table. */
export function rowsMarkdown(rows: readonly TargetRow[]): string {
  const lines = ['| section | metric | value | target | |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.section} | ${r.metric} | ${r.value} | ${r.target} | ${verdict(r.met)} |`);
  return lines.join('\n');
}

const BEGIN = '<!-- bench:targets -->';
const END = '<!-- /bench:targets -->';

/**
 * Replaces the targets block of `doc` (between its markers) with `block`, or
 * appends it when the document has none yet.
 */
export function spliceTargets(doc: string, block: string): string {
  const wrapped = `${BEGIN}\n${block.replace(/\n+$/, '')}\n${END}`;
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a >= 0 && b > a) return `${doc.slice(0, a)}${wrapped}${doc.slice(b + END.length)}`;
  return `${doc.replace(/\n+$/, '')}\n\n${wrapped}\n`;
}
