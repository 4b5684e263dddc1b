/**
 * The "Compute-node kernels" side panel: every node kernel of this server, the starts still
 * waiting in the queue (which have no session, so no notebook shows them) included, with
 * Slurm's state, reason, estimated start, node and time left, and a Cancel button.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import {
  Button,
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent
} from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';
import { ErrorBox, showErrorDialog } from '../components';
import { nodesIcon } from '../icons';
import { baseState, stateKind, stateLabel } from '../jobs/format';
import type { INodeKernel } from '../types';
import { formatClock, formatEstimate, isLive, isWaiting } from './format';
import type { NodeKernelsModel } from './model';

/** Ask, then cancel the kernel's job; errors in a dialog. */
export async function confirmCancel(
  model: NodeKernelsModel,
  kernel: INodeKernel,
  trans: TranslationBundle
): Promise<void> {
  const job = kernel.job_id ?? trans.__('(not submitted yet)');
  const answer = await showDialog({
    title: isWaiting(kernel)
      ? trans.__('Cancel the queued kernel start')
      : trans.__('Cancel the kernel’s job'),
    body: isWaiting(kernel)
      ? trans.__(
          'Cancel Slurm job %1 of “%2”? The kernel start that waits for it fails.',
          job,
          kernel.display_name
        )
      : trans.__(
          'Cancel Slurm job %1 of “%2”? The kernel stops at once; what it holds in memory is lost.',
          job,
          kernel.display_name
        ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep it') }),
      Dialog.warnButton({ label: trans.__('Cancel job') })
    ]
  });
  if (answer.button.accept) {
    try {
      await model.cancel(kernel.kernel_id);
    } catch (error) {
      await showErrorDialog(trans.__('Cancelling failed'), error, trans);
    }
  }
}

function NodeKernelItem(props: {
  kernel: INodeKernel;
  model: NodeKernelsModel;
  now: number;
  trans: TranslationBundle;
}): JSX.Element {
  const { kernel, model, now, trans } = props;
  const left = model.secondsLeft(kernel, now);
  const estimate = formatEstimate(kernel.start_estimate, new Date(now));
  const state = baseState(kernel.state);
  const details: string[] = [];
  if (kernel.node) {
    details.push(trans.__('on %1', kernel.node));
  }
  if (estimate && state === 'PENDING') {
    details.push(trans.__('estimated start %1', estimate));
  }
  if (kernel.time_limit && state !== 'SUBMITTING') {
    details.push(
      kernel.time_limit === 'UNLIMITED'
        ? trans.__('no time limit')
        : trans.__('time limit %1', kernel.time_limit)
    );
  }
  return (
    <li
      className="jck-NodeKernel"
      data-testid="jck-node-kernel"
      data-kernel-id={kernel.kernel_id}
      data-job-id={kernel.job_id ?? ''}
      data-state={state}
    >
      <div className="jck-Job-title">
        <span className="jck-Job-id" data-testid="jck-node-kernel-job-id">
          {kernel.job_id ?? '…'}
        </span>
        <span className="jck-Job-name" title={kernel.kernel_name}>
          {kernel.display_name}
        </span>
      </div>
      <div className="jck-Job-state" aria-live="polite">
        <span
          className={`jck-State jck-State-${state === 'SUBMITTING' ? 'waiting' : stateKind(state)}`}
          data-testid="jck-node-kernel-state"
        >
          {stateLabel(kernel)}
        </span>
        {kernel.state_unknown && (
          <span className="jck-Muted" title={trans.__('Slurm did not answer the last question')}>
            {' '}
            {trans.__('(last known)')}
          </span>
        )}
        {left !== null && (
          <span
            className={`jck-NodeKernel-left${left <= model.warnSeconds ? ' jck-mod-warning' : ''}`}
            data-testid="jck-node-kernel-time-left"
            role="timer"
          >
            {trans.__('%1 left', formatClock(left))}
          </span>
        )}
      </div>
      {details.length > 0 && (
        <div className="jck-Muted" data-testid="jck-node-kernel-details">
          {details.join(' · ')}
        </div>
      )}
      {kernel.message && (
        <div className="jck-Muted jck-NodeKernel-message" data-testid="jck-node-kernel-message">
          {kernel.message}
        </div>
      )}
      {isLive(kernel) && (
        <div className="jck-Actions">
          <Button
            small
            minimal
            className="jck-Danger"
            onClick={() => void confirmCancel(model, kernel, trans)}
            data-testid="jck-node-kernel-cancel"
          >
            {trans.__('Cancel')}
          </Button>
        </div>
      )}
    </li>
  );
}

/** The side panel; the model polls for it only while it is visible (see `pollInterval`). */
export class NodeKernelsPanel extends ReactWidget {
  constructor(
    readonly model: NodeKernelsModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.id = 'jck-node-kernels-panel';
    this.addClass('jck-NodeKernelsPanel');
    this.title.icon = nodesIcon;
    this.title.caption = trans.__('Compute-node kernels');
    model.changed.connect(this.update, this);
  }

  /** Emitted when the panel is shown or hidden (the model's poll follows). */
  get visibilityChanged(): ISignal<this, boolean> {
    return this._visibilityChanged;
  }

  dispose(): void {
    this.model.changed.disconnect(this.update, this);
    super.dispose();
  }

  protected onAfterShow(): void {
    this._visibilityChanged.emit(true);
  }

  protected onAfterHide(): void {
    this._visibilityChanged.emit(false);
  }

  render(): JSX.Element {
    const { model, trans } = this;
    const now = Date.now();
    return (
      <div className="jck-Panel">
        <header className="jck-Panel-header">
          <h2>{trans.__('Compute-node kernels')}</h2>
          <ToolbarButtonComponent
            icon={refreshIcon}
            tooltip={trans.__('Refresh the node kernels')}
            onClick={() => void model.poll.refresh()}
          />
        </header>
        <ErrorBox error={model.error} trans={trans} testid="jck-node-kernels-error" />
        {model.schedulerError && (
          <div className="jck-Warning" role="status" data-testid="jck-node-scheduler-error">
            {trans.__('Slurm is not answering; states shown are the last known.')}
            <div className="jck-Muted">{model.schedulerError}</div>
          </div>
        )}
        <ul className="jck-List" data-testid="jck-node-kernel-list">
          {model.kernels.map(kernel => (
            <NodeKernelItem
              key={kernel.kernel_id}
              kernel={kernel}
              model={model}
              now={now}
              trans={trans}
            />
          ))}
        </ul>
        {model.loaded && model.kernels.length === 0 && (
          <p className="jck-Muted jck-Empty">
            {trans.__(
              'No kernels on compute nodes. A kernel whose kernelspec has a “slurm” block runs inside a Slurm job; its place in the queue and its time left show here.'
            )}
          </p>
        )}
      </div>
    );
  }

  private readonly _visibilityChanged = new Signal<this, boolean>(this);
}
