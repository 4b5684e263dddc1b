/**
 * Small React pieces shared by the panels and dialogs.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';
import { describeError, FIX_COMMANDS, ServerExtensionMissingError } from './errors';

/**
 * An error as the user should read it: the server's message, or, when the server extension is
 * missing, the commands that fix it in a copyable block.
 */
export function ErrorBox(props: { error: unknown; testid?: string }): JSX.Element | null {
  const { error, testid } = props;
  if (error === null || error === undefined) {
    return null;
  }
  if (error instanceof ServerExtensionMissingError) {
    return (
      <div className="jck-Error" role="alert" data-testid={testid} data-missing-extension="true">
        The jupyter_container_kernels server extension is not running on this Jupyter server.
        Fix it with:
        <pre className="jck-Commands">{FIX_COMMANDS.join('\n')}</pre>
        then restart JupyterLab.
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
export async function showErrorDialog(title: string, error: unknown): Promise<void> {
  await showDialog({
    title,
    body: <ErrorBox error={error} />,
    buttons: [Dialog.okButton({ label: 'OK' })]
  });
}
