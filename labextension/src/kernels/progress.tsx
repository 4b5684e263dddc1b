/**
 * The pulls of the "Container kernels" panel: one progress bar per pull (phase, bytes when the
 * tool says them, indeterminate otherwise), Cancel while it runs, the server's one-line error
 * when it fails.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';
import { describeError } from '../errors';
import type { IPullOperation } from '../types';
import type { KernelsModel } from './model';
import { pullProgress } from './pulls';

function PullItem(props: {
  op: IPullOperation;
  model: KernelsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { op, model, trans } = props;
  const [error, setError] = React.useState<string | null>(null);
  const [cancelling, setCancelling] = React.useState(false);
  const progress = pullProgress(op, trans);
  const running = op.state === 'running';

  const cancel = async () => {
    setCancelling(true);
    setError(null);
    try {
      await model.cancelPull(op.id);
    } catch (e) {
      setError(describeError(e));
      setCancelling(false);
    }
  };

  return (
    <li
      className={`jck-Pull jck-Pull-${op.state}`}
      data-testid="jck-pull"
      data-pull-id={op.id}
      data-state={op.state}
    >
      <div className="jck-Pull-source" title={op.source}>
        {op.source}
        <span className="jck-Badge">{op.runtime}</span>
      </div>
      {/* No value while the total is unknown: the browser shows an indeterminate bar. */}
      <progress
        className="jck-Pull-bar"
        max={1}
        value={progress.fraction ?? undefined}
        aria-label={trans.__('Pull of %1', op.source)}
        data-testid="jck-pull-progress"
        data-indeterminate={progress.fraction === null && running}
      />
      <div className="jck-Pull-status">
        <span aria-live="polite" data-testid="jck-pull-text">
          {progress.bytes ? `${progress.phase} · ${progress.bytes}` : progress.phase}
        </span>
        {running && (
          <Button
            small
            minimal
            className="jck-Danger"
            onClick={() => void cancel()}
            disabled={cancelling}
            data-testid="jck-pull-cancel"
          >
            {cancelling ? trans.__('Cancelling…') : trans.__('Cancel')}
          </Button>
        )}
        {!running && (
          <Button
            small
            minimal
            onClick={() => model.dismissPull(op.id)}
            title={trans.__('Stop showing this pull')}
            data-testid="jck-pull-dismiss"
          >
            {trans.__('Dismiss')}
          </Button>
        )}
      </div>
      {op.state === 'failed' && op.error && (
        <div className="jck-Error" role="alert" data-testid="jck-pull-error">
          {op.error}
        </div>
      )}
      {error && (
        <div className="jck-Error" role="alert">
          {error}
        </div>
      )}
    </li>
  );
}

/** The pulls the model shows (running ones, and finished ones until dismissed). */
export function PullList(props: {
  model: KernelsModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  if (model.pulls.length === 0) {
    return null;
  }
  return (
    <section className="jck-Pulls" aria-label={trans.__('Image pulls')}>
      <h3>{trans.__('Pulls')}</h3>
      <ul className="jck-List" data-testid="jck-pull-list">
        {model.pulls.map(op => (
          <PullItem key={op.id} op={op} model={model} trans={trans} />
        ))}
      </ul>
    </section>
  );
}
