/**
 * The "Batch jobs" side panel: state (with Slurm's pending reason), times, cancel, output
 * notebooks and log tails. It polls the server only while it is visible.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import {
  Button,
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import { Poll } from '@lumino/polling';
import * as React from 'react';
import { ErrorBox, showErrorDialog } from '../components';
import { jobsIcon } from '../icons';
import type { IJob } from '../types';
import {
  baseState,
  formatTime,
  isTerminal,
  runTime,
  stateKind,
  stateLabel,
  taskSummary
} from './format';
import type { JobsModel } from './model';

/** How often a visible panel asks the server (one `GET jobs`; the server's watcher polls Slurm). */
const REFRESH_MS = 3000;

function JobItem(props: {
  job: IJob;
  model: JobsModel;
  commands: CommandRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { job, model, commands, trans } = props;
  const now = new Date();
  const log = model.logs.get(job.id);
  const logRef = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    // A tail: keep its newest lines in view.
    if (logRef.current) {
      logRef.current.scrollTop = logRef.current.scrollHeight;
    }
  }, [log]);
  const open = (path: string) => void commands.execute('docmanager:open', { path });
  const cancel = async () => {
    const answer = await showDialog({
      title: trans.__('Cancel batch job'),
      body: trans.__('Cancel job %1 (%2)?', job.id, job.name),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Keep it') }),
        Dialog.warnButton({ label: trans.__('Cancel job') })
      ]
    });
    if (answer.button.accept) {
      try {
        await model.cancel(job.id);
      } catch (error) {
        await showErrorDialog(trans.__('Cancelling failed'), error, trans);
      }
    }
  };
  const ran = runTime(job, now);
  return (
    <li
      className="jck-Job"
      data-testid="jck-job"
      data-job-id={job.id}
      data-state={baseState(job.state)}
    >
      <div className="jck-Job-title">
        <span className="jck-Job-id">{job.id}</span>
        <span className="jck-Job-name" title={job.notebook}>
          {job.name || PathExt.basename(job.notebook)}
        </span>
      </div>
      <div className="jck-Job-state">
        <span className={`jck-State jck-State-${stateKind(job.state)}`} data-testid="jck-job-state">
          {stateLabel(job)}
        </span>
      </div>
      <div className="jck-Muted" title={trans.__('Kernel %1', job.kernel)}>
        {job.notebook} · {job.kernel}
        {job.exit_code !== null &&
          job.exit_code !== 0 &&
          ` · ${trans.__('exit code %1', job.exit_code)}`}
      </div>
      <div className="jck-Muted jck-Job-times">
        {trans.__('Submitted %1', formatTime(job.submitted, now))}
        {job.started && ` · ${trans.__('started %1', formatTime(job.started, now))}`}
        {job.ended && ` · ${trans.__('ended %1', formatTime(job.ended, now))}`}
        {ran && ` · ${job.ended ? trans.__('ran %1', ran) : trans.__('running for %1', ran)}`}
      </div>
      {job.array_size !== null && job.array_size > 0 && (
        <div className="jck-Tasks">
          <div className="jck-Muted">
            {trans.__('Array of %1', job.array_size)}
            {job.tasks.length > 0 && `: ${taskSummary(job)}`}
          </div>
          <ul>
            {job.tasks.map(task => (
              <li key={task.index} data-testid="jck-job-task" data-state={baseState(task.state)}>
                <span>#{task.index}</span>
                <span className={`jck-State jck-State-${stateKind(task.state)}`}>
                  {baseState(task.state)}
                </span>
                {task.output_notebook && baseState(task.state) !== 'PENDING' && (
                  <Button
                    small
                    minimal
                    title={task.output_notebook}
                    onClick={() => open(task.output_notebook!)}
                  >
                    {trans.__('Open output')}
                  </Button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
      <div className="jck-Actions">
        {!isTerminal(job.state) && (
          <Button
            small
            minimal
            className="jck-Danger"
            onClick={cancel}
            data-testid="jck-job-cancel"
          >
            {trans.__('Cancel')}
          </Button>
        )}
        {/* The output notebook exists once the job started (the executor writes it as it goes). */}
        {(job.array_size || !job.started ? [] : job.output_notebooks).map(path => (
          <Button
            small
            minimal
            key={path}
            title={path}
            onClick={() => open(path)}
            data-testid="jck-job-open-output"
          >
            {trans.__('Open %1', PathExt.basename(path))}
          </Button>
        ))}
        <Button
          small
          minimal
          onClick={() => void model.toggleLog(job.id)}
          data-testid="jck-job-log-toggle"
        >
          {log === undefined ? trans.__('Show log') : trans.__('Hide log')}
        </Button>
      </div>
      {log !== undefined && (
        <pre
          ref={logRef}
          className="jck-Log"
          data-testid="jck-job-log"
          title={job.log_path ?? undefined}
          aria-live="polite"
          aria-label={trans.__('Log of job %1', job.id)}
        >
          {log || trans.__('(the log is empty so far)')}
        </pre>
      )}
    </li>
  );
}

/** The side panel widget; its `Poll` stands by whenever the panel is not visible. */
export class JobsPanel extends ReactWidget {
  constructor(
    readonly model: JobsModel,
    private readonly commands: CommandRegistry,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.id = 'jck-jobs-panel';
    this.addClass('jck-JobsPanel');
    this.title.icon = jobsIcon;
    this.title.caption = trans.__('Batch jobs');
    this.poll = new Poll({
      name: 'jupyter-container-kernels:jobs',
      factory: () => this.model.refresh(),
      frequency: { interval: REFRESH_MS, backoff: true, max: 60 * 1000 },
      // Hidden panel (or hidden browser tab): no requests at all.
      standby: () => !this.isVisible || 'when-hidden'
    });
  }

  readonly poll: Poll;

  /** Refresh now (e.g. right after a submit). */
  refresh(): Promise<void> {
    return this.poll.refresh();
  }

  dispose(): void {
    this.poll.dispose();
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.poll.refresh();
  }

  render(): JSX.Element {
    const { model, commands, trans } = this;
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <div className="jck-Panel">
            <header className="jck-Panel-header">
              <h2>{trans.__('Batch jobs')}</h2>
              <ToolbarButtonComponent
                icon={refreshIcon}
                tooltip={trans.__('Refresh the jobs')}
                onClick={() => void this.refresh()}
              />
            </header>
            <ErrorBox error={model.error} trans={trans} testid="jck-jobs-error" />
            <ul className="jck-List" data-testid="jck-job-list">
              {model.jobs.map(job => (
                <JobItem key={job.id} job={job} model={model} commands={commands} trans={trans} />
              ))}
            </ul>
            {model.loaded && model.jobs.length === 0 && (
              <p className="jck-Muted jck-Empty">
                {trans.__(
                  'No batch jobs yet: use “Submit as batch job” in a notebook’s toolbar or the file browser’s context menu.'
                )}
              </p>
            )}
          </div>
        )}
      </UseSignal>
    );
  }
}
