/**
 * Plugin: kernels on compute nodes (a kernelspec with a `slurm` block runs inside a Slurm job).
 *
 * - an indicator in the status bar (at the top of the window when there is no status bar): the
 *   current notebook's or console's node kernel with its job, node and time left, and the
 *   starts waiting in the queue, which have no session yet, so no notebook could show them;
 * - one warning notification per job when a kernel open here has `WARN_SECONDS` left;
 * - the "Compute-node kernels" side panel: the queue with Slurm's reasons and estimates, and
 *   Cancel. A side panel rather than a status-bar popup: it stays open while a start waits
 *   (minutes, hours), the Cancel confirmation does not close it, and it works without a status
 *   bar; the indicator opens it.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ISessionContext, Notification } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { Widget } from '@lumino/widgets';
import { CommandIDs, TRANSLATION_DOMAIN } from '../commands';
import { nodesIcon } from '../icons';
import { ExpiryWarnings, waitingText } from './format';
import { NodeKernelsModel } from './model';
import { NodeKernelsPanel } from './panel';
import { NodeStatus } from './status';

/**
 * How long a kernel start of the current notebook makes the model poll fast before its node
 * kernel shows up in the answer (a start that is no node kernel never shows up).
 */
const STARTING_GRACE_MS = 30 * 1000;

/** The session context of a notebook or console (any widget that has one), or null. */
function sessionContextOf(widget: Widget | null): ISessionContext | null {
  const context = (widget as { sessionContext?: ISessionContext } | null)?.sessionContext;
  return context && typeof context.kernelDisplayStatus === 'string' ? context : null;
}

export const nodeKernelsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-container-kernels:node-kernels',
  description:
    'Kernels on compute nodes: the queue (state, reason, estimated start, cancel), the time left of the current kernel and a warning before it ends.',
  autoStart: true,
  optional: [ILabShell, IStatusBar, ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    statusBar: IStatusBar | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    const sessions = app.serviceManager.sessions;

    /** Whether a kernel is open in this JupyterLab (a notebook's or console's session). */
    const isOpen = (kernelId: string): boolean => {
      for (const session of sessions.running()) {
        if (session.kernel?.id === kernelId) {
          return true;
        }
      }
      return false;
    };

    let context: ISessionContext | null = null;
    let startingSince: number | null = null;
    const currentStarting = () =>
      startingSince !== null && Date.now() - startingSince < STARTING_GRACE_MS;

    let panel: NodeKernelsPanel | null = null;
    const model = new NodeKernelsModel(() => ({
      panelVisible: panel?.isVisible ?? false,
      currentStarting: currentStarting(),
      isOpen
    }));
    panel = new NodeKernelsPanel(model, trans);
    app.shell.add(panel, 'left', { rank: 470 });
    restorer?.add(panel, panel.id);
    panel.visibilityChanged.connect(() => model.wake());

    const openQueue = () => {
      app.shell.activateById(panel!.id);
      model.wake();
    };

    // The indicator.
    const status = new NodeStatus(model, trans, openQueue);
    if (statusBar) {
      statusBar.registerStatusItem(nodeKernelsPlugin.id, {
        item: status,
        align: 'left',
        rank: 5,
        isActive: () => status.isActive,
        activeStateChanged: status.activeChanged
      });
    } else {
      status.addClass('jck-NodeStatus-top');
      app.shell.add(status, 'top', { rank: 1000 });
      status.setHidden(true);
      status.activeChanged.connect(() => status.setHidden(!status.isActive));
    }

    // The current notebook or console: its kernel id, and whether it is starting one.
    // Called on every status change (busy, idle…): polls only when the kernel or its starting
    // changed, not on every execution.
    let seen = '';
    const onKernel = () => {
      const kernelId = context?.session?.kernel?.id ?? null;
      const display = context?.kernelDisplayStatus;
      if (context && (display === 'initializing' || display === 'starting') && !kernelId) {
        startingSince ??= Date.now();
      } else {
        startingSince = null;
      }
      status.currentKernelId = kernelId;
      const now = `${kernelId}/${startingSince}`;
      if (now !== seen) {
        seen = now;
        model.wake();
      }
    };
    const onCurrent = () => {
      const next = sessionContextOf(labShell?.currentWidget ?? app.shell.currentWidget);
      if (next !== context) {
        context?.kernelChanged.disconnect(onKernel);
        context?.statusChanged.disconnect(onKernel);
        context = next;
        context?.kernelChanged.connect(onKernel);
        context?.statusChanged.connect(onKernel);
        startingSince = null;
      }
      onKernel();
    };
    (labShell?.currentChanged ?? app.shell.currentChanged)?.connect(onCurrent);
    // A kernel opened or closed here (not every status change of the sessions' models).
    let openIds = '';
    sessions.runningChanged.connect(() => {
      const ids = Array.from(sessions.running(), session => session.kernel?.id ?? '')
        .sort()
        .join(' ');
      if (ids !== openIds) {
        openIds = ids;
        model.wake();
      }
    });

    // The sidebar tab says when a start waits, even with the panel closed.
    model.changed.connect(() => {
      const waiting = model.waiting();
      panel!.title.className = waiting.length ? 'jck-mod-waiting' : '';
      panel!.title.caption = waiting.length
        ? `${trans.__('Compute-node kernels')}: ${waitingText(waiting, trans)}`
        : trans.__('Compute-node kernels');
    });

    // One warning per job as its time limit nears; a clock counts down between polls.
    const warnings = new ExpiryWarnings();
    const warn = () => {
      for (const kernel of warnings.due(model.kernels, model.observedAt, Date.now(), isOpen)) {
        const left = model.secondsLeft(kernel) ?? 0;
        const minutes = Math.max(1, Math.ceil(left / 60));
        Notification.warning(
          // Short: longer notification messages are cut off. (A session's path can still be
          // the temporary one of its start, so it is not named here.)
          trans._n(
            'The kernel “%2” (Slurm job %3) ends in %1 minute: save your work.',
            'The kernel “%2” (Slurm job %3) ends in %1 minutes: save your work.',
            minutes,
            kernel.display_name,
            kernel.job_id ?? ''
          ),
          {
            autoClose: false,
            actions: [{ label: trans.__('Show compute-node kernels'), callback: openQueue }]
          }
        );
      }
    };
    let clock: ReturnType<typeof setInterval> | null = null;
    const tick = () => {
      status.update();
      if (panel!.isVisible) {
        panel!.update();
      }
      warn();
    };
    model.changed.connect(() => {
      warn();
      const counting = model.kernels.some(k => model.secondsLeft(k) !== null);
      if (counting && clock === null) {
        clock = setInterval(tick, 1000);
      } else if (!counting && clock !== null) {
        clearInterval(clock);
        clock = null;
      }
    });

    app.commands.addCommand(CommandIDs.openNodeKernels, {
      label: trans.__('Show Compute-Node Kernels'),
      caption: trans.__('Open the Compute-node kernels panel (the Slurm queue of node kernels)'),
      icon: nodesIcon,
      execute: openQueue
    });
    palette?.addItem({
      command: CommandIDs.openNodeKernels,
      category: trans.__('Container Kernels')
    });

    void app.restored.then(() => {
      onCurrent();
      void model.poll.start();
    });
  }
};
