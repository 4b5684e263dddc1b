/**
 * Python literals as written in parameter cells and typed into the dialog.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLiteral, valueFromInput } from '../src/batch/literal';

function value(text: string): unknown {
  const result = parseLiteral(text);
  assert.ok(result.ok, `expected ${text} to parse: ${result.ok ? '' : result.error}`);
  return result.value;
}

describe('parseLiteral', () => {
  it('reads numbers as Python writes them', () => {
    assert.equal(value('42'), 42);
    assert.equal(value('-7'), -7);
    assert.equal(value('+3'), 3);
    assert.equal(value('1_000_000'), 1000000);
    assert.equal(value('0.5'), 0.5);
    assert.equal(value('.5'), 0.5);
    assert.equal(value('1.'), 1);
    assert.equal(value('2.5e-3'), 0.0025);
    assert.equal(value('1E3'), 1000);
  });

  it('reads True, False and None', () => {
    assert.equal(value('True'), true);
    assert.equal(value('False'), false);
    assert.equal(value('None'), null);
  });

  it('reads strings with escapes, raw and triple-quoted strings', () => {
    assert.equal(value("'adam'"), 'adam');
    assert.equal(value('"it\'s"'), "it's");
    assert.equal(value("'a\\tb\\n'"), 'a\tb\n');
    assert.equal(value("'\\x41\\u00e9'"), 'Aé');
    assert.equal(value("r'C:\\data'"), 'C:\\data');
    assert.equal(value('"""one line"""'), 'one line');
    assert.equal(value("'unknown \\d escape'"), 'unknown \\d escape');
  });

  it('reads lists, tuples and dicts, nested, with trailing commas', () => {
    assert.deepEqual(value('[1, 2, 3,]'), [1, 2, 3]);
    assert.deepEqual(value('(1, "a")'), [1, 'a']);
    assert.deepEqual(value('(5,)'), [5]);
    assert.equal(value('(5)'), 5);
    assert.deepEqual(value('[]'), []);
    assert.deepEqual(value('{"a": [1, {"b": None}], 2: True}'), { a: [1, { b: null }], '2': true });
  });

  it('refuses names, calls, expressions and unfinished values, saying where', () => {
    for (const text of ['np.pi', 'float("inf")', '1 + 2', "'open", '[1, 2', 'Truex', '{1, 2}']) {
      const result = parseLiteral(text);
      assert.equal(result.ok, false, text);
    }
    const result = parseLiteral("'open");
    assert.ok(!result.ok && /unterminated string/.test(result.error));
  });
});

describe('valueFromInput', () => {
  it('takes literals as typed and bare text as a string', () => {
    const cases: [string, unknown][] = [
      ['0.01', 0.01],
      ["'sgd'", 'sgd'],
      ['sgd', 'sgd'],
      ['data/train.csv', 'data/train.csv'],
      ['2024-01-31', '2024-01-31'],
      ['  None ', null],
      ['[1, 2]', [1, 2]]
    ];
    for (const [text, expected] of cases) {
      const result = valueFromInput(text);
      assert.ok(result.ok, text);
      assert.deepEqual(result.value, expected, text);
    }
  });

  it('rejects empty fields and unfinished quotes or brackets', () => {
    assert.equal(valueFromInput('   ').ok, false);
    const open = valueFromInput("'adam");
    assert.ok(!open.ok && open.error.includes("'adam"));
    assert.equal(valueFromInput('[1, 2').ok, false);
  });
});
