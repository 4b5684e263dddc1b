/**
 * The state behind the "Container kernels" panel: the kernels, the server's environment, and
 * the calls that change them.
 */
import { ISignal, Signal } from '@lumino/signaling';
import { requestAPI, sendJSON } from '../request';
import type { IEnvironment, IKernel, IProbe, IRegisterRequest, ISpec } from '../types';

export class KernelsModel {
  /**
   * @param specsChanged - called after a kernel was added or removed; the plugin refreshes
   *   Lab's kernelspecs there so the launcher shows (or drops) the tile.
   */
  constructor(private readonly specsChanged: () => Promise<void>) {}

  kernels: IKernel[] = [];
  environment: IEnvironment | null = null;
  /** Why the kernels could not be listed (an APIError, a network error), or null. */
  error: unknown = null;
  loading = false;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Reload the kernels and the environment; never rejects (errors land in `error`). */
  async refresh(): Promise<void> {
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

  /** Register an image as a kernel; resolves once the launcher knows it. */
  async register(request: IRegisterRequest): Promise<IKernel> {
    const kernel = await sendJSON<IKernel>('kernels', 'POST', request);
    await Promise.all([this.refresh(), this.specsChanged()]);
    return kernel;
  }

  /** Remove a (user) kernel; resolves once the launcher dropped its tile. */
  async remove(name: string): Promise<void> {
    await sendJSON<void>(`kernels/${encodeURIComponent(name)}`, 'DELETE');
    await Promise.all([this.refresh(), this.specsChanged()]);
  }

  /** Record a probe result for a listed kernel (the server caches it too). */
  setProbe(name: string, probe: IProbe): void {
    this.kernels = this.kernels.map(k => (k.name === name ? { ...k, probe } : k));
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
}
