/**
 * The "Submit as batch job" flow: save (after asking), read the notebook's parameters and
 * kernel, show the dialog, submit, and announce the job.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { showErrorDialog } from '../components';
import { PathExt } from '@jupyterlab/coreutils';
import type { DocumentRegistry } from '@jupyterlab/docregistry';
import type { Contents } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import { CommandIDs } from '../commands';
import { describeError, ServerExtensionMissingError } from '../errors';
import { requestAPI, sendJSON } from '../request';
import type { IEnvironment, IJob, IKernel, IParametersCell } from '../types';
import { BatchDialogBody, IBatchContext, readValues } from './dialog';
import { buildSubmitRequest, IBatchDefaults, initialForm } from './form';

export interface ISubmitOptions {
  /** Server-relative path of the notebook. */
  path: string;
  /** The open document of that notebook, if any (to save unsaved changes first). */
  context: DocumentRegistry.Context | null;
  contents: Contents.IManager;
  commands: CommandRegistry;
  defaults: IBatchDefaults;
  trans: TranslationBundle;
}

/** Save unsaved changes after asking; false when the user cancelled. */
async function saveFirst(
  path: string,
  context: DocumentRegistry.Context | null,
  trans: TranslationBundle
): Promise<boolean> {
  if (!context?.model.dirty) {
    return true;
  }
  const answer = await showDialog({
    title: trans.__('Save changes before submitting?'),
    body: trans.__(
      '“%1” has unsaved changes. The batch job runs the notebook as saved on disk.',
      PathExt.basename(path)
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Save and continue') })
    ]
  });
  if (!answer.button.accept) {
    return false;
  }
  await context.save();
  return true;
}

/** Run the whole flow; resolves with the submitted job, or null when cancelled or failed. */
export async function submitNotebook(options: ISubmitOptions): Promise<IJob | null> {
  const { path, commands, trans } = options;
  if (!(await saveFirst(path, options.context, trans))) {
    return null;
  }
  const [notebook, kernels, environment, parameters] = await Promise.allSettled([
    options.contents.get(path, { type: 'notebook', content: true }),
    requestAPI<{ kernels: IKernel[] }>('kernels'),
    requestAPI<IEnvironment>('environment'),
    // The server reads the parameters cell (the same reader that injects the values).
    sendJSON<IParametersCell>('batch/parameters', 'POST', { notebook: path })
  ]);
  if (notebook.status === 'rejected') {
    await showErrorDialog(trans.__('Cannot read the notebook'), notebook.reason, trans);
    return null;
  }
  if (kernels.status === 'rejected' && kernels.reason instanceof ServerExtensionMissingError) {
    await showErrorDialog(
      trans.__('Container kernels server extension missing'),
      kernels.reason,
      trans
    );
    return null;
  }
  const content = notebook.value.content as { metadata?: { kernelspec?: { name?: string } } };
  const parsed: IParametersCell =
    parameters.status === 'fulfilled'
      ? parameters.value
      : { has_parameters_cell: false, parameters: [], skipped: [] };
  const notebookKernel = content.metadata?.kernelspec?.name ?? '';
  // Without the list the notebook's own kernel can still be submitted; the dialog says why.
  const containerKernels = kernels.status === 'fulfilled' ? kernels.value.kernels : [];
  const context: IBatchContext = {
    notebookKernel,
    kernels: containerKernels,
    environment: environment.status === 'fulfilled' ? environment.value : null,
    environmentError: environment.status === 'rejected' ? describeError(environment.reason) : null,
    kernelsError: kernels.status === 'rejected' ? describeError(kernels.reason) : null,
    hasParametersCell: parsed.has_parameters_cell,
    parametersError: parameters.status === 'rejected' ? describeError(parameters.reason) : null,
    skipped: parsed.skipped
  };
  let form = initialForm({
    notebook: path,
    kernel: notebookKernel || (containerKernels[0]?.name ?? ''),
    parameters: parsed.parameters,
    defaults: options.defaults,
    partitions: context.environment?.slurm.partitions ?? []
  });

  // Invalid input or a refused submit reopens the dialog with what the user typed.
  for (;;) {
    const body = new BatchDialogBody(context, form, trans);
    const result = await showDialog({
      title: trans.__('Submit “%1” as a batch job', PathExt.basename(path)),
      body,
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Submit') })
      ],
      focusNodeSelector: 'select'
    });
    form = body.form;
    if (!result.button.accept) {
      return null;
    }
    const built = await buildSubmitRequest(result.value ?? body.getValue(), readValues);
    if (!built.ok) {
      await showErrorMessage(trans.__('Cannot submit yet'), built.errors.join('\n'));
      continue;
    }
    try {
      const job = await sendJSON<IJob>('jobs', 'POST', built.request);
      announce(job, commands, trans);
      return job;
    } catch (error) {
      await showErrorDialog(trans.__('Submitting the batch job failed'), error, trans);
    }
  }
}

function announce(job: IJob, commands: CommandRegistry, trans: TranslationBundle): void {
  const notebook = PathExt.basename(job.notebook);
  const message = job.array_size
    ? trans.__('Job array %1 (%2 tasks) submitted: %3', job.id, job.array_size, notebook)
    : trans.__('Batch job %1 submitted: %2', job.id, notebook);
  Notification.success(message, {
    autoClose: 10000,
    actions: [
      {
        label: trans.__('Show in Batch jobs'),
        caption: trans.__('Open the Batch jobs panel'),
        callback: () => void commands.execute(CommandIDs.openJobs, { job: job.id })
      }
    ]
  });
}
