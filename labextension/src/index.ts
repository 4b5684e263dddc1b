/**
 * jupyter-container-kernels: the JupyterLab half of jupyter_container_kernels.
 *
 * One plugin per feature; launcher tiles need no plugin, they come from the kernelspecs.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { batchPlugin } from './batch/plugin';
import { jobsPlugin } from './jobs/plugin';
import { kernelsPlugin } from './kernels/plugin';
import { nodeKernelsPlugin } from './nodes/plugin';

const plugins: JupyterFrontEndPlugin<any>[] = [
  kernelsPlugin,
  batchPlugin,
  jobsPlugin,
  nodeKernelsPlugin
];

export default plugins;
