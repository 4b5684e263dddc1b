/**
 * The pure logic behind the node kernels' status item and queue view: reading the REST answer,
 * Slurm states, the local countdown, the end-of-time warning and how often to poll.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { baseState } from '../jobs/format';
import type { INodeKernel, INodeKernelList } from '../types';

/** Poll this often while a start waits in the queue (the user is waiting for it). */
export const FAST_POLL_MS = 2 * 1000;

/** Poll this often while only running kernels (or the open queue view) need fresh states. */
export const SLOW_POLL_MS = 15 * 1000;

/** Warn once when a running kernel's job has this many seconds left or fewer. */
export const WARN_SECONDS = 5 * 60;

/** While these states last, a kernel start is waiting for its job (poll fast, say so). */
const WAITING: ReadonlySet<string> = new Set(['SUBMITTING', 'PENDING', 'CONFIGURING']);

/**
 * States in which the job still holds or waits for its allocation: it can be cancelled.
 * The server's `LIVE_STATES` (jupyter_container_kernels/nodes/tracker.py) plus SUBMITTING.
 */
const LIVE: ReadonlySet<string> = new Set([
  'SUBMITTING',
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'STOPPED'
]);

/** Whether a kernel start is still waiting for this job (submitting, queued, configuring). */
export function isWaiting(kernel: Pick<INodeKernel, 'state'>): boolean {
  return WAITING.has(baseState(kernel.state));
}

/** Whether the job still holds or waits for its allocation (a Cancel button makes sense). */
export function isLive(kernel: Pick<INodeKernel, 'state'>): boolean {
  return LIVE.has(baseState(kernel.state));
}

/** Whether the kernel runs now (the only state with a countdown). */
export function isRunning(kernel: Pick<INodeKernel, 'state'>): boolean {
  return baseState(kernel.state) === 'RUNNING';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

function seconds(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, value) : null;
}

/** One entry of the answer, or null when it is not a node kernel (no id). */
export function parseNodeKernel(value: unknown): INodeKernel | null {
  if (!isObject(value)) {
    return null;
  }
  const kernelId = text(value.kernel_id);
  if (kernelId === null) {
    return null;
  }
  const kernelName = text(value.kernel_name) ?? '';
  return {
    kernel_id: kernelId,
    kernel_name: kernelName,
    display_name: text(value.display_name) ?? kernelName,
    job_id: typeof value.job_id === 'number' ? String(value.job_id) : text(value.job_id),
    state: text(value.state) ?? 'UNKNOWN',
    reason: text(value.reason),
    node: text(value.node),
    address: text(value.address),
    submitted: text(value.submitted),
    start_estimate: text(value.start_estimate),
    started: text(value.started),
    time_limit: text(value.time_limit),
    seconds_left: seconds(value.seconds_left),
    message: text(value.message),
    state_unknown: value.state_unknown === true
  };
}

/**
 * `GET node-kernels` as the UI uses it: entries without an id are dropped, missing fields read
 * as null, and an answer of another shape reads as an empty list (never a crash of the view).
 */
export function parseNodeKernels(value: unknown): INodeKernelList {
  if (!isObject(value)) {
    return { node_kernels: [], scheduler_error: null };
  }
  const list = Array.isArray(value.node_kernels) ? value.node_kernels : [];
  return {
    node_kernels: list.map(parseNodeKernel).filter((k): k is INodeKernel => k !== null),
    scheduler_error: text(value.scheduler_error)
  };
}

/** Waiting starts first (oldest submitted first), then the others, newest job first. */
export function sortNodeKernels(kernels: readonly INodeKernel[]): INodeKernel[] {
  const jobNumber = (k: INodeKernel) => (k.job_id === null ? Infinity : Number(k.job_id) || 0);
  return [...kernels].sort((a, b) => {
    const wa = isWaiting(a);
    const wb = isWaiting(b);
    if (wa !== wb) {
      return wa ? -1 : 1;
    }
    return wa ? jobNumber(a) - jobNumber(b) : jobNumber(b) - jobNumber(a);
  });
}

/**
 * Seconds left at `now`, counted down locally from the server's `seconds_left` as observed at
 * `observedAt` (both milliseconds since the epoch); null when the job has no countdown.
 */
export function secondsLeftAt(
  kernel: Pick<INodeKernel, 'state' | 'seconds_left'>,
  observedAt: number,
  now: number
): number | null {
  if (!isRunning(kernel) || kernel.seconds_left === null) {
    return null;
  }
  return Math.max(0, kernel.seconds_left - Math.max(0, now - observedAt) / 1000);
}

/** Time left as a clock: `1:23:45`, `4:05`, `0:09`; a day or more as `2d 3:04:05`. */
export function formatClock(totalSeconds: number): string {
  const total = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = h > 0 || days > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  return days > 0 ? `${days}d ${clock}` : clock;
}

/**
 * Slurm's estimated start (its local ISO time, no zone: read as this browser's local time)
 * as `17:05` when it is the same day as `now`, else with its date; null when there is none
 * (Slurm writes `N/A` or `Unknown` when it has no estimate).
 */
export function formatEstimate(iso: string | null, now: Date): string | null {
  if (!iso) {
    return null;
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return null;
  }
  const time = date.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    hour12: false
  });
  return date.toDateString() === now.toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}

/** Slurm's pending reason worth showing (not its `None`). */
export function reasonOf(kernel: Pick<INodeKernel, 'reason'>): string | null {
  return kernel.reason && kernel.reason !== 'None' ? kernel.reason : null;
}

/**
 * Remembers which jobs were warned about, so each running kernel gets one warning before its
 * time limit, however often the check runs (every poll and every second of the countdown).
 */
export class ExpiryWarnings {
  constructor(readonly threshold: number = WARN_SECONDS) {}

  /**
   * The kernels to warn about now: running, with `threshold` seconds or fewer left at `now`,
   * among `watched` (the kernels open in this JupyterLab), not warned before. A kernel that
   * comes back under a new job (a restart keeps the job; a new start does not) is warned again.
   */
  due(
    kernels: readonly INodeKernel[],
    observedAt: number,
    now: number,
    watched: (kernelId: string) => boolean
  ): INodeKernel[] {
    const due: INodeKernel[] = [];
    for (const kernel of kernels) {
      const left = secondsLeftAt(kernel, observedAt, now);
      const key = `${kernel.kernel_id}/${kernel.job_id ?? ''}`;
      if (left === null || left > this.threshold || this._warned.has(key)) {
        continue;
      }
      if (!watched(kernel.kernel_id)) {
        continue;
      }
      this._warned.add(key);
      due.push(kernel);
    }
    return due;
  }

  private readonly _warned = new Set<string>();
}

/** The text of the waiting part: one start named with its job and reason, several counted. */
export function waitingText(
  waiting: readonly INodeKernel[],
  trans: Pick<TranslationBundle, '__' | '_n'>
): string {
  if (waiting.length > 1) {
    return trans._n(
      'Waiting for Slurm: %1 kernel',
      'Waiting for Slurm: %1 kernels',
      waiting.length
    );
  }
  const [kernel] = waiting;
  if (kernel.job_id === null) {
    return trans.__('Waiting for Slurm: submitting the job');
  }
  const reason = reasonOf(kernel);
  const state = baseState(kernel.state);
  const why = state === 'CONFIGURING' ? trans.__('starting on %1', kernel.node ?? '…') : reason;
  return why
    ? trans.__('Waiting for Slurm: job %1 (%2)', kernel.job_id, why)
    : trans.__('Waiting for Slurm: job %1', kernel.job_id);
}

/** What, besides the answer itself, decides whether the node kernels need polling. */
export interface IPollNeeds {
  /** The queue view is shown. */
  panelVisible: boolean;
  /** The current notebook or console is starting a kernel (a node kernel start may be queued). */
  currentStarting: boolean;
  /** Whether a kernel id is open in this JupyterLab (a session of a notebook or console). */
  isOpen: (kernelId: string) => boolean;
  /** No answer arrived yet (the first one tells what is live). */
  loaded: boolean;
}

/**
 * How long to wait before the next `GET node-kernels`, or null to stand by.
 *
 * Fast while a start waits (in the answer, or possibly, while the current notebook is starting
 * a kernel); slow while the queue view is shown or a running node kernel is open here (its time
 * left and the warning); nothing otherwise: the first answer, a shown view or a starting kernel
 * wakes the poll up again.
 */
export function pollInterval(kernels: readonly INodeKernel[], needs: IPollNeeds): number | null {
  if (!needs.loaded || needs.currentStarting || kernels.some(isWaiting)) {
    return FAST_POLL_MS;
  }
  if (needs.panelVisible || kernels.some(k => isLive(k) && needs.isOpen(k.kernel_id))) {
    return SLOW_POLL_MS;
  }
  return null;
}
