/**
 * The batch dialog: from what the user typed to the SubmitRequest of the REST contract.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSubmitRequest, IBatchForm, initialForm } from '../src/batch/form';
import { parseParametersCell } from '../src/batch/parameters';
import type { IPartition } from '../src/types';

const PARTITIONS: IPartition[] = [
  { name: 'debug', default: true, state: 'up', gres: null },
  { name: 'gpu', default: false, state: 'up', gres: 'gpu:2' }
];

function form(changes: Partial<IBatchForm> = {}): IBatchForm {
  const { parameters } = parseParametersCell("lr = 0.1\nepochs = 3\noptimizer = 'adam'\n");
  return {
    ...initialForm({
      notebook: 'experiments/train model.ipynb',
      kernel: 'pytorch-2.7',
      parameters,
      defaults: { partition: '', account: '', time: '01:00:00' },
      partitions: PARTITIONS
    }),
    ...changes
  };
}

describe('initialForm', () => {
  it('pre-fills parameters with their literals and picks the default partition', () => {
    const f = form();
    assert.deepEqual(f.values, { lr: '0.1', epochs: '3', optimizer: "'adam'" });
    assert.equal(f.partition, 'debug');
    assert.equal(f.time, '01:00:00');
    assert.equal(f.sweepName, 'lr');
  });

  it('uses the partition from the settings when the cluster has it', () => {
    const f = initialForm({
      notebook: 'a.ipynb',
      kernel: '',
      parameters: [],
      defaults: { partition: 'gpu', account: 'proj1', time: '' },
      partitions: PARTITIONS
    });
    assert.equal(f.partition, 'gpu');
    assert.equal(f.account, 'proj1');
  });

  it('falls back to the cluster default when the configured partition does not exist', () => {
    const f = initialForm({
      notebook: 'a.ipynb',
      kernel: '',
      parameters: [],
      defaults: { partition: 'nosuch', account: '', time: '' },
      partitions: PARTITIONS
    });
    assert.equal(f.partition, 'debug');
  });
});

describe('buildSubmitRequest', () => {
  it('sends the notebook, kernel and filled resources only', () => {
    const result = buildSubmitRequest(form({ cpus: ' 4 ', mem: '8G', gpus: '', account: '' }));
    assert.ok(result.ok);
    assert.deepEqual(result.request, {
      notebook: 'experiments/train model.ipynb',
      kernel: 'pytorch-2.7',
      resources: { partition: 'debug', time: '01:00:00', mem: '8G', cpus_per_task: 4 },
      parameters: {}
    });
  });

  it('sends only the parameters that differ from the notebook, typed', () => {
    const f = form();
    const result = buildSubmitRequest({
      ...f,
      values: { ...f.values, lr: '0.01', optimizer: 'sgd', epochs: ' 3 ' }
    });
    assert.ok(result.ok);
    assert.deepEqual(result.request.parameters, { lr: 0.01, optimizer: 'sgd' });
  });

  it('turns the sweep into job-array values and leaves that parameter out', () => {
    const f = form();
    const result = buildSubmitRequest({
      ...f,
      values: { ...f.values, lr: '5', epochs: '10' },
      sweepEnabled: true,
      sweepName: 'lr',
      sweepValues: '0.1, 0.01, 0.001'
    });
    assert.ok(result.ok);
    assert.deepEqual(result.request.sweep, { lr: [0.1, 0.01, 0.001] });
    assert.deepEqual(result.request.parameters, { epochs: 10 });
  });

  it('omits the kernel when none is chosen (the server uses the notebook’s)', () => {
    const result = buildSubmitRequest(form({ kernel: '' }));
    assert.ok(result.ok);
    assert.equal('kernel' in result.request, false);
  });

  it('asks GPUs only when more than zero', () => {
    const zero = buildSubmitRequest(form({ gpus: '0' }));
    assert.ok(zero.ok && !('gpus' in zero.request.resources!));
    const two = buildSubmitRequest(form({ gpus: '2', partition: 'gpu' }));
    assert.ok(two.ok);
    assert.equal(two.request.resources!.gpus, 2);
  });

  it('names every invalid field instead of sending', () => {
    const f = form();
    const result = buildSubmitRequest({
      ...f,
      cpus: '0',
      gpus: 'two',
      values: { ...f.values, epochs: '[1, 2' },
      sweepEnabled: true,
      sweepName: 'lr',
      sweepValues: ' , '
    });
    assert.equal(result.ok, false);
    assert.equal(result.request, null);
    const errors = result.ok ? [] : result.errors;
    assert.equal(errors.length, 4);
    assert.match(errors.join('\n'), /CPUs: "0"/);
    assert.match(errors.join('\n'), /GPUs: "two"/);
    assert.match(errors.join('\n'), /Parameter epochs/);
    assert.match(errors.join('\n'), /Sweep over lr: give at least one value/);
  });
});
