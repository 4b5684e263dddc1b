"""The kernelspec concern: container kernels installed, listed, shown and removed in every scope
(:mod:`.kernelspecs`), one kernel directory written safely (:mod:`.files`), the site catalog
(:mod:`.catalog`) and what an image contains (:mod:`.probe`).

Nothing here is on a kernel's launch path: starting a kernel needs only the top-level modules.
"""
