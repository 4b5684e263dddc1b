"""From a spec and an in-container command to what to execute on this host.

:func:`prepare` is the one path every interactive kernel, probe and batch step takes: site
policy checked and defaults applied (:meth:`SiteConfig.effective`, which batch submits call
too), modules loaded (cached), image checked, runtime executable found, GPU
resolved, runtime argv and environment built. It starts no process except the one-time
``module load`` (see :mod:`.modules`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from . import _process
from .errors import ImageError, RuntimeNotFoundError
from .gpu import node_gpu
from .modules import module_environment
from .runtimes import Invocation, Runtime, get_runtime
from .site import SiteConfig
from .spec import Bind, ContainerSpec


def effective_gpu(spec: ContainerSpec, site: SiteConfig) -> str | None:
    """The GPU vendor the container gets: ``"nvidia"``, ``"rocm"`` or ``None``.

    ``gpu: auto`` follows ``SiteConfig.node_gpu`` (itself ``auto``: detect this node's devices);
    ``nvidia``/``rocm`` are taken as asked, even on a node without that GPU (the runtime then
    warns, and the kernel still starts); ``none`` is ``None``.
    """
    if spec.gpu == "auto":
        return node_gpu(site.node_gpu)
    return None if spec.gpu == "none" else spec.gpu


def check_image(spec: ContainerSpec) -> None:
    """Raise :class:`ImageError` when a path image is missing or unreadable (URIs are the
    runtime's business)."""
    if not spec.is_path_image:
        return
    path = spec.image
    if not os.path.exists(path):
        parent = os.path.dirname(path)
        hint = "" if os.path.isdir(parent) else f" (its directory {parent} does not exist either)"
        raise ImageError(
            f"The image {path} does not exist{hint}. Point the kernel's 'image' setting at an "
            "existing image (or register the kernel again), or put the image back."
        )
    wanted = os.R_OK | (os.X_OK if os.path.isdir(path) else 0)
    if not os.access(path, wanted):
        raise ImageError(
            f"The image {path} is not readable by this user (uid {os.getuid()}). Ask its owner "
            "to make it readable (chmod a+r, and a+rx for directory images), or copy it somewhere "
            "you can read."
        )


def find_runtime(runtime: Runtime, env: Mapping[str, str], site: SiteConfig) -> str:
    """The runtime's executable: ``SiteConfig.runtime_paths`` or ``PATH`` of ``env`` (which is
    the environment after ``module load``)."""
    configured = site.runtime_paths.get(runtime.name)
    found = _process.which(configured or runtime.executable, env)
    if found:
        return found
    if configured:
        raise RuntimeNotFoundError(
            f"c.SiteConfig.runtime_paths[{runtime.name!r}] is {configured}, which is not an "
            "executable file. Fix that path in the Jupyter config."
        )
    raise RuntimeNotFoundError(
        f"The {runtime.name} runtime ({runtime.executable!r}) was not found on PATH "
        f"{env.get('PATH', '')!r} (after loading the kernel's modules). Add the module that "
        f'provides it to the kernel\'s \'modules\' (e.g. "modules": ["{runtime.name}"]), '
        f"set c.SiteConfig.runtime_paths = {{{runtime.name!r}: '/path/to/{runtime.executable}'}}, "
        "or install it."
    )


async def prepare(
    spec: ContainerSpec,
    cmd: Sequence[str],
    *,
    site: SiteConfig,
    host_env: Mapping[str, str] | None = None,
    extra_binds: Sequence[Bind] = (),
    container_name: str | None = None,
) -> Invocation:
    """The runtime argv and environment that run ``cmd`` inside ``spec``'s image.

    ``host_env`` (default: this process's environment) is the environment the runtime would
    start in before modules; ``extra_binds`` come after the spec's and the site's binds (the
    connection-file directory, a notebook folder); ``container_name`` names the container
    where the runtime supports it (:meth:`.runtimes.base.Runtime.named`). Raises :class:`~.errors.PolicyError` (from
    :meth:`SiteConfig.effective`: an image outside the site's ``allowed_image_roots``, or
    ``runtime_args`` it does not allow, however the spec was written), :class:`ImageError`,
    :class:`~.errors.ModuleLoadError` or :class:`RuntimeNotFoundError`, each naming the fix.
    """
    spec = site.effective(spec)
    check_image(spec)
    runtime = get_runtime(spec.runtime)
    env = await module_environment(spec.modules, os.environ if host_env is None else host_env, site)
    executable = find_runtime(runtime, env, site)
    invocation = runtime.command(
        spec,
        list(cmd),
        executable=executable,
        host_env=env,
        gpu=effective_gpu(spec, site),
        binds=extra_binds,
        passthrough=site.env_passthrough,
    )
    if container_name:
        return Invocation(runtime.named(invocation.argv, container_name), invocation.env)
    return invocation
