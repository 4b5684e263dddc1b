/**
 * The state behind the "Container kernels" panel: the kernels, the server's environment, the
 * image pulls, and the calls that change them.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { requestAPI, sendJSON } from '../request';
import type {
  IEnvironment,
  INodeSlurm,
  IKernel,
  IProbe,
  IPullOperation,
  IPullRequest,
  IRegisterRequest,
  ISpec
} from '../types';

/** How often running pulls are polled (one `GET images/pulls` for all of them). */
const PULL_POLL_MS = 1000;

export class KernelsModel {
  /**
   * @param specsChanged - called after a kernel was added or removed; the plugin refreshes
   *   Lab's kernelspecs there so the launcher shows (or drops) the tile.
   */
  constructor(private readonly specsChanged: () => Promise<void>) {
    this._pullPoll = new Poll({
      name: 'jupyter-container-kernels:pulls',
      factory: () => this.refreshPulls(),
      frequency: { interval: PULL_POLL_MS, backoff: true, max: 30 * 1000 },
      // Only while a pull runs, and not from a hidden browser tab.
      standby: () => !this.pulls.some(op => op.state === 'running') || 'when-hidden'
    });
  }

  kernels: IKernel[] = [];
  /**
   * The pulls this page shows: every running one on the server (started here, in another tab,
   * or before this tab was opened) and the finished ones it saw running, until dismissed;
   * newest first.
   */
  pulls: IPullOperation[] = [];
  environment: IEnvironment | null = null;
  /** Why the kernels could not be listed (an APIError, a network error), or null. */
  error: unknown = null;
  loading = false;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Reload the kernels, the environment and the pulls; never rejects (errors land in
   * `error`; a pull listing that fails is retried by the poll). */
  async refresh(): Promise<void> {
    await Promise.all([this.refreshKernels(), this.refreshPulls().catch(() => undefined)]);
  }

  /** Reload the kernels and the environment; never rejects (errors land in `error`). */
  async refreshKernels(): Promise<void> {
    this.loading = true;
    this._changed.emit();
    const [kernels, environment] = await Promise.allSettled([
      requestAPI<{ kernels: IKernel[] }>('kernels'),
      requestAPI<IEnvironment>('environment')
    ]);
    this.loading = false;
    if (kernels.status === 'fulfilled') {
      this.kernels = [...kernels.value.kernels].sort((a, b) =>
        a.display_name.localeCompare(b.display_name)
      );
      this.error = null;
    } else {
      this.error = kernels.reason;
    }
    if (environment.status === 'fulfilled') {
      this.environment = environment.value;
    } else if (this.error === null) {
      this.error = environment.reason;
    }
    this._changed.emit();
  }

  /** What the image contains, or why it cannot run (rejects with the server's message). */
  probe(spec: ISpec): Promise<IProbe> {
    return sendJSON<IProbe>('images/probe', 'POST', { spec });
  }

  /** The `#SBATCH` lines a node kernel with `slurm` would use (over the site's defaults);
   * rejects with the server's message naming a bad field. */
  previewNode(slurm: INodeSlurm): Promise<{ sbatch: string[] }> {
    return sendJSON<{ sbatch: string[] }>('node-kernels/preview', 'POST', { slurm });
  }

  /** Register an image as a kernel; resolves once the launcher knows it. */
  async register(request: IRegisterRequest): Promise<IKernel> {
    const kernel = await sendJSON<IKernel>('kernels', 'POST', request);
    await Promise.all([this.refreshKernels(), this.specsChanged()]);
    return kernel;
  }

  /** Remove a (user) kernel; resolves once the launcher dropped its tile. */
  async remove(name: string): Promise<void> {
    await sendJSON<void>(`kernels/${encodeURIComponent(name)}`, 'DELETE');
    await Promise.all([this.refreshKernels(), this.specsChanged()]);
  }

  /**
   * Reload the pulls (`GET images/pulls`). When one this page saw running registered a kernel,
   * the kernels and Lab's kernelspecs (the launcher's tiles) are reloaded too.
   */
  async refreshPulls(): Promise<void> {
    const { pulls } = await requestAPI<{ pulls: IPullOperation[] }>('images/pulls');
    let installed = false;
    for (const op of pulls) {
      if (op.state === 'running') {
        this._seen.set(op.id, op.state);
      } else if (this._seen.get(op.id) === 'running') {
        this._seen.set(op.id, op.state);
        installed ||= op.state === 'succeeded' && op.kernel !== null;
      }
    }
    this.pulls = pulls.filter(op => this._seen.has(op.id) && !this._dismissed.has(op.id));
    this._changed.emit();
    if (installed) {
      await Promise.all([this.refreshKernels(), this.specsChanged()]);
    }
  }

  /** Start a pull (rejects with the server's message for a bad body); it is shown, with
   * its progress, until dismissed. */
  async startPull(request: IPullRequest): Promise<IPullOperation> {
    const op = await sendJSON<IPullOperation>('images/pulls', 'POST', request);
    this._seen.set(op.id, op.state);
    this.pulls = [op, ...this.pulls.filter(o => o.id !== op.id)];
    this._changed.emit();
    void this._pullPoll.refresh();
    return op;
  }

  /** Ask the server to cancel a running pull; it turns `cancelled` at the next poll. */
  async cancelPull(id: string): Promise<void> {
    const op = await sendJSON<IPullOperation>(`images/pulls/${encodeURIComponent(id)}`, 'DELETE');
    this.pulls = this.pulls.map(o => (o.id === id ? op : o));
    this._changed.emit();
    void this._pullPoll.refresh();
  }

  /** Stop showing a finished pull. */
  dismissPull(id: string): void {
    this._dismissed.add(id);
    this.pulls = this.pulls.filter(op => op.id !== id);
    this._changed.emit();
  }

  dispose(): void {
    this._pullPoll.dispose();
  }

  /** Record a probe result for a listed kernel (the server caches it too). */
  setProbe(name: string, probe: IProbe): void {
    this.kernels = this.kernels.map(k => (k.name === name ? { ...k, probe } : k));
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _pullPoll: Poll;
  /** The last state seen of each pull this page has seen running. */
  private _seen = new Map<string, IPullOperation['state']>();
  private _dismissed = new Set<string>();
}
