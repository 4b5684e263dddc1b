/**
 * The node kernels' indicator (in the status bar, or at the top without one): the current
 * notebook's or console's node kernel ("Slurm job 123 · node1 · 1:23:45 left", in warning
 * style near its time limit) and the starts waiting in the queue ("Waiting for Slurm: job 123
 * (Priority)"), which have no session yet, so no notebook could show them. A click opens the
 * queue view.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';
import { baseState } from '../jobs/format';
import { formatClock, isRunning, waitingText } from './format';
import type { NodeKernelsModel } from './model';

export class NodeStatus extends ReactWidget {
  constructor(
    private readonly model: NodeKernelsModel,
    private readonly trans: TranslationBundle,
    private readonly open: () => void
  ) {
    super();
    this.addClass('jck-NodeStatus');
    this.node.dataset.testid = 'jck-node-status';
    model.changed.connect(this._onChanged, this);
  }

  /** The Jupyter kernel id of the current notebook or console, or null. */
  get currentKernelId(): string | null {
    return this._current;
  }
  set currentKernelId(value: string | null) {
    if (value !== this._current) {
      this._current = value;
      this._onChanged();
    }
  }

  /** Whether there is anything to show (the status bar hides the item otherwise). */
  get isActive(): boolean {
    return this.model.find(this._current) !== null || this.model.waiting().length > 0;
  }

  /** Emitted when `isActive` may have changed. */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  dispose(): void {
    this.model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  render(): JSX.Element | null {
    const { model, trans } = this;
    const current = model.find(this._current);
    const waiting = model.waiting().filter(k => k.kernel_id !== this._current);
    if (!current && waiting.length === 0) {
      return null;
    }
    const left = current ? model.secondsLeft(current) : null;
    const ending = left !== null && left <= model.warnSeconds;
    let timeLeft: string | null = null;
    if (current && isRunning(current)) {
      if (left !== null) {
        timeLeft = trans.__('%1 left', formatClock(left));
      } else if (current.time_limit === 'UNLIMITED') {
        timeLeft = trans.__('no time limit');
      }
    }
    const parts: string[] = [];
    if (current) {
      parts.push(
        current.job_id ? trans.__('Slurm job %1', current.job_id) : trans.__('Slurm job …')
      );
      if (current.node) {
        parts.push(current.node);
      }
      if (!isRunning(current)) {
        parts.push(baseState(current.state));
      }
    }
    const open = (event: React.SyntheticEvent) => {
      event.preventDefault();
      this.open();
    };
    return (
      <div
        className="jck-NodeStatus-body"
        role="button"
        tabIndex={0}
        title={trans.__('Compute-node kernels: click to show the queue')}
        onClick={open}
        onKeyDown={event => {
          if (event.key === 'Enter' || event.key === ' ') {
            open(event);
          }
        }}
      >
        {current && (
          <span
            className={`jck-NodeStatus-current${ending ? ' jck-mod-warning' : ''}`}
            data-testid="jck-node-status-current"
            data-job-id={current.job_id ?? ''}
            data-state={baseState(current.state)}
          >
            <span aria-live="polite">{parts.join(' · ')}</span>
            {timeLeft && (
              <>
                {' · '}
                <span data-testid="jck-node-time-left" role="timer">
                  {timeLeft}
                </span>
              </>
            )}
            {ending && (
              <span className="jck-VisuallyHidden" aria-live="assertive">
                {trans.__('ends soon: save your work')}
              </span>
            )}
          </span>
        )}
        {waiting.length > 0 && (
          <span
            className="jck-NodeStatus-waiting"
            data-testid="jck-node-status-waiting"
            data-job-id={waiting[0].job_id ?? ''}
            aria-live="polite"
          >
            {waitingText(waiting, trans)}
          </span>
        )}
      </div>
    );
  }

  private _onChanged(): void {
    const active = this.isActive;
    this.update();
    if (active !== this._wasActive) {
      this._wasActive = active;
      this._activeChanged.emit();
    }
  }

  private _current: string | null = null;
  private _wasActive = false;
  private readonly _activeChanged = new Signal<this, void>(this);
}
