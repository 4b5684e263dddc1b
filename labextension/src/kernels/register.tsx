/**
 * The "Register image" form: image path (with a file-browser picker), image reference or
 * archive, display name, runtime, GPU, binds, modules, env; "Probe" shows what a ready image
 * contains before registering. A reference or an archive is pulled first (`POST images/pulls`
 * with `install`): the panel shows the pull's progress and the kernel appears when it is done.
 */
import { PageConfig } from '@jupyterlab/coreutils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import { FileDialog } from '@jupyterlab/filebrowser';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';
import { describeError } from '../errors';
import type { GpuChoice, IKernel, IPartition, IProbe } from '../types';
import {
  buildRegisterRequest,
  buildSlurm,
  buildSpec,
  defaultDisplayName,
  describeProbe,
  emptyForm,
  INodeForm,
  IRegisterForm,
  serverPath
} from './form';
import type { KernelsModel } from './model';
import {
  buildPullRequest,
  ISourceInfo,
  needsPull,
  recognizeSource,
  sourceDisplayName
} from './pulls';

/** What the Image field was recognised as, in one line. */
function describeSource(source: ISourceInfo, runtime: string, trans: TranslationBundle): string {
  switch (source.kind) {
    case 'image':
      return trans.__('A ready image (a .sif file or an image directory): registered as it is.');
    case 'registry':
      return source.scheme === 'oras'
        ? trans.__('A SIF in a registry (oras://): pulled for %1, then registered.', runtime)
        : trans.__(
            'An image in a registry (docker://): pulled into the image store for %1, then registered.',
            runtime
          );
    case 'archive':
      return source.scheme === 'tarball'
        ? trans.__(
            'An archive (a docker save tarball): pulled into the image store for %1, then registered.',
            runtime
          )
        : trans.__(
            'An archive (%1:): pulled into the image store for %2, then registered.',
            source.scheme,
            runtime
          );
    case 'unsupported':
      return trans.__(
        '%1 sources are not pulled into the image store: Register passes the reference to the runtime as it is.',
        source.scheme
      );
    default:
      return '';
  }
}

function gpuOptions(trans: TranslationBundle): { value: GpuChoice; label: string }[] {
  return [
    { value: 'auto', label: trans.__('auto') },
    { value: 'nvidia', label: 'NVIDIA' },
    { value: 'rocm', label: 'AMD ROCm' },
    { value: 'none', label: trans.__('none') }
  ];
}

export function RegisterForm(props: {
  model: KernelsModel;
  docManager: IDocumentManager | null;
  trans: TranslationBundle;
  /** Called with the registered kernel, or null when cancelled or once a pull started (the
   * panel shows its progress). */
  onDone: (kernel: IKernel | null) => void;
}): JSX.Element {
  const { model, docManager, trans, onDone } = props;
  const environment = model.environment;
  const [form, setForm] = React.useState<IRegisterForm>(() =>
    emptyForm(environment?.defaults.runtime ?? 'apptainer')
  );
  const [errors, setErrors] = React.useState<string[]>([]);
  const [probe, setProbe] = React.useState<IProbe | null>(null);
  const [busy, setBusy] = React.useState<string | null>(null);

  const update = (changes: Partial<IRegisterForm>) => {
    setForm(current => ({ ...current, ...changes }));
    setProbe(null); // a probe describes the spec it ran with
  };

  const browse = async () => {
    if (!docManager) {
      return;
    }
    const result = await FileDialog.getOpenFiles({
      manager: docManager,
      title: trans.__('Select an image (a .sif file or an image directory)')
    });
    const picked = result.button.accept ? result.value?.[0] : undefined;
    if (picked) {
      const path = serverPath(
        picked.path,
        environment?.server_root ?? PageConfig.getOption('serverRoot')
      );
      if (path.ok) {
        update({ image: path.path });
      } else {
        setErrors([path.error]);
      }
    }
  };

  const runProbe = async () => {
    const spec = buildSpec(form);
    if (!spec.ok) {
      setErrors(spec.errors);
      return;
    }
    setErrors([]);
    setBusy(trans.__('Probing the image…'));
    try {
      setProbe(await model.probe(spec.spec));
    } catch (e) {
      setErrors([describeError(e)]);
    }
    setBusy(null);
  };

  const pull = async () => {
    const built = buildPullRequest(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors([]);
    setBusy(trans.__('Starting the pull…'));
    try {
      await model.startPull(built.request);
      onDone(null);
    } catch (e) {
      setErrors([describeError(e)]);
      setBusy(null);
    }
  };

  const register = async () => {
    if (pulling) {
      return pull();
    }
    const built = buildRegisterRequest(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors([]);
    setBusy(trans.__('Registering (probing the image first)…'));
    try {
      onDone(await model.register(built.request));
    } catch (e) {
      setErrors([describeError(e)]);
      setBusy(null);
    }
  };

  const source = recognizeSource(form.image);
  const pulling = needsPull(form.image);
  const runtimes = environment?.runtimes ?? [];
  const runtimeOptions = (runtimes.length ? runtimes : [{ name: form.runtime, found: true }]).map(
    r => ({
      value: r.name,
      label: r.found ? r.name : trans.__('%1 (not found on this server)', r.name)
    })
  );
  const defaults = environment?.defaults;
  const hint = (text: string | null) => text && <div className="jck-Hint">{text}</div>;
  return (
    <form
      className="jck-Form jck-RegisterForm"
      data-testid="jck-register-form"
      onSubmit={event => {
        event.preventDefault();
        void register();
      }}
    >
      <h3>{trans.__('Register image')}</h3>
      <label>
        {trans.__('Image, reference or archive')}
        <div className="jck-Row">
          <input
            className="jp-mod-styled"
            value={form.image}
            placeholder="/shared/images/pytorch-2.7.sif, docker://…, images/tool.tar"
            onChange={e => update({ image: e.target.value })}
            data-testid="jck-register-image"
            required
          />
          {docManager && (
            <Button
              type="button"
              small
              onClick={() => void browse()}
              data-testid="jck-register-browse"
            >
              {trans.__('Browse…')}
            </Button>
          )}
        </div>
        {source.kind !== 'empty' && (
          <div
            className="jck-Hint"
            data-testid="jck-register-source-kind"
            data-kind={source.kind}
            data-scheme={source.scheme}
          >
            {describeSource(source, form.runtime, trans)}
          </div>
        )}
        {hint(
          defaults?.allowed_image_roots?.length
            ? trans.__('Allowed locations: %1', defaults.allowed_image_roots.join(', '))
            : null
        )}
      </label>
      <label>
        {trans.__('Display name')}
        <input
          className="jp-mod-styled"
          value={form.displayName}
          placeholder={
            (pulling ? sourceDisplayName(form.image) : defaultDisplayName(form.image)) ||
            'PyTorch 2.7 (container)'
          }
          onChange={e => update({ displayName: e.target.value })}
          data-testid="jck-register-display-name"
        />
      </label>
      <div className="jck-Row">
        <label>
          {trans.__('Runtime')}
          <HTMLSelect
            value={form.runtime}
            options={runtimeOptions}
            onChange={e => update({ runtime: e.target.value })}
            data-testid="jck-register-runtime"
          />
        </label>
        <label>
          {trans.__('GPU')}
          <HTMLSelect
            value={form.gpu}
            options={gpuOptions(trans)}
            onChange={e => update({ gpu: e.target.value as GpuChoice })}
            data-testid="jck-register-gpu"
          />
          {hint(environment ? trans.__('auto: this server has %1', environment.gpu) : null)}
        </label>
      </div>
      <label>
        {trans.__('Binds')}
        <textarea
          className="jp-mod-styled"
          rows={2}
          value={form.binds}
          placeholder={'/scratch\n/data:/data:ro'}
          onChange={e => update({ binds: e.target.value })}
          data-testid="jck-register-binds"
        />
        {hint(
          defaults?.binds?.length ? trans.__('Site adds: %1', defaults.binds.join(', ')) : null
        )}
      </label>
      <label>
        {trans.__('Modules')}
        <input
          className="jp-mod-styled"
          value={form.modules}
          placeholder="cuda/12.4"
          onChange={e => update({ modules: e.target.value })}
          data-testid="jck-register-modules"
        />
        {hint(
          environment && !environment.module_system
            ? trans.__('No module system found on this server.')
            : defaults?.modules?.length
              ? trans.__('Site loads: %1', defaults.modules.join(', '))
              : null
        )}
      </label>
      <label>
        {trans.__('Environment')}
        <textarea
          className="jp-mod-styled"
          rows={2}
          value={form.env}
          placeholder="OMP_NUM_THREADS=4"
          onChange={e => update({ env: e.target.value })}
          data-testid="jck-register-env"
        />
      </label>
      <NodeFields
        node={form.node}
        partitions={environment?.slurm?.partitions ?? []}
        model={model}
        trans={trans}
        onChange={node => update({ node: { ...form.node, ...node } })}
      />
      {probe && (
        <div
          className={`jck-Probe ${probe.ok ? 'jck-Status-ok' : 'jck-Status-error'}`}
          data-testid="jck-probe-result"
          data-ok={probe.ok}
        >
          {describeProbe(probe)}
          {probe.platform && <div className="jck-Hint">{probe.platform}</div>}
        </div>
      )}
      {errors.map(error => (
        <div className="jck-Error" role="alert" key={error} data-testid="jck-register-error">
          {error}
        </div>
      ))}
      <div className="jck-Actions">
        <Button
          type="button"
          onClick={() => void runProbe()}
          disabled={busy !== null || pulling}
          title={
            pulling
              ? trans.__('The image is probed once pulled, before the kernel is registered')
              : trans.__('Run Python in the image and show what it contains')
          }
          data-testid="jck-probe-button"
        >
          {trans.__('Probe')}
        </Button>
        <Button
          type="submit"
          className="jck-Primary"
          disabled={busy !== null}
          data-testid="jck-register-submit"
        >
          {pulling ? trans.__('Pull and register') : trans.__('Register')}
        </Button>
        <Button type="button" minimal onClick={() => onDone(null)} disabled={busy !== null}>
          {trans.__('Cancel')}
        </Button>
      </div>
      {busy && <div className="jck-Muted">{busy}</div>}
    </form>
  );
}

/** "Run on a compute node": a node kernel's Slurm resources (partitions from `sinfo`) and the
 * `#SBATCH` lines the server would submit it with, validated by the server as they are typed. */
function NodeFields(props: {
  node: INodeForm;
  partitions: IPartition[];
  model: KernelsModel;
  trans: TranslationBundle;
  onChange: (node: Partial<INodeForm>) => void;
}): JSX.Element {
  const { node, partitions, model, trans, onChange } = props;
  const [preview, setPreview] = React.useState<{ lines: string[]; error: string | null }>({
    lines: [],
    error: null
  });
  const slurm = buildSlurm(node);
  const key = JSON.stringify(slurm ?? null);
  React.useEffect(() => {
    if (!slurm) {
      return;
    }
    let current = true;
    const timer = window.setTimeout(() => {
      model.previewNode(slurm).then(
        result => current && setPreview({ lines: result.sbatch, error: null }),
        error => current && setPreview({ lines: [], error: describeError(error) })
      );
    }, 300);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [key]);
  const text = (field: keyof INodeForm, label: string, placeholder: string) => (
    <label>
      {label}
      <input
        className="jp-mod-styled"
        value={node[field] as string}
        placeholder={placeholder}
        onChange={e => onChange({ [field]: e.target.value })}
        data-testid={`jck-register-node-${field}`}
      />
    </label>
  );
  return (
    <fieldset className="jck-NodeFields" data-testid="jck-register-node">
      <label className="jck-Check">
        <input
          type="checkbox"
          checked={node.enabled}
          onChange={e => onChange({ enabled: e.target.checked })}
          data-testid="jck-register-node-enabled"
        />
        {trans.__('Run on a compute node (a Slurm job per kernel)')}
      </label>
      {node.enabled && (
        <>
          <div className="jck-Row">
            <label>
              {trans.__('Partition')}
              <HTMLSelect
                value={node.partition}
                options={[
                  { value: '', label: trans.__('(site default)') },
                  ...partitions.map(p => ({
                    value: p.name,
                    label: p.gres ? `${p.name} (${p.gres})` : p.name
                  }))
                ]}
                onChange={e => onChange({ partition: e.target.value })}
                data-testid="jck-register-node-partition"
              />
            </label>
            {text('time', trans.__('Time limit'), '2:00:00')}
          </div>
          <div className="jck-Row">
            {text('gres', trans.__('GRES'), 'gpu:1')}
            {text('cpus_per_task', trans.__('CPUs'), '8')}
            {text('mem', trans.__('Memory'), '32G')}
            {text('account', trans.__('Account'), 'proj')}
          </div>
          {preview.error ? (
            <div className="jck-Error" role="alert" data-testid="jck-register-node-error">
              {preview.error}
            </div>
          ) : (
            <pre className="jck-Script" aria-live="polite" data-testid="jck-register-sbatch">
              {preview.lines.join('\n')}
            </pre>
          )}
        </>
      )}
    </fieldset>
  );
}
