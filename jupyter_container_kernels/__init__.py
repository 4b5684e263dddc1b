"""Container images as first-class Jupyter kernels on HPC clusters."""

__version__ = "0.1.0"
