/**
 * The commands this extension adds (palette, toolbar, context menu, notifications).
 */
export namespace CommandIDs {
  /** Show the "Container kernels" side panel. */
  export const openKernels = 'container-kernels:open-kernels';
  /** Reload the container kernels (and Lab's kernelspecs, so the launcher follows). */
  export const refreshKernels = 'container-kernels:refresh-kernels';
  /** "Submit as batch job" for the current notebook, or the one selected in the file browser. */
  export const submitBatch = 'container-kernels:submit-batch';
  /** Show the "Batch jobs" side panel. */
  export const openJobs = 'container-kernels:open-jobs';
  /** Show the "Compute-node kernels" side panel (the queue of node kernels). */
  export const openNodeKernels = 'container-kernels:open-node-kernels';
}

/** The translation domain of this extension's strings (`translator.load(TRANSLATION_DOMAIN)`). */
export const TRANSLATION_DOMAIN = 'jupyter_container_kernels';
