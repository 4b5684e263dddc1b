/**
 * Small React pieces shared by the panels and dialogs.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';
import { describeError, FIX_COMMANDS, ServerExtensionMissingError } from './errors';

/**
 * An error as the user should read it: the server's message, or, when the server extension is
 * missing, the commands that fix it in a copyable block.
 */
export function ErrorBox(props: {
  error: unknown;
  trans: TranslationBundle;
  testid?: string;
}): JSX.Element | null {
  const { error, trans, testid } = props;
  if (error === null || error === undefined) {
    return null;
  }
  if (error instanceof ServerExtensionMissingError) {
    return (
      <div className="jck-Error" role="alert" data-testid={testid} data-missing-extension="true">
        {trans.__(
          'The jupyter_container_kernels server extension is not running on this Jupyter server. Fix it with:'
        )}
        <pre className="jck-Commands">{FIX_COMMANDS.join('\n')}</pre>
        {trans.__('then restart JupyterLab.')}
      </div>
    );
  }
  return (
    <div className="jck-Error" role="alert" data-testid={testid}>
      {describeError(error)}
    </div>
  );
}

/** A modal error dialog with `ErrorBox` as its body (a single "OK" button). */
export async function showErrorDialog(
  title: string,
  error: unknown,
  trans: TranslationBundle
): Promise<void> {
  await showDialog({
    title,
    body: <ErrorBox error={error} trans={trans} />,
    buttons: [Dialog.okButton({ label: trans.__('OK') })]
  });
}
