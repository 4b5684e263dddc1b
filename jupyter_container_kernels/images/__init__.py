"""Images from archives: turn a ``docker save`` tarball into a stored image a runtime runs.

* :mod:`.sources`: what a SOURCE argument names (``docker-archive:PATH`` or a tarball's path).
* :mod:`.archive`: read a ``docker save`` tarball and flatten its layers into a directory.
* :mod:`.store`: the per-user image store (atomic, locked, reused by digest, with progress).
"""
