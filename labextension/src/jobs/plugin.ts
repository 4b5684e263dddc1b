/**
 * Plugin: the "Batch jobs" side panel.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { CommandIDs } from '../commands';
import { jobsIcon } from '../icons';
import { JobsModel } from './model';
import { JobsPanel } from './panel';

export const jobsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-container-kernels:jobs',
  description: 'The "Batch jobs" side panel: state, times, cancel, outputs and logs.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new JobsPanel(new JobsModel(), app.commands);
    app.shell.add(panel, 'left', { rank: 460 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openJobs, {
      label: 'Show Batch Jobs',
      caption: 'Open the Batch jobs panel',
      icon: jobsIcon,
      execute: async () => {
        app.shell.activateById(panel.id);
        await panel.refresh();
      }
    });
    palette?.addItem({ command: CommandIDs.openJobs, category: 'Container Kernels' });
  }
};
