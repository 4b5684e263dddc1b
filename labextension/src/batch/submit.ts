/**
 * The "Submit as batch job" flow: save (after asking), read the notebook's parameters and
 * kernel, show the dialog, submit, and announce the job.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { showErrorDialog } from '../components';
import { PathExt } from '@jupyterlab/coreutils';
import type { DocumentRegistry } from '@jupyterlab/docregistry';
import type { Contents } from '@jupyterlab/services';
import type { CommandRegistry } from '@lumino/commands';
import { CommandIDs } from '../commands';
import { describeError, ServerExtensionMissingError } from '../errors';
import { requestAPI, sendJSON } from '../request';
import type { IEnvironment, IJob, IKernel } from '../types';
import { BatchDialogBody, IBatchContext } from './dialog';
import { IBatchDefaults, initialForm } from './form';
import { findParametersCell, ICellLike, parseParametersCell } from './parameters';

export interface ISubmitOptions {
  /** Server-relative path of the notebook. */
  path: string;
  /** The open document of that notebook, if any (to save unsaved changes first). */
  context: DocumentRegistry.Context | null;
  contents: Contents.IManager;
  commands: CommandRegistry;
  defaults: IBatchDefaults;
}

/** Save unsaved changes after asking; false when the user cancelled. */
async function saveFirst(path: string, context: DocumentRegistry.Context | null): Promise<boolean> {
  if (!context?.model.dirty) {
    return true;
  }
  const answer = await showDialog({
    title: 'Save changes before submitting?',
    body:
      `“${PathExt.basename(path)}” has unsaved changes. The batch job runs the notebook ` +
      'as saved on disk.',
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Save and continue' })]
  });
  if (!answer.button.accept) {
    return false;
  }
  await context.save();
  return true;
}

/** Run the whole flow; resolves with the submitted job, or null when cancelled or failed. */
export async function submitNotebook(options: ISubmitOptions): Promise<IJob | null> {
  const { path, commands } = options;
  if (!(await saveFirst(path, options.context))) {
    return null;
  }
  const [notebook, kernels, environment] = await Promise.allSettled([
    options.contents.get(path, { type: 'notebook', content: true }),
    requestAPI<{ kernels: IKernel[] }>('kernels'),
    requestAPI<IEnvironment>('environment')
  ]);
  if (notebook.status === 'rejected') {
    await showErrorDialog('Cannot read the notebook', notebook.reason);
    return null;
  }
  if (kernels.status === 'rejected' && kernels.reason instanceof ServerExtensionMissingError) {
    await showErrorDialog('Container kernels server extension missing', kernels.reason);
    return null;
  }
  const content = notebook.value.content as {
    cells?: ICellLike[];
    metadata?: { kernelspec?: { name?: string } };
  };
  const cell = findParametersCell(content.cells ?? []);
  const parsed = cell ? parseParametersCell(cell.source) : { parameters: [], skipped: [] };
  const notebookKernel = content.metadata?.kernelspec?.name ?? '';
  // Without the list the notebook's own kernel can still be submitted; the dialog says why.
  const containerKernels = kernels.status === 'fulfilled' ? kernels.value.kernels : [];
  const context: IBatchContext = {
    notebookKernel,
    kernels: containerKernels,
    environment: environment.status === 'fulfilled' ? environment.value : null,
    environmentError:
      environment.status === 'rejected' ? describeError(environment.reason) : null,
    kernelsError: kernels.status === 'rejected' ? describeError(kernels.reason) : null,
    hasParametersCell: cell !== null,
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
    const body = new BatchDialogBody(context, form);
    const result = await showDialog({
      title: `Submit “${PathExt.basename(path)}” as a batch job`,
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Submit' })],
      focusNodeSelector: 'select'
    });
    form = body.form;
    if (!result.button.accept) {
      return null;
    }
    const built = result.value ?? body.getValue();
    if (!built.ok) {
      await showErrorMessage('Cannot submit yet', built.errors.join('\n'));
      continue;
    }
    try {
      const job = await sendJSON<IJob>('jobs', 'POST', built.request);
      announce(job, commands);
      return job;
    } catch (error) {
      await showErrorDialog('Submitting the batch job failed', error);
    }
  }
}

function announce(job: IJob, commands: CommandRegistry): void {
  const what = job.array_size ? `Job array ${job.id} (${job.array_size} tasks)` : `Batch job ${job.id}`;
  Notification.success(`${what} submitted: ${PathExt.basename(job.notebook)}`, {
    autoClose: 10000,
    actions: [
      {
        label: 'Show in Batch jobs',
        caption: 'Open the Batch jobs panel',
        callback: () => void commands.execute(CommandIDs.openJobs, { job: job.id })
      }
    ]
  });
}
