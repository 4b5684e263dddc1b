/**
 * Reading a notebook's `parameters` cell (papermill's convention) to pre-fill the batch dialog.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */
import type { ParameterValue } from '../types';
import { readLiteral } from './literal';

/** The tag that marks the parameters cell (papermill's convention). */
export const PARAMETERS_TAG = 'parameters';

/** One `name = literal` line of a parameters cell. */
export interface IParameter {
  name: string;
  /** The value as JSON. */
  value: ParameterValue;
  /** The value as written in the notebook (shown in the form, compared to detect changes). */
  literal: string;
  /** A type annotation (`lr: float = 0.1` gives `float`), or null. */
  annotation: string | null;
  /** A trailing `# comment`, or null: shown as the field's help. */
  comment: string | null;
}

/** A line of the cell that is code but not a `name = literal` assignment. */
export interface ISkippedLine {
  line: number;
  text: string;
  reason: string;
}

export interface IParametersCell {
  parameters: IParameter[];
  skipped: ISkippedLine[];
}

const ASSIGNMENT =
  /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([^=#]+?)\s*)?=(?!=)\s*(.*)$/;

/**
 * The parameters of a cell's source (a string or nbformat's list of lines).
 *
 * Each top-level `name = literal` line (optionally `name: type = literal`, optionally followed
 * by `# comment`) is a parameter; a later assignment to the same name wins, as in Python.
 * Blank and comment-only lines are ignored; any other line (imports, expressions, indented or
 * multi-line values) is listed in `skipped` with the reason, and stays as written in the
 * notebook.
 */
export function parseParametersCell(source: string | readonly string[]): IParametersCell {
  const text = typeof source === 'string' ? source : source.join('');
  const byName = new Map<string, IParameter>();
  const skipped: ISkippedLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/\s+$/, '');
    if (!line.trim() || line.trim().startsWith('#')) {
      return;
    }
    const skip = (reason: string) => skipped.push({ line: index + 1, text: line, reason });
    if (/^\s/.test(line)) {
      skip('indented (part of a block or a multi-line value)');
      return;
    }
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      skip('not a `name = value` assignment');
      return;
    }
    const [, name, annotation, rest] = m;
    const literal = readLiteral(rest);
    if (!literal.ok) {
      skip(`the value is not a literal (${literal.error})`);
      return;
    }
    const after = rest.slice(literal.end).trim();
    if (after && !after.startsWith('#')) {
      skip(`unexpected ${JSON.stringify(after)} after the value`);
      return;
    }
    byName.delete(name); // a reassignment moves the name to its last position
    byName.set(name, {
      name,
      value: literal.value,
      literal: rest.slice(0, literal.end).trim(),
      annotation: annotation ?? null,
      comment: after ? after.replace(/^#\s*/, '') || null : null
    });
  });
  return { parameters: Array.from(byName.values()), skipped };
}

/** The minimal shape of an nbformat cell this module reads. */
export interface ICellLike {
  cell_type: string;
  source: string | readonly string[];
  metadata?: { tags?: readonly string[] } & Record<string, unknown>;
}

/** The first code cell tagged `parameters`, or null when the notebook has none. */
export function findParametersCell(cells: readonly ICellLike[]): ICellLike | null {
  return (
    cells.find(
      cell =>
        cell.cell_type === 'code' &&
        Array.isArray(cell.metadata?.tags) &&
        cell.metadata!.tags!.includes(PARAMETERS_TAG)
    ) ?? null
  );
}
