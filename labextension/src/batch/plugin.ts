/**
 * Plugin: "Submit as batch job" (notebook toolbar button and file-browser context menu item,
 * both declared in schema/plugin.json, which also holds the resource defaults).
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIDs, TRANSLATION_DOMAIN } from '../commands';
import { submitIcon } from '../icons';
import { IBatchDefaults } from './form';
import { submitNotebook } from './submit';

const PLUGIN_ID = 'jupyter-container-kernels:plugin';

export const batchPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: '"Submit as batch job": toolbar button, context menu item and dialog.',
  autoStart: true,
  optional: [
    INotebookTracker,
    IFileBrowserFactory,
    IDocumentManager,
    ISettingRegistry,
    ICommandPalette,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker | null,
    browsers: IFileBrowserFactory | null,
    docManager: IDocumentManager | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const defaults: IBatchDefaults = { partition: '', account: '', time: '01:00:00' };
    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings) => {
        const composite = settings.composite as Partial<IBatchDefaults>;
        defaults.partition = composite.partition ?? '';
        defaults.account = composite.account ?? '';
        defaults.time = composite.time ?? '';
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => console.error(`Cannot load the settings of ${PLUGIN_ID}.`, reason));
    }

    /** The notebook the command is about: args.path, the file browser's selection, or the current one. */
    const target = (args: Record<string, unknown>): string | null => {
      if (typeof args.path === 'string') {
        return args.path;
      }
      if (args.origin === 'filebrowser') {
        const item = browsers?.tracker.currentWidget?.selectedItems().next();
        const model = item && !item.done ? item.value : null;
        return model && model.type === 'notebook' ? model.path : null;
      }
      return tracker?.currentWidget?.context.path ?? null;
    };

    app.commands.addCommand(CommandIDs.submitBatch, {
      label: trans.__('Submit as Batch Job…'),
      caption: trans.__('Run the notebook as a Slurm batch job in its container kernel'),
      icon: submitIcon,
      isEnabled: args => target(args) !== null,
      execute: async args => {
        const path = target(args);
        if (path === null) {
          return null;
        }
        const current = tracker?.currentWidget;
        const widget =
          current && current.context.path === path ? current : docManager?.findWidget(path);
        const context = widget ? (docManager?.contextForWidget(widget) ?? null) : null;
        return submitNotebook({
          path,
          context,
          contents: app.serviceManager.contents,
          commands: app.commands,
          defaults: { ...defaults },
          trans
        });
      }
    });
    palette?.addItem({ command: CommandIDs.submitBatch, category: trans.__('Container Kernels') });
  }
};
