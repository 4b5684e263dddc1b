/**
 * The node kernels' pure logic: reading `GET node-kernels`, the countdown and estimate texts,
 * the warn-once rule before a time limit, and how often the queue is polled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ExpiryWarnings,
  FAST_POLL_MS,
  formatClock,
  formatEstimate,
  IPollNeeds,
  isLive,
  isWaiting,
  parseNodeKernel,
  parseNodeKernels,
  pollInterval,
  secondsLeftAt,
  SLOW_POLL_MS,
  sortNodeKernels,
  waitingText,
  WARN_SECONDS
} from '../src/nodes/format';
import type { INodeKernel } from '../src/types';

function kernel(changes: Partial<INodeKernel>): INodeKernel {
  return {
    kernel_id: 'k1',
    kernel_name: 'gpu-node',
    display_name: 'Python (GPU node)',
    job_id: '123',
    state: 'RUNNING',
    reason: null,
    node: 'node1',
    address: '10.251.0.2',
    submitted: '2026-12-03T10:00:00',
    start_estimate: null,
    started: '2026-12-03T10:00:05',
    time_limit: '2:00:00',
    seconds_left: 5025,
    message: null,
    state_unknown: false,
    ...changes
  };
}

/** A translation bundle that only fills in the placeholders, as the null translator does. */
const trans = {
  __: (msgid: string, ...args: unknown[]) =>
    msgid.replace(/%(\d+)/g, (_, i) => String(args[Number(i) - 1])),
  _n: (msgid: string, plural: string, n: number, ...args: unknown[]) =>
    (n === 1 ? msgid : plural).replace(/%(\d+)/g, (_, i) => String([n, ...args][Number(i) - 1]))
};

describe('the REST answer', () => {
  it('reads every field of a node kernel as the server writes it', () => {
    const answer = {
      node_kernels: [
        kernel({ state: 'PENDING', reason: 'Priority', start_estimate: '2026-12-03T17:05:00' })
      ],
      scheduler_error: null
    };
    const parsed = parseNodeKernels(JSON.parse(JSON.stringify(answer)));
    assert.deepEqual(parsed, answer);
  });

  it('fills missing fields with null and drops entries without a kernel id', () => {
    const parsed = parseNodeKernels({
      node_kernels: [
        { kernel_id: 'abc', kernel_name: 'n', state: 'SUBMITTING' },
        { kernel_name: 'no id' },
        'garbage',
        null
      ],
      scheduler_error: 'squeue: error: slurm_load_jobs error: Unable to contact slurm controller'
    });
    assert.equal(parsed.node_kernels.length, 1);
    const [k] = parsed.node_kernels;
    assert.equal(k.kernel_id, 'abc');
    assert.equal(k.display_name, 'n', 'the kernel name stands in for a missing display name');
    assert.equal(k.job_id, null);
    assert.equal(k.seconds_left, null);
    assert.equal(k.state_unknown, false);
    assert.match(parsed.scheduler_error!, /Unable to contact/);
  });

  it('takes a numeric job id as text and never a negative time left', () => {
    const k = parseNodeKernel({ kernel_id: 'a', job_id: 42, seconds_left: -3, state: 'RUNNING' });
    assert.equal(k!.job_id, '42');
    assert.equal(k!.seconds_left, 0);
    assert.equal(parseNodeKernel({ kernel_id: 'a' })!.state, 'UNKNOWN');
  });

  it('reads an answer of another shape as an empty list', () => {
    for (const answer of [null, [], 'x', { node_kernels: 'x' }, {}]) {
      assert.deepEqual(parseNodeKernels(answer), { node_kernels: [], scheduler_error: null });
    }
    assert.equal(parseNodeKernels({ node_kernels: [], scheduler_error: '' }).scheduler_error, null);
  });
});

describe('states', () => {
  it('knows which states wait for the job, and which can be cancelled', () => {
    for (const state of ['SUBMITTING', 'PENDING', 'CONFIGURING']) {
      assert.ok(isWaiting({ state }), state);
      assert.ok(isLive({ state }), state);
    }
    for (const state of ['RUNNING', 'COMPLETING', 'SUSPENDED']) {
      assert.ok(!isWaiting({ state }), state);
      assert.ok(isLive({ state }), state);
    }
    for (const state of ['CANCELLED by 0', 'TIMEOUT', 'COMPLETED', 'FAILED', 'NODE_FAIL']) {
      assert.ok(!isWaiting({ state }), state);
      assert.ok(!isLive({ state }), state);
    }
  });

  it('lists waiting starts first (oldest job first), then the newest jobs', () => {
    const order = sortNodeKernels([
      kernel({ kernel_id: 'a', job_id: '5', state: 'RUNNING' }),
      kernel({ kernel_id: 'b', job_id: '9', state: 'PENDING' }),
      kernel({ kernel_id: 'c', job_id: '7', state: 'TIMEOUT' }),
      kernel({ kernel_id: 'd', job_id: null, state: 'SUBMITTING' }),
      kernel({ kernel_id: 'e', job_id: '8', state: 'PENDING' })
    ]).map(k => k.kernel_id);
    assert.deepEqual(order, ['e', 'b', 'd', 'c', 'a']);
  });

  it('says what a waiting start waits for', () => {
    assert.equal(
      waitingText([kernel({ state: 'PENDING', reason: 'Priority' })], trans),
      'Waiting for Slurm: job 123 (Priority)'
    );
    assert.equal(
      waitingText([kernel({ state: 'PENDING', reason: 'None' })], trans),
      'Waiting for Slurm: job 123'
    );
    assert.equal(
      waitingText([kernel({ state: 'SUBMITTING', job_id: null })], trans),
      'Waiting for Slurm: submitting the job'
    );
    assert.equal(
      waitingText([kernel({ state: 'CONFIGURING' })], trans),
      'Waiting for Slurm: job 123 (starting on node1)'
    );
    assert.equal(
      waitingText([kernel({ state: 'PENDING' }), kernel({ state: 'PENDING' })], trans),
      'Waiting for Slurm: 2 kernels'
    );
  });
});

describe('time left and estimated start', () => {
  it('formats the time left as a clock', () => {
    assert.equal(formatClock(5025), '1:23:45');
    assert.equal(formatClock(245), '4:05');
    assert.equal(formatClock(9.9), '0:09');
    assert.equal(formatClock(3600), '1:00:00');
    assert.equal(formatClock(90061), '1d 1:01:01');
    assert.equal(formatClock(-5), '0:00');
  });

  it('counts down locally from the last answer', () => {
    const observed = 1_000_000;
    const k = kernel({ seconds_left: 600 });
    assert.equal(secondsLeftAt(k, observed, observed), 600);
    assert.equal(secondsLeftAt(k, observed, observed + 61_000), 539);
    assert.equal(secondsLeftAt(k, observed, observed + 3_600_000), 0);
    assert.equal(secondsLeftAt(k, observed, observed - 5_000), 600, 'a clock going back');
  });

  it('has no countdown without a limit or when the kernel does not run', () => {
    assert.equal(secondsLeftAt(kernel({ seconds_left: null }), 0, 0), null);
    assert.equal(secondsLeftAt(kernel({ state: 'PENDING' }), 0, 0), null);
    assert.equal(secondsLeftAt(kernel({ state: 'TIMEOUT' }), 0, 0), null);
  });

  it('shows Slurm’s estimate (local time, no zone) as a time, with the date on another day', () => {
    const now = new Date(2026, 11, 3, 9, 0, 0);
    assert.equal(formatEstimate('2026-12-03T17:05:00', now), '17:05');
    const tomorrow = formatEstimate('2026-12-04T08:30:00', now)!;
    assert.ok(tomorrow.endsWith('08:30'), tomorrow);
    assert.ok(tomorrow.includes(new Date(2026, 11, 4).toLocaleDateString()), tomorrow);
    assert.equal(formatEstimate(null, now), null);
    assert.equal(formatEstimate('N/A', now), null);
    assert.equal(formatEstimate('Unknown', now), null);
  });
});

describe('the warning before the time limit', () => {
  const open = () => true;

  it('warns once per job when the time left reaches the threshold', () => {
    assert.equal(WARN_SECONDS, 300);
    const warnings = new ExpiryWarnings();
    const kernels = [kernel({ seconds_left: 310 })];
    assert.deepEqual(warnings.due(kernels, 0, 5_000, open), [], '305 s left: not yet');
    assert.equal(warnings.due(kernels, 0, 10_000, open).length, 1, '300 s left: warn');
    assert.deepEqual(warnings.due(kernels, 0, 11_000, open), [], 'never twice');
    const fresh = [kernel({ seconds_left: 200 })];
    assert.deepEqual(warnings.due(fresh, 20_000, 20_000, open), [], 'nor after the next poll');
  });

  it('warns at once about a kernel first seen with little time left', () => {
    const warnings = new ExpiryWarnings();
    assert.equal(warnings.due([kernel({ seconds_left: 42 })], 0, 0, open).length, 1);
  });

  it('warns again when the kernel runs under a new job', () => {
    const warnings = new ExpiryWarnings();
    assert.equal(warnings.due([kernel({ seconds_left: 100 })], 0, 0, open).length, 1);
    assert.equal(
      warnings.due([kernel({ job_id: '124', seconds_left: 100 })], 0, 0, open).length,
      1
    );
  });

  it('never warns about kernels not open here, waiting, ended or without a limit', () => {
    const warnings = new ExpiryWarnings();
    assert.deepEqual(
      warnings.due(
        [
          kernel({ kernel_id: 'elsewhere', seconds_left: 10 }),
          kernel({ kernel_id: 'k2', state: 'PENDING', seconds_left: null }),
          kernel({ kernel_id: 'k3', state: 'TIMEOUT', seconds_left: null }),
          kernel({ kernel_id: 'k4', time_limit: 'UNLIMITED', seconds_left: null })
        ],
        0,
        0,
        id => id !== 'elsewhere'
      ),
      []
    );
    // Opened later, it is warned about then.
    assert.equal(
      warnings.due([kernel({ kernel_id: 'elsewhere', seconds_left: 10 })], 0, 0, open).length,
      1
    );
  });
});

describe('how often to poll', () => {
  const needs = (changes: Partial<IPollNeeds> = {}): IPollNeeds => ({
    panelVisible: false,
    currentStarting: false,
    isOpen: () => false,
    loaded: true,
    ...changes
  });

  it('polls fast while a start waits, whatever is shown', () => {
    for (const state of ['SUBMITTING', 'PENDING', 'CONFIGURING']) {
      assert.equal(pollInterval([kernel({ state })], needs()), FAST_POLL_MS, state);
    }
    assert.equal(FAST_POLL_MS, 2000);
  });

  it('polls fast before the first answer and while the current notebook starts a kernel', () => {
    assert.equal(pollInterval([], needs({ loaded: false })), FAST_POLL_MS);
    assert.equal(pollInterval([], needs({ currentStarting: true })), FAST_POLL_MS);
  });

  it('polls slowly for the open queue view or a running node kernel open here', () => {
    assert.equal(SLOW_POLL_MS, 15000);
    assert.equal(pollInterval([], needs({ panelVisible: true })), SLOW_POLL_MS);
    assert.equal(pollInterval([kernel({})], needs({ isOpen: id => id === 'k1' })), SLOW_POLL_MS);
  });

  it('stands by when nothing shown needs it', () => {
    assert.equal(pollInterval([], needs()), null);
    assert.equal(pollInterval([kernel({})], needs()), null, 'running, but not open here');
    assert.equal(
      pollInterval([kernel({ state: 'TIMEOUT' })], needs({ isOpen: () => true })),
      null,
      'open here, but ended'
    );
  });
});
