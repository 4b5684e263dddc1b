/**
 * The parameters cell: which lines become dialog fields, with which values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findParametersCell, parseParametersCell } from '../src/batch/parameters';

describe('parseParametersCell', () => {
  it('reads name = literal lines with their values, literals and comments', () => {
    const cell = parseParametersCell(
      [
        '# Parameters of the training run',
        'learning_rate = 0.001  # step size',
        'epochs = 10',
        "optimizer = 'adam'",
        'layers = [64, 32]',
        'use_gpu = True',
        'seed = None',
        'config = {"dropout": 0.5, "name": "base"}',
        ''
      ].join('\n')
    );
    assert.deepEqual(
      cell.parameters.map(p => [p.name, p.value]),
      [
        ['learning_rate', 0.001],
        ['epochs', 10],
        ['optimizer', 'adam'],
        ['layers', [64, 32]],
        ['use_gpu', true],
        ['seed', null],
        ['config', { dropout: 0.5, name: 'base' }]
      ]
    );
    const lr = cell.parameters[0];
    assert.equal(lr.literal, '0.001');
    assert.equal(lr.comment, 'step size');
    assert.equal(cell.parameters[2].literal, "'adam'");
    assert.deepEqual(cell.skipped, []);
  });

  it('accepts nbformat source lists, annotations and CRLF line ends', () => {
    const cell = parseParametersCell(['lr: float = 1e-3\r\n', 'name: str = "run-1"\r\n', 'n=3']);
    assert.deepEqual(
      cell.parameters.map(p => [p.name, p.annotation, p.value]),
      [
        ['lr', 'float', 0.001],
        ['name', 'str', 'run-1'],
        ['n', null, 3]
      ]
    );
  });

  it('lists code it cannot read as skipped, with the line number and why', () => {
    const cell = parseParametersCell(
      [
        'import os',
        'data_dir = os.environ["DATA"]',
        'alpha = 0.5',
        'if alpha > 0:',
        '    beta = 1',
        'sizes = [1,',
        '  2]',
        'x == 3',
        'gamma = 2 * 3'
      ].join('\n')
    );
    assert.deepEqual(
      cell.parameters.map(p => p.name),
      ['alpha']
    );
    assert.deepEqual(
      cell.skipped.map(s => s.line),
      [1, 2, 4, 5, 6, 7, 8, 9]
    );
    assert.match(cell.skipped.find(s => s.line === 2)!.reason, /not a literal/);
    assert.match(cell.skipped.find(s => s.line === 5)!.reason, /indented/);
    assert.match(cell.skipped.find(s => s.line === 9)!.reason, /after the value/);
  });

  it('keeps the last assignment to a name, as Python does', () => {
    const cell = parseParametersCell('a = 1\nb = 2\na = 3\n');
    assert.deepEqual(
      cell.parameters.map(p => [p.name, p.value]),
      [
        ['b', 2],
        ['a', 3]
      ]
    );
  });

  it('does not mistake a # inside a string for a comment', () => {
    const cell = parseParametersCell("tag = 'run #1'  # the run's tag");
    assert.equal(cell.parameters[0].value, 'run #1');
    assert.equal(cell.parameters[0].comment, "the run's tag");
  });
});

describe('findParametersCell', () => {
  it('finds the first code cell tagged parameters', () => {
    const cells = [
      { cell_type: 'markdown', source: 'x = 1', metadata: { tags: ['parameters'] } },
      { cell_type: 'code', source: 'y = 2', metadata: {} },
      { cell_type: 'code', source: 'z = 3', metadata: { tags: ['setup', 'parameters'] } },
      { cell_type: 'code', source: 'w = 4', metadata: { tags: ['parameters'] } }
    ];
    assert.equal(findParametersCell(cells)?.source, 'z = 3');
  });

  it('returns null when no cell is tagged', () => {
    assert.equal(findParametersCell([{ cell_type: 'code', source: 'a = 1' }]), null);
  });
});
