/**
 * The body of the "Submit as batch job" dialog: kernel, Slurm resources, parameters, sweep, and a
 * live preview of the exact sbatch script the server would submit.
 */
import { HTMLSelect, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';
import { describeError } from '../errors';
import { sendJSON } from '../request';
import type { IEnvironment, IKernel, IPreview } from '../types';
import { BuildResult, buildSubmitRequest, IBatchForm } from './form';
import type { ISkippedLine } from './parameters';

/** What the dialog shows besides the form itself. */
export interface IBatchContext {
  /** The notebook's own kernelspec name ('' when it has none). */
  notebookKernel: string;
  kernels: IKernel[];
  environment: IEnvironment | null;
  /** Why the environment (partitions) could not be read, or null. */
  environmentError: string | null;
  /** Why the container kernels could not be listed, or null. */
  kernelsError: string | null;
  /** Whether the notebook has a cell tagged `parameters`. */
  hasParametersCell: boolean;
  skipped: ISkippedLine[];
}

const PREVIEW_DELAY_MS = 300;

function usePreview(form: IBatchForm): { script: string | null; error: string | null } {
  const [state, setState] = React.useState<{ script: string | null; error: string | null }>({
    script: null,
    error: null
  });
  const key = JSON.stringify(form);
  React.useEffect(() => {
    const built = buildSubmitRequest(form);
    if (!built.ok) {
      setState({ script: null, error: built.errors.join('\n') });
      return;
    }
    let current = true;
    const timer = window.setTimeout(() => {
      sendJSON<IPreview>('batch/preview', 'POST', built.request).then(
        preview => current && setState({ script: preview.script, error: null }),
        error => current && setState({ script: null, error: describeError(error) })
      );
    }, PREVIEW_DELAY_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [key]);
  return state;
}

function BatchFormView(props: {
  context: IBatchContext;
  initial: IBatchForm;
  onChange: (form: IBatchForm) => void;
}): JSX.Element {
  const { context, onChange } = props;
  const [form, setForm] = React.useState(props.initial);
  const update = (changes: Partial<IBatchForm>) =>
    setForm(current => {
      const next = { ...current, ...changes };
      onChange(next);
      return next;
    });
  const preview = usePreview(form);

  const kernelOptions = context.kernels.map(k => ({ value: k.name, label: k.display_name }));
  if (form.kernel && !context.kernels.some(k => k.name === form.kernel)) {
    const note = context.kernelsError ? '' : ' (not a container kernel)';
    kernelOptions.unshift({ value: form.kernel, label: `${form.kernel}${note}` });
  }
  const slurm = context.environment?.slurm;
  const partitionOptions = [
    { value: '', label: 'cluster default' },
    ...(slurm?.partitions ?? []).map(p => ({
      value: p.name,
      label: `${p.name}${p.default ? ' (default)' : ''} · ${p.state}${p.gres ? ` · ${p.gres}` : ''}`
    }))
  ];
  if (form.partition && !partitionOptions.some(o => o.value === form.partition)) {
    partitionOptions.push({ value: form.partition, label: `${form.partition} (from settings)` });
  }
  const text = (
    label: string,
    key: 'time' | 'cpus' | 'mem' | 'gpus' | 'account',
    placeholder: string,
    type = 'text'
  ) => (
    <label>
      {label}
      <input
        className="jp-mod-styled"
        type={type}
        min={type === 'number' ? 0 : undefined}
        value={form[key]}
        placeholder={placeholder}
        onChange={e => update({ [key]: e.target.value })}
        data-testid={`jck-batch-${key}`}
      />
    </label>
  );
  return (
    <div className="jck-Form jck-BatchForm" data-testid="jck-batch-dialog">
      <div className="jck-Muted">Notebook: {form.notebook}</div>
      <label>
        Kernel
        <HTMLSelect
          value={form.kernel}
          options={kernelOptions}
          onChange={e => update({ kernel: e.target.value })}
          data-testid="jck-batch-kernel"
        />
        {context.kernelsError && <div className="jck-Error">{context.kernelsError}</div>}
      </label>
      <fieldset>
        <legend>Resources</legend>
        {context.environmentError && <div className="jck-Error">{context.environmentError}</div>}
        {slurm && !slurm.available && (
          <div className="jck-Error" data-testid="jck-batch-slurm">
            Slurm is not available: {slurm.message ?? 'no message'}
          </div>
        )}
        <div className="jck-Grid">
          <label>
            Partition
            <HTMLSelect
              value={form.partition}
              options={partitionOptions}
              onChange={e => update({ partition: e.target.value })}
              data-testid="jck-batch-partition"
            />
          </label>
          {text('Time limit', 'time', 'HH:MM:SS or D-HH:MM:SS')}
          {text('CPUs', 'cpus', 'default', 'number')}
          {text('Memory', 'mem', 'e.g. 16G')}
          {text('GPUs', 'gpus', '0', 'number')}
          {text('Account', 'account', 'default')}
        </div>
      </fieldset>
      <fieldset>
        <legend>Parameters</legend>
        {!context.hasParametersCell && (
          <div className="jck-Hint">
            This notebook has no cell tagged <code>parameters</code>; tag one to pass values to
            the job.
          </div>
        )}
        {form.defaults.map(param => (
          <label key={param.name} className="jck-Param" data-testid="jck-batch-param" data-name={param.name}>
            <span>
              {param.name}
              {param.annotation && <span className="jck-Muted">: {param.annotation}</span>}
            </span>
            <input
              className="jp-mod-styled"
              value={form.values[param.name] ?? param.literal}
              disabled={form.sweepEnabled && form.sweepName === param.name}
              onChange={e => update({ values: { ...form.values, [param.name]: e.target.value } })}
            />
            {param.comment && <span className="jck-Hint">{param.comment}</span>}
          </label>
        ))}
        {context.skipped.length > 0 && (
          <div className="jck-Hint" title={context.skipped.map(s => `${s.line}: ${s.text} — ${s.reason}`).join('\n')}>
            {context.skipped.length} line(s) of the parameters cell are not{' '}
            <code>name = value</code> literals and run as written.
          </div>
        )}
        {form.defaults.length > 0 && (
          <div className="jck-Sweep">
            <label className="jck-Check">
              <input
                type="checkbox"
                checked={form.sweepEnabled}
                onChange={e => update({ sweepEnabled: e.target.checked })}
                data-testid="jck-batch-sweep"
              />
              Sweep one parameter (one job-array task per value)
            </label>
            {form.sweepEnabled && (
              <div className="jck-Row">
                <HTMLSelect
                  value={form.sweepName}
                  options={form.defaults.map(p => p.name)}
                  onChange={e => update({ sweepName: e.target.value })}
                  data-testid="jck-batch-sweep-name"
                />
                <input
                  className="jp-mod-styled"
                  value={form.sweepValues}
                  placeholder="0.1, 0.01, 0.001"
                  onChange={e => update({ sweepValues: e.target.value })}
                  data-testid="jck-batch-sweep-values"
                />
              </div>
            )}
          </div>
        )}
      </fieldset>
      <fieldset>
        <legend>sbatch script</legend>
        {preview.error ? (
          <div className="jck-Error" role="alert" data-testid="jck-batch-error">
            {preview.error}
          </div>
        ) : (
          <pre className="jck-Script" data-testid="jck-batch-preview">
            {preview.script ?? 'Rendering…'}
          </pre>
        )}
      </fieldset>
    </div>
  );
}

/** The dialog body; `getValue()` is the request the form describes (or why it is invalid). */
export class BatchDialogBody extends ReactWidget {
  constructor(
    private readonly context: IBatchContext,
    initial: IBatchForm
  ) {
    super();
    this.form = initial;
    this.addClass('jck-BatchDialog');
  }

  /** The form as last edited (to reopen the dialog after an error). */
  form: IBatchForm;

  getValue(): BuildResult {
    return buildSubmitRequest(this.form);
  }

  render(): JSX.Element {
    return (
      <BatchFormView
        context={this.context}
        initial={this.form}
        onChange={form => {
          this.form = form;
        }}
      />
    );
  }
}
