/**
 * The body of the "Submit as batch job" dialog: kernel, Slurm resources, parameters, sweep, and a
 * live preview of the exact sbatch script the server would submit.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { HTMLSelect, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';
import { describeError } from '../errors';
import { sendJSON } from '../request';
import type {
  IEnvironment,
  IKernel,
  IPreview,
  ISkippedLine,
  IValuesRequest,
  IValuesResponse
} from '../types';
import { buildSubmitRequest, IBatchForm } from './form';

/** What the typed parameter and sweep fields mean, as the server reads them. */
export function readValues(texts: IValuesRequest): Promise<IValuesResponse> {
  return sendJSON<IValuesResponse>('batch/values', 'POST', texts);
}

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
  /** Why the server could not read the parameters cell, or null. */
  parametersError: string | null;
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
    let current = true;
    const render = async () => {
      const built = await buildSubmitRequest(form, readValues);
      if (!current) {
        return;
      }
      if (!built.ok) {
        setState({ script: null, error: built.errors.join('\n') });
        return;
      }
      try {
        const preview = await sendJSON<IPreview>('batch/preview', 'POST', built.request);
        if (current) {
          setState({ script: preview.script, error: null });
        }
      } catch (error) {
        if (current) {
          setState({ script: null, error: describeError(error) });
        }
      }
    };
    // Typing debounces both requests (values, then preview).
    const timer = window.setTimeout(() => void render(), PREVIEW_DELAY_MS);
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
  trans: TranslationBundle;
  onChange: (form: IBatchForm) => void;
}): JSX.Element {
  const { context, trans, onChange } = props;
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
    kernelOptions.unshift({
      value: form.kernel,
      label: context.kernelsError
        ? form.kernel
        : trans.__('%1 (not a container kernel)', form.kernel)
    });
  }
  const slurm = context.environment?.slurm;
  const partitionOptions = [
    { value: '', label: trans.__('cluster default') },
    ...(slurm?.partitions ?? []).map(p => ({
      value: p.name,
      label:
        `${p.default ? trans.__('%1 (default)', p.name) : p.name} · ${p.state}` +
        (p.gres ? ` · ${p.gres}` : '')
    }))
  ];
  if (form.partition && !partitionOptions.some(o => o.value === form.partition)) {
    partitionOptions.push({
      value: form.partition,
      label: trans.__('%1 (from settings)', form.partition)
    });
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
      <div className="jck-Muted">{trans.__('Notebook: %1', form.notebook)}</div>
      <label>
        {trans.__('Kernel')}
        <HTMLSelect
          value={form.kernel}
          options={kernelOptions}
          onChange={e => update({ kernel: e.target.value })}
          data-testid="jck-batch-kernel"
        />
        {context.kernelsError && <div className="jck-Error">{context.kernelsError}</div>}
      </label>
      <fieldset>
        <legend>{trans.__('Resources')}</legend>
        {context.environmentError && <div className="jck-Error">{context.environmentError}</div>}
        {slurm && !slurm.available && (
          <div className="jck-Error" data-testid="jck-batch-slurm">
            {trans.__('Slurm is not available: %1', slurm.message ?? trans.__('no message'))}
          </div>
        )}
        <div className="jck-Grid">
          <label>
            {trans.__('Partition')}
            <HTMLSelect
              value={form.partition}
              options={partitionOptions}
              onChange={e => update({ partition: e.target.value })}
              data-testid="jck-batch-partition"
            />
          </label>
          {text(trans.__('Time limit'), 'time', trans.__('HH:MM:SS or D-HH:MM:SS'))}
          {text(trans.__('CPUs'), 'cpus', trans.__('default'), 'number')}
          {text(trans.__('Memory'), 'mem', trans.__('e.g. 16G'))}
          {text(trans.__('GPUs'), 'gpus', '0', 'number')}
          {text(trans.__('Account'), 'account', trans.__('default'))}
        </div>
      </fieldset>
      <fieldset>
        <legend>{trans.__('Parameters')}</legend>
        {context.parametersError && <div className="jck-Error">{context.parametersError}</div>}
        {!context.hasParametersCell && !context.parametersError && (
          <div className="jck-Hint">
            {trans.__(
              'This notebook has no cell tagged “parameters”; tag one to pass values to the job.'
            )}
          </div>
        )}
        {form.defaults.map(param => (
          <label
            key={param.name}
            className="jck-Param"
            data-testid="jck-batch-param"
            data-name={param.name}
          >
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
          <div
            className="jck-Hint"
            title={context.skipped.map(s => `${s.line}: ${s.text} — ${s.reason}`).join('\n')}
          >
            {trans._n(
              '%1 statement of the parameters cell is not a “name = value” literal and runs as written.',
              '%1 statements of the parameters cell are not “name = value” literals and run as written.',
              context.skipped.length
            )}
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
              {trans.__('Sweep one parameter (one job-array task per value)')}
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
        <legend>{trans.__('sbatch script')}</legend>
        {preview.error ? (
          <div className="jck-Error" role="alert" data-testid="jck-batch-error">
            {preview.error}
          </div>
        ) : (
          <pre className="jck-Script" data-testid="jck-batch-preview">
            {preview.script ?? trans.__('Rendering…')}
          </pre>
        )}
      </fieldset>
    </div>
  );
}

/** The dialog body; `getValue()` is the form as the user left it. */
export class BatchDialogBody extends ReactWidget {
  constructor(
    private readonly context: IBatchContext,
    initial: IBatchForm,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.form = initial;
    this.addClass('jck-BatchDialog');
  }

  /** The form as last edited (to reopen the dialog after an error). */
  form: IBatchForm;

  getValue(): IBatchForm {
    return this.form;
  }

  render(): JSX.Element {
    return (
      <BatchFormView
        context={this.context}
        initial={this.form}
        trans={this.trans}
        onChange={form => {
          this.form = form;
        }}
      />
    );
  }
}
