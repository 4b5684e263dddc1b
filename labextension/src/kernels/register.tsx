/**
 * The "Register image" form: image path (with a file-browser picker), display name, runtime,
 * GPU, binds, modules, env; "Probe" shows what the image contains before registering.
 */
import { PageConfig } from '@jupyterlab/coreutils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import { FileDialog } from '@jupyterlab/filebrowser';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';
import { describeError } from '../errors';
import type { GpuChoice, IKernel, IProbe } from '../types';
import {
  buildRegisterRequest,
  buildSpec,
  defaultDisplayName,
  describeProbe,
  emptyForm,
  IRegisterForm,
  serverPath
} from './form';
import type { KernelsModel } from './model';

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

  const register = async () => {
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
        {trans.__('Image')}
        <div className="jck-Row">
          <input
            className="jp-mod-styled"
            value={form.image}
            placeholder="/shared/images/pytorch-2.7.sif"
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
          placeholder={defaultDisplayName(form.image) || 'PyTorch 2.7 (container)'}
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
          disabled={busy !== null}
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
          {trans.__('Register')}
        </Button>
        <Button type="button" minimal onClick={() => onDone(null)} disabled={busy !== null}>
          {trans.__('Cancel')}
        </Button>
      </div>
      {busy && <div className="jck-Muted">{busy}</div>}
    </form>
  );
}
