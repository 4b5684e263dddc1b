/**
 * The state behind the node kernels' status item and queue view: the server's node kernels
 * (`GET node-kernels`), polled as often as `pollInterval` says, and cancelling.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { ServerExtensionMissingError } from '../errors';
import { requestAPI, sendJSON } from '../request';
import type { INodeKernel } from '../types';
import {
  IPollNeeds,
  isWaiting,
  parseNodeKernel,
  parseNodeKernels,
  pollInterval,
  secondsLeftAt,
  SLOW_POLL_MS,
  sortNodeKernels,
  WARN_SECONDS
} from './format';

export class NodeKernelsModel {
  /**
   * @param needs - what the UI shows now (queue view visible, current kernel starting, the
   *   kernels open in this JupyterLab); asked before every poll.
   */
  constructor(needs: () => Omit<IPollNeeds, 'loaded'>) {
    // The poll starts with `poll.start()`, once the UI that `needs` looks at exists.
    this._needs = needs;
    this.poll = new Poll({
      name: 'jupyter-container-kernels:node-kernels',
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: SLOW_POLL_MS, backoff: true, max: 60 * 1000 },
      // Nothing shown that needs it, or a hidden browser tab: no requests at all.
      standby: () => this.interval() === null || 'when-hidden'
    });
  }

  /** Polls `GET node-kernels`; `wake()` after anything that changes the needs. */
  readonly poll: Poll;

  /** The node kernels, waiting ones first. */
  kernels: INodeKernel[] = [];
  /** Why the server's last `squeue` failed (the states are then the last known), or null. */
  schedulerError: string | null = null;
  /** Why the last refresh failed (an APIError, a network error), or null. */
  error: unknown = null;
  /** Set once the first answer arrived. */
  loaded = false;
  /** When the last answer arrived (ms since the epoch): the countdown starts there. */
  observedAt = 0;
  /** At this many seconds left a running kernel is shown as ending soon (and warned about). */
  readonly warnSeconds = WARN_SECONDS;

  /** Emitted after every refresh and cancel. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The kernel with this Jupyter kernel id, if it is a node kernel. */
  find(kernelId: string | null | undefined): INodeKernel | null {
    return (kernelId && this.kernels.find(k => k.kernel_id === kernelId)) || null;
  }

  /** Starts waiting in the queue (or submitting, or configuring their node). */
  waiting(): INodeKernel[] {
    return this.kernels.filter(isWaiting);
  }

  /** Seconds left for `kernel` now, counted down locally since the last answer. */
  secondsLeft(kernel: INodeKernel, now: number = Date.now()): number | null {
    return secondsLeftAt(kernel, this.observedAt, now);
  }

  /** The interval the next poll should wait, or null when nothing needs polling. */
  interval(): number | null {
    return pollInterval(this.kernels, { ...this._needs(), loaded: this.loaded });
  }

  /**
   * Poll again now if anything needs it (a kernel started, the view was shown); the new
   * interval applies from there.
   */
  wake(): void {
    const interval = this.interval();
    if (interval !== null && !this._missing && !this.poll.isDisposed) {
      this._setInterval(interval);
      void this.poll.refresh();
    }
  }

  /**
   * Reload the node kernels.
   *
   * Rejects when they cannot be fetched (after recording the error), so the `Poll` backs off
   * while the server is unreachable.
   */
  async refresh(): Promise<void> {
    try {
      const answer = parseNodeKernels(await requestAPI<unknown>('node-kernels'));
      this.kernels = sortNodeKernels(answer.node_kernels);
      this.schedulerError = answer.scheduler_error;
      this.observedAt = Date.now();
      this.error = null;
      this.loaded = true;
    } catch (error) {
      this.error = error;
      if (error instanceof ServerExtensionMissingError) {
        // No such route (no server extension, or one without node kernels): stop asking; the
        // kernels plugin already tells the user how to fix a missing extension.
        this._missing = true;
        void this.poll.stop();
      }
      throw error;
    } finally {
      const interval = this.interval();
      if (interval !== null) {
        this._setInterval(interval);
      }
      this._changed.emit();
    }
  }

  /** Cancel the kernel's Slurm job; resolves with its record after the cancel. */
  async cancel(kernelId: string): Promise<INodeKernel | null> {
    const kernel = parseNodeKernel(
      await sendJSON<unknown>(`node-kernels/${encodeURIComponent(kernelId)}`, 'DELETE')
    );
    if (kernel) {
      this.kernels = sortNodeKernels(
        this.kernels.map(k => (k.kernel_id === kernelId ? kernel : k))
      );
      this._changed.emit();
    }
    void this.poll.refresh();
    return kernel;
  }

  dispose(): void {
    this.poll.dispose();
    Signal.clearData(this);
  }

  private _setInterval(interval: number): void {
    if (this.poll.frequency.interval !== interval) {
      this.poll.frequency = { ...this.poll.frequency, interval };
    }
  }

  private _missing = false;
  private readonly _needs: () => Omit<IPollNeeds, 'loaded'>;
  private readonly _changed = new Signal<this, void>(this);
}
