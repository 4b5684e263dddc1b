"""Node kernels: container kernels that run inside a Slurm job on a compute node.

``settings`` (the kernel's validated ``slurm`` block) -> ``jobfiles`` (job script, the agent,
the kernel's bash: one renderer with script-mode batch jobs) -> ``provisioner`` (submit, wait in
the queue, connect, restart in the same job, end it) over ``client`` <-> ``agent`` (the job's
main process on the node) -> ``tracker`` (what the server knows, for REST; shared squeue).
"""
