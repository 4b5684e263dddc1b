/**
 * Plugin: the "Container kernels" side panel (list, register, probe, remove).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { CommandIDs } from '../commands';
import { showErrorDialog } from '../components';
import { ServerExtensionMissingError } from '../errors';
import { containerIcon } from '../icons';
import { requestAPI } from '../request';
import { KernelsModel } from './model';
import { KernelsPanel } from './panel';

/** Say at startup, once, when the server half of the extension is missing. */
async function checkServerExtension(): Promise<void> {
  try {
    await requestAPI('kernels');
  } catch (error) {
    if (error instanceof ServerExtensionMissingError) {
      Notification.error('The Container kernels server extension is not running.', {
        autoClose: false,
        actions: [
          {
            label: 'How to fix',
            callback: () => void showErrorDialog('Container kernels server extension missing', error)
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
  optional: [ILayoutRestorer, IDocumentManager, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    docManager: IDocumentManager | null,
    palette: ICommandPalette | null
  ) => {
    const kernelspecs = app.serviceManager.kernelspecs;
    const model = new KernelsModel(() => kernelspecs.refreshSpecs());
    const panel = new KernelsPanel(model, docManager);
    app.shell.add(panel, 'left', { rank: 450 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openKernels, {
      label: 'Show Container Kernels',
      caption: 'Open the Container kernels panel',
      icon: containerIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refreshKernels, {
      label: 'Reload Container Kernels',
      caption: 'Reload the container kernels and the launcher tiles',
      execute: async () => {
        await Promise.all([model.refresh(), kernelspecs.refreshSpecs()]);
      }
    });
    for (const command of [CommandIDs.openKernels, CommandIDs.refreshKernels]) {
      palette?.addItem({ command, category: 'Container Kernels' });
    }
    void app.restored.then(checkServerExtension);
  }
};
