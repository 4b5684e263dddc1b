/**
 * Plugin: the "Batch jobs" side panel.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIDs } from '../commands';
import { TRANSLATION_DOMAIN } from '../commands';
import { jobsIcon } from '../icons';
import { JobsModel } from './model';
import { JobsPanel } from './panel';

export const jobsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-container-kernels:jobs',
  description: 'The "Batch jobs" side panel: state, times, cancel, outputs and logs.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const panel = new JobsPanel(new JobsModel(), app.commands, trans);
    app.shell.add(panel, 'left', { rank: 460 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openJobs, {
      label: trans.__('Show Batch Jobs'),
      caption: trans.__('Open the Batch jobs panel'),
      icon: jobsIcon,
      execute: async () => {
        app.shell.activateById(panel.id);
        await panel.refresh();
      }
    });
    palette?.addItem({ command: CommandIDs.openJobs, category: trans.__('Container Kernels') });
  }
};
