"""Container images as first-class Jupyter kernels on HPC clusters."""

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """The server extension (imported lazily: kernels and the CLI never load jupyter_server)."""
    from .server.app import ContainerKernelsApp

    return [{"module": "jupyter_container_kernels.server.app", "app": ContainerKernelsApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension shipped in the wheel."""
    return [{"src": "labextension", "dest": "jupyter-container-kernels"}]
