/**
 * The "Container kernels" side panel: the registered container kernels, the image pulls in
 * progress and the "Register image" form.
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
import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { ErrorBox } from '../components';
import { describeError } from '../errors';
import { containerIcon } from '../icons';
import type { IKernel } from '../types';
import { describeProbe, imageStatus, shortDigest, slurmSummary } from './form';
import type { KernelsModel } from './model';
import { PullList } from './progress';
import { RegisterForm } from './register';

function KernelItem(props: {
  kernel: IKernel;
  model: KernelsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { kernel, model, trans } = props;
  const [busy, setBusy] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const status = imageStatus(kernel);
  // The server says whether it would probe this image (its site policy), and why not.
  const refusal = kernel.probe_refusal ?? null;

  const remove = async () => {
    const answer = await showDialog({
      title: trans.__('Remove container kernel'),
      body: trans.__(
        'Remove “%1” (%2)? The image itself is not touched.',
        kernel.display_name,
        kernel.name
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Remove') })
      ]
    });
    if (!answer.button.accept) {
      return;
    }
    setBusy(trans.__('Removing…'));
    try {
      await model.remove(kernel.name);
    } catch (e) {
      setError(describeError(e));
      setBusy(null);
    }
  };

  const probe = async () => {
    setBusy(trans.__('Probing…'));
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
        <span className="jck-Badge" title={trans.__('Installed in %1', kernel.resource_dir)}>
          {kernel.scope}
        </span>
        {kernel.managed && (
          <span className="jck-Badge" title={trans.__('Managed by the site catalog')}>
            {trans.__('catalog')}
          </span>
        )}
      </div>
      <dl className="jck-Details">
        {row(
          trans.__('Image'),
          <span title={kernel.spec.image}>{kernel.spec.image}</span>,
          'jck-kernel-image'
        )}
        {kernel.image_digest &&
          row(
            trans.__('Digest'),
            <span title={kernel.image_digest}>{shortDigest(kernel.image_digest)}</span>,
            'jck-kernel-digest'
          )}
        {row(trans.__('Runtime'), kernel.spec.runtime ?? 'apptainer')}
        {row(trans.__('GPU'), kernel.spec.gpu ?? 'auto')}
        {row(
          trans.__('Runs on'),
          kernel.slurm
            ? trans.__('a compute node (%1)', slurmSummary(kernel.slurm))
            : trans.__('this server'),
          'jck-kernel-runs-on'
        )}
        {row(
          trans.__('Modules'),
          kernel.spec.modules?.length ? kernel.spec.modules.join(', ') : '—'
        )}
        {row(
          trans.__('Status'),
          <span className={`jck-Status jck-Status-${status.state}`} title={status.text}>
            {status.text}
          </span>,
          'jck-kernel-status'
        )}
      </dl>
      <div className="jck-Actions">
        {kernel.image_present && (
          <Button
            small
            minimal
            onClick={probe}
            disabled={busy !== null || refusal !== null}
            title={refusal ?? trans.__('Run Python in the image and show what it contains')}
            data-testid="jck-kernel-probe"
          >
            {trans.__('Probe')}
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
            {trans.__('Remove')}
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
  trans: TranslationBundle;
}): JSX.Element {
  const { model, docManager, trans } = props;
  const [registering, setRegistering] = React.useState(false);
  // What the last registration found; shown while that kernel is listed.
  const [notice, setNotice] = React.useState<{ name: string; text: string } | null>(null);
  return (
    <UseSignal signal={model.changed}>
      {() => (
        <div className="jck-Panel">
          <header className="jck-Panel-header">
            <h2>{trans.__('Container kernels')}</h2>
            <ToolbarButtonComponent
              icon={refreshIcon}
              tooltip={trans.__('Reload the container kernels')}
              onClick={() => void model.refresh()}
              enabled={!model.loading}
            />
          </header>
          <ErrorBox error={model.error} trans={trans} testid="jck-kernels-error" />
          <ul className="jck-List" data-testid="jck-kernel-list">
            {model.kernels.map(kernel => (
              <KernelItem key={kernel.name} kernel={kernel} model={model} trans={trans} />
            ))}
          </ul>
          {!model.loading && model.error === null && model.kernels.length === 0 && (
            <p className="jck-Muted jck-Empty">
              {trans.__('No container kernels yet: register an image below.')}
            </p>
          )}
          <PullList model={model} trans={trans} />
          {notice && model.kernels.some(k => k.name === notice.name) && (
            <div className="jck-Notice" data-testid="jck-register-notice">
              {notice.text}
            </div>
          )}
          {registering ? (
            <RegisterForm
              model={model}
              docManager={docManager}
              trans={trans}
              onDone={kernel => {
                setRegistering(false);
                setNotice(
                  kernel && {
                    name: kernel.name,
                    text: kernel.probe
                      ? trans.__(
                          'Registered “%1” (%2): its tile is in the Launcher.',
                          kernel.display_name,
                          describeProbe(kernel.probe)
                        )
                      : trans.__(
                          'Registered “%1”: its tile is in the Launcher.',
                          kernel.display_name
                        )
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
              {trans.__('Register image…')}
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
    private readonly docManager: IDocumentManager | null,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.id = 'jck-kernels-panel';
    this.addClass('jck-KernelsPanel');
    this.title.icon = containerIcon;
    this.title.caption = trans.__('Container kernels');
  }

  protected onAfterShow(): void {
    void this.model.refresh();
  }

  render(): JSX.Element {
    return <KernelsView model={this.model} docManager={this.docManager} trans={this.trans} />;
  }
}
