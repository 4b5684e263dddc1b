/**
 * How the jobs panel shows Slurm states, reasons and times.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  baseState,
  formatDuration,
  isTerminal,
  runTime,
  sortJobs,
  stateKind,
  stateLabel,
  taskSummary
} from '../src/jobs/format';
import type { IJob } from '../src/types';
import { TERMINAL_JOB_STATES } from '../src/types';

function job(changes: Partial<IJob>): IJob {
  return {
    id: '1',
    name: 'train',
    state: 'PENDING',
    reason: null,
    exit_code: null,
    submitted: '2025-01-01T10:00:00Z',
    started: null,
    ended: null,
    notebook: 'train.ipynb',
    kernel: 'pytorch',
    output_notebooks: [],
    log_path: null,
    array_size: null,
    tasks: [],
    ...changes
  };
}

describe('states', () => {
  it('knows which states are final', () => {
    for (const state of [
      'COMPLETED',
      'FAILED',
      'CANCELLED by 0',
      'TIMEOUT',
      'OUT_OF_MEMORY',
      'NODE_FAIL'
    ]) {
      assert.ok(isTerminal(state), state);
    }
    for (const state of [
      'PENDING',
      'RUNNING',
      'COMPLETING',
      'CONFIGURING',
      'SUSPENDED',
      'REQUEUED'
    ]) {
      assert.ok(!isTerminal(state), state);
    }
  });

  it('takes UNKNOWN (a job Slurm forgot) as final: no Cancel button, no log polling', () => {
    assert.ok(isTerminal('UNKNOWN'));
    assert.ok(isTerminal(''));
    assert.equal(stateKind('UNKNOWN'), 'error');
  });

  it('takes its final states from the server’s contract', () => {
    assert.deepEqual([...TERMINAL_JOB_STATES].sort(), [
      'BOOT_FAIL',
      'CANCELLED',
      'COMPLETED',
      'DEADLINE',
      'FAILED',
      'NODE_FAIL',
      'OUT_OF_MEMORY',
      'PREEMPTED',
      'REVOKED',
      'SPECIAL_EXIT',
      'TIMEOUT',
      'UNKNOWN'
    ]);
    for (const state of TERMINAL_JOB_STATES) {
      assert.ok(isTerminal(state), state);
    }
  });

  it('shows the pending reason, and drops Slurm’s "None"', () => {
    assert.equal(stateLabel(job({ state: 'PENDING', reason: 'Resources' })), 'PENDING (Resources)');
    assert.equal(stateLabel(job({ state: 'RUNNING', reason: 'None' })), 'RUNNING');
    assert.equal(stateLabel(job({ state: 'COMPLETED', reason: 'x' })), 'COMPLETED');
    assert.equal(stateLabel({ state: 'CANCELLED by 0', reason: null }), 'CANCELLED');
  });

  it('maps states to the colour kinds', () => {
    assert.equal(stateKind('COMPLETED'), 'ok');
    assert.equal(stateKind('RUNNING'), 'active');
    assert.equal(stateKind('PENDING'), 'waiting');
    assert.equal(stateKind('FAILED'), 'error');
    assert.equal(baseState(''), 'UNKNOWN');
  });
});

describe('times', () => {
  it('formats durations', () => {
    assert.equal(formatDuration(12_400), '12s');
    assert.equal(formatDuration(185_000), '3m 05s');
    assert.equal(formatDuration(3_720_000), '1h 02m');
    assert.equal(formatDuration(-5), '0s');
  });

  it('measures the run time until the end, or until now while running', () => {
    const now = new Date('2025-01-01T10:10:00Z');
    assert.equal(runTime(job({}), now), null);
    assert.equal(runTime(job({ started: '2025-01-01T10:00:00Z' }), now), '10m 00s');
    assert.equal(
      runTime(job({ started: '2025-01-01T10:00:00Z', ended: '2025-01-01T10:00:42Z' }), now),
      '42s'
    );
  });
});

describe('arrays and order', () => {
  it('counts array tasks by state', () => {
    const j = job({
      array_size: 3,
      tasks: [
        { index: 0, state: 'COMPLETED', exit_code: 0, output_notebook: 'a' },
        { index: 1, state: 'RUNNING', exit_code: null, output_notebook: null },
        { index: 2, state: 'COMPLETED', exit_code: 0, output_notebook: 'c' }
      ]
    });
    assert.equal(taskSummary(j), '2 COMPLETED, 1 RUNNING');
  });

  it('puts the newest job (highest id) first', () => {
    const ids = sortJobs([job({ id: '9' }), job({ id: '10' }), job({ id: '2' })]).map(j => j.id);
    assert.deepEqual(ids, ['10', '9', '2']);
  });
});
