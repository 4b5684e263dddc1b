/**
 * Reading the sweep field: comma-separated values of one parameter, one job-array task each.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */
import type { ParameterValue } from '../types';
import { valueFromInput } from './literal';

export type SweepResult = { ok: true; values: ParameterValue[] } | { ok: false; error: string };

/** Split `text` at commas that are not inside quotes or brackets. */
export function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') {
        current += c + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === quote) {
        quote = null;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if ('([{'.includes(c)) {
      depth++;
    } else if (')]}'.includes(c)) {
      depth = Math.max(0, depth - 1);
    } else if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * The values of a sweep: `0.1, 0.01, 0.001` or `adam, 'sgd', [1, 2]`.
 *
 * Each value is read like a parameter field (a Python literal, or bare text as a string); empty
 * items (`1,,2`, a trailing comma) are ignored. At least one value is required and values must
 * be distinct, since each becomes one task of the job array.
 */
export function parseSweepValues(text: string): SweepResult {
  const items = splitTopLevel(text)
    .map(item => item.trim())
    .filter(item => item !== '');
  if (items.length === 0) {
    return { ok: false, error: 'give at least one value, separated by commas (e.g. 0.1, 0.01)' };
  }
  const values: ParameterValue[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const result = valueFromInput(item);
    if (!result.ok) {
      return { ok: false, error: result.error };
    }
    const key = JSON.stringify(result.value);
    if (seen.has(key)) {
      return { ok: false, error: `${item} is listed twice; each value runs once` };
    }
    seen.add(key);
    values.push(result.value);
  }
  return { ok: true, values };
}
