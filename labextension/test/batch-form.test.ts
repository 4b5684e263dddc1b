/**
 * The batch dialog: from what the user typed to the SubmitRequest of the REST contract.
 *
 * What a parameter or sweep field means is the server's to say (`POST batch/values`); here the
 * server is an in-memory stand-in answering fixed values, so these tests pin which texts the
 * dialog sends and how it assembles the request from the answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSubmitRequest, fieldTexts, IBatchForm, initialForm } from '../src/batch/form';
import type { IParameter, IPartition, IValuesRequest, IValuesResponse } from '../src/types';

const PARTITIONS: IPartition[] = [
  { name: 'debug', default: true, state: 'up', gres: null },
  { name: 'gpu', default: false, state: 'up', gres: 'gpu:2' }
];

/** What `POST batch/parameters` answers for `lr = 0.1 / epochs = 3 / optimizer = 'adam'`. */
const PARAMETERS: IParameter[] = [
  { name: 'lr', value: 0.1, literal: '0.1', annotation: 'float', comment: 'learning rate' },
  { name: 'epochs', value: 3, literal: '3', annotation: null, comment: null },
  { name: 'optimizer', value: 'adam', literal: "'adam'", annotation: null, comment: null }
];

function form(changes: Partial<IBatchForm> = {}): IBatchForm {
  return {
    ...initialForm({
      notebook: 'experiments/train model.ipynb',
      kernel: 'pytorch-2.7',
      parameters: PARAMETERS,
      defaults: { partition: '', account: '', time: '01:00:00' },
      partitions: PARTITIONS
    }),
    ...changes
  };
}

/** A stand-in for `POST batch/values` that records what it was asked. */
function server(answer: IValuesResponse | Error) {
  const asked: IValuesRequest[] = [];
  const read = async (texts: IValuesRequest): Promise<IValuesResponse> => {
    asked.push(texts);
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  };
  return { asked, read };
}

const NOTHING: IValuesResponse = { parameters: {}, sweep: {} };

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
    assert.equal(f.sweepName, '');
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

describe('fieldTexts', () => {
  it('sends nothing while every field holds the notebook’s literal', () => {
    const errors: string[] = [];
    const f = form();
    assert.deepEqual(fieldTexts({ ...f, values: { ...f.values, epochs: ' 3 ' } }, errors), {});
    assert.deepEqual(errors, []);
  });

  it('sends the changed fields as typed, and the sweep instead of its parameter', () => {
    const errors: string[] = [];
    const f = form();
    const texts = fieldTexts(
      {
        ...f,
        values: { ...f.values, lr: '5', optimizer: 'sgd' },
        sweepEnabled: true,
        sweepName: 'lr',
        sweepValues: '0.1, 0.01'
      },
      errors
    );
    assert.deepEqual(texts, { parameters: { optimizer: 'sgd' }, sweep: { lr: '0.1, 0.01' } });
    assert.deepEqual(errors, []);
  });

  it('asks for a parameter to sweep', () => {
    const errors: string[] = [];
    fieldTexts(form({ sweepEnabled: true, sweepName: '' }), errors);
    assert.deepEqual(errors, ['Sweep: choose the parameter to sweep.']);
  });
});

describe('buildSubmitRequest', () => {
  it('sends the notebook, kernel and filled resources only, without asking the server', async () => {
    const { asked, read } = server(NOTHING);
    const result = await buildSubmitRequest(
      form({ cpus: ' 4 ', mem: '8G', gpus: '', account: '' }),
      read
    );
    assert.ok(result.ok);
    assert.deepEqual(result.request, {
      notebook: 'experiments/train model.ipynb',
      kernel: 'pytorch-2.7',
      resources: { partition: 'debug', time: '01:00:00', mem: '8G', cpus_per_task: 4 },
      parameters: {}
    });
    assert.deepEqual(asked, []);
  });

  it('sends the values the server read from the changed fields, and the sweep', async () => {
    const { asked, read } = server({ parameters: { epochs: 10 }, sweep: { lr: [0.1, 0.01] } });
    const f = form();
    const result = await buildSubmitRequest(
      {
        ...f,
        values: { ...f.values, epochs: '10' },
        sweepEnabled: true,
        sweepName: 'lr',
        sweepValues: '0.1, 0.01'
      },
      read
    );
    assert.ok(result.ok);
    assert.deepEqual(asked, [{ parameters: { epochs: '10' }, sweep: { lr: '0.1, 0.01' } }]);
    assert.deepEqual(result.request.parameters, { epochs: 10 });
    assert.deepEqual(result.request.sweep, { lr: [0.1, 0.01] });
  });

  it('shows the server’s message when it cannot read a field', async () => {
    const { read } = server(new Error("parameters.epochs: '[1, 2' is not a value"));
    const f = form();
    const result = await buildSubmitRequest(
      { ...f, values: { ...f.values, epochs: '[1, 2' } },
      read
    );
    assert.deepEqual(result, {
      ok: false,
      errors: ["parameters.epochs: '[1, 2' is not a value"],
      request: null
    });
  });

  it('omits the kernel when none is chosen (the server uses the notebook’s)', async () => {
    const result = await buildSubmitRequest(form({ kernel: '' }), server(NOTHING).read);
    assert.ok(result.ok);
    assert.equal('kernel' in result.request, false);
  });

  it('asks GPUs only when more than zero', async () => {
    const zero = await buildSubmitRequest(form({ gpus: '0' }), server(NOTHING).read);
    assert.ok(zero.ok && !('gpus' in zero.request.resources!));
    const two = await buildSubmitRequest(
      form({ gpus: '2', partition: 'gpu' }),
      server(NOTHING).read
    );
    assert.ok(two.ok);
    assert.equal(two.request.resources!.gpus, 2);
  });

  it('names every invalid local field and asks the server nothing', async () => {
    const { asked, read } = server(NOTHING);
    const f = form();
    const result = await buildSubmitRequest(
      {
        ...f,
        cpus: '0',
        gpus: 'two',
        values: { ...f.values, epochs: '[1, 2' },
        sweepEnabled: true,
        sweepName: ''
      },
      read
    );
    assert.equal(result.ok, false);
    const errors = result.ok ? [] : result.errors;
    assert.equal(errors.length, 3);
    assert.match(errors.join('\n'), /CPUs: "0"/);
    assert.match(errors.join('\n'), /GPUs: "two"/);
    assert.match(errors.join('\n'), /Sweep: choose/);
    assert.deepEqual(asked, []);
  });
});
