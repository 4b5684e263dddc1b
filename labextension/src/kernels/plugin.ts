/**
 * Plugin: the "Container kernels" side panel (list, register, probe, remove).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { CommandIDs, TRANSLATION_DOMAIN } from '../commands';
import { showErrorDialog } from '../components';
import { ServerExtensionMissingError } from '../errors';
import { containerIcon } from '../icons';
import { requestAPI } from '../request';
import { KernelsModel } from './model';
import { KernelsPanel } from './panel';

/** Say at startup, once, when the server half of the extension is missing. */
async function checkServerExtension(trans: TranslationBundle): Promise<void> {
  try {
    await requestAPI('kernels');
  } catch (error) {
    if (error instanceof ServerExtensionMissingError) {
      Notification.error(trans.__('The Container kernels server extension is not running.'), {
        autoClose: false,
        actions: [
          {
            label: trans.__('How to fix'),
            callback: () =>
              void showErrorDialog(
                trans.__('Container kernels server extension missing'),
                error,
                trans
              )
          }
        ]
      });
    }
  }
}

export const kernelsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-container-kernels:kernels',
  description: 'The "Container kernels" side panel: list, register, probe and remove.',
  autoStart: true,
  optional: [ILayoutRestorer, IDocumentManager, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    docManager: IDocumentManager | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const kernelspecs = app.serviceManager.kernelspecs;
    const model = new KernelsModel(() => kernelspecs.refreshSpecs());
    const panel = new KernelsPanel(model, docManager, trans);
    app.shell.add(panel, 'left', { rank: 450 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openKernels, {
      label: trans.__('Show Container Kernels'),
      caption: trans.__('Open the Container kernels panel'),
      icon: containerIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refreshKernels, {
      label: trans.__('Reload Container Kernels'),
      caption: trans.__('Reload the container kernels and the launcher tiles'),
      execute: async () => {
        await Promise.all([model.refresh(), kernelspecs.refreshSpecs()]);
      }
    });
    for (const command of [CommandIDs.openKernels, CommandIDs.refreshKernels]) {
      palette?.addItem({ command, category: trans.__('Container Kernels') });
    }
    void app.restored.then(() => checkServerExtension(trans));
  }
};
