/**
 * The "Container kernels" side panel: the registered container kernels and the
 * "Register image" form.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import {
  Button,
  ReactWidget,
  refreshIcon,
  ToolbarButtonComponent,
  UseSignal
} from '@jupyterlab/ui-components';
import * as React from 'react';
import { ErrorBox } from '../components';
import { describeError } from '../errors';
import { containerIcon } from '../icons';
import type { IKernel } from '../types';
import { describeProbe, imageStatus } from './form';
import type { KernelsModel } from './model';
import { RegisterForm } from './register';

function KernelItem(props: { kernel: IKernel; model: KernelsModel }): JSX.Element {
  const { kernel, model } = props;
  const [busy, setBusy] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const status = imageStatus(kernel);

  const remove = async () => {
    const answer = await showDialog({
      title: 'Remove container kernel',
      body: `Remove “${kernel.display_name}” (${kernel.name})? The image itself is not touched.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!answer.button.accept) {
      return;
    }
    setBusy('Removing…');
    try {
      await model.remove(kernel.name);
    } catch (e) {
      setError(describeError(e));
      setBusy(null);
    }
  };

  const probe = async () => {
    setBusy('Probing…');
    setError(null);
    try {
      model.setProbe(kernel.name, await model.probe(kernel.spec));
    } catch (e) {
      setError(describeError(e));
    }
    setBusy(null);
  };

  const row = (label: string, value: React.ReactNode, testid?: string) => (
    <>
      <dt>{label}</dt>
      <dd data-testid={testid}>{value}</dd>
    </>
  );
  return (
    <li className="jck-Kernel" data-testid="jck-kernel" data-kernel-name={kernel.name}>
      <div className="jck-Kernel-title">
        <containerIcon.react tag="span" className="jck-Kernel-icon" />
        <span className="jck-Kernel-name" title={kernel.name}>
          {kernel.display_name}
        </span>
        <span className="jck-Badge" title={`Installed in ${kernel.resource_dir}`}>
          {kernel.scope}
        </span>
        {kernel.managed && (
          <span className="jck-Badge" title="Managed by the site catalog">
            catalog
          </span>
        )}
      </div>
      <dl className="jck-Details">
        {row('Image', <span title={kernel.spec.image}>{kernel.spec.image}</span>, 'jck-kernel-image')}
        {row('Runtime', kernel.spec.runtime ?? 'apptainer')}
        {row('GPU', kernel.spec.gpu ?? 'auto')}
        {row('Modules', kernel.spec.modules?.length ? kernel.spec.modules.join(', ') : '—')}
        {row(
          'Status',
          <span className={`jck-Status jck-Status-${status.state}`} title={status.text}>
            {status.text}
          </span>,
          'jck-kernel-status'
        )}
      </dl>
      <div className="jck-Actions">
        {kernel.image_present && (
          <Button small minimal onClick={probe} disabled={busy !== null} data-testid="jck-kernel-probe">
            Probe
          </Button>
        )}
        {kernel.editable && (
          <Button
            small
            minimal
            className="jck-Danger"
            onClick={remove}
            disabled={busy !== null}
            data-testid="jck-kernel-remove"
          >
            Remove
          </Button>
        )}
        {busy && <span className="jck-Muted">{busy}</span>}
      </div>
      {error && (
        <div className="jck-Error" role="alert">
          {error}
        </div>
      )}
    </li>
  );
}

function KernelsView(props: {
  model: KernelsModel;
  docManager: IDocumentManager | null;
}): JSX.Element {
  const { model, docManager } = props;
  const [registering, setRegistering] = React.useState(false);
  // What the last registration found; shown while that kernel is listed.
  const [notice, setNotice] = React.useState<{ name: string; text: string } | null>(null);
  return (
    <UseSignal signal={model.changed}>
      {() => (
        <div className="jck-Panel">
          <header className="jck-Panel-header">
            <h2>Container kernels</h2>
            <ToolbarButtonComponent
              icon={refreshIcon}
              tooltip="Reload the container kernels"
              onClick={() => void model.refresh()}
              enabled={!model.loading}
            />
          </header>
          <ErrorBox error={model.error} testid="jck-kernels-error" />
          <ul className="jck-List" data-testid="jck-kernel-list">
            {model.kernels.map(kernel => (
              <KernelItem key={kernel.name} kernel={kernel} model={model} />
            ))}
          </ul>
          {!model.loading && model.error === null && model.kernels.length === 0 && (
            <p className="jck-Muted jck-Empty">
              No container kernels yet: register an image below.
            </p>
          )}
          {notice && model.kernels.some(k => k.name === notice.name) && (
            <div className="jck-Notice" data-testid="jck-register-notice">
              {notice.text}
            </div>
          )}
          {registering ? (
            <RegisterForm
              model={model}
              docManager={docManager}
              onDone={kernel => {
                setRegistering(false);
                setNotice(
                  kernel && {
                    name: kernel.name,
                    text:
                      `Registered “${kernel.display_name}”` +
                      (kernel.probe ? ` (${describeProbe(kernel.probe)})` : '') +
                      ': its tile is in the Launcher.'
                  }
                );
              }}
            />
          ) : (
            <Button
              className="jck-Register-toggle"
              onClick={() => {
                setNotice(null);
                setRegistering(true);
              }}
              data-testid="jck-register-toggle"
            >
              Register image…
            </Button>
          )}
        </div>
      )}
    </UseSignal>
  );
}

/** The side panel widget; the model refreshes whenever the panel is shown. */
export class KernelsPanel extends ReactWidget {
  constructor(
    readonly model: KernelsModel,
    private readonly docManager: IDocumentManager | null
  ) {
    super();
    this.id = 'jck-kernels-panel';
    this.addClass('jck-KernelsPanel');
    this.title.icon = containerIcon;
    this.title.caption = 'Container kernels';
  }

  protected onAfterShow(): void {
    void this.model.refresh();
  }

  render(): JSX.Element {
    return <KernelsView model={this.model} docManager={this.docManager} />;
  }
}
