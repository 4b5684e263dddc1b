/**
 * The sweep field: comma-separated values, one job-array task each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSweepValues, splitTopLevel } from '../src/batch/sweep';

describe('splitTopLevel', () => {
  it('splits at commas outside quotes and brackets', () => {
    assert.deepEqual(splitTopLevel("1, 'a,b', [3, 4], {'k': 1, 'l': 2}, \"x\\\",y\""), [
      '1',
      " 'a,b'",
      ' [3, 4]',
      " {'k': 1, 'l': 2}",
      ' "x\\",y"'
    ]);
  });
});

describe('parseSweepValues', () => {
  it('reads each value like a parameter field', () => {
    const result = parseSweepValues("0.1, 0.01, 1e-3");
    assert.deepEqual(result, { ok: true, values: [0.1, 0.01, 0.001] });
    assert.deepEqual(parseSweepValues("adam, 'sgd', [1, 2], None"), {
      ok: true,
      values: ['adam', 'sgd', [1, 2], null]
    });
  });

  it('ignores empty items such as a trailing comma', () => {
    assert.deepEqual(parseSweepValues('1,,2,'), { ok: true, values: [1, 2] });
  });

  it('needs at least one value', () => {
    for (const text of ['', ' , ,']) {
      const result = parseSweepValues(text);
      assert.ok(!result.ok && /at least one value/.test(result.error));
    }
  });

  it('refuses a value listed twice, since each runs once', () => {
    const result = parseSweepValues('1, 2, 1.0');
    assert.ok(!result.ok && /listed twice/.test(result.error));
  });

  it('names an unfinished value', () => {
    const result = parseSweepValues("1, 'two");
    assert.ok(!result.ok && result.error.includes("'two"));
  });
});
