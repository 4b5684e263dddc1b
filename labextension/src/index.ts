/**
 * jupyter-container-kernels: the JupyterLab half of jupyter_container_kernels.
 *
 * One plugin per feature; launcher tiles need no plugin, they come from the kernelspecs.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { batchPlugin } from './batch/plugin';
import { jobsPlugin } from './jobs/plugin';
import { kernelsPlugin } from './kernels/plugin';

const plugins: JupyterFrontEndPlugin<any>[] = [kernelsPlugin, batchPlugin, jobsPlugin];

export default plugins;
