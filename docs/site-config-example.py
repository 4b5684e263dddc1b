# jupyter_container_kernels_config.py — site policy for container kernels (an example).
#
# Put this file in a Jupyter config directory that every user's server, kernel and CLI reads,
# e.g. /etc/jupyter/ (system) or <sys.prefix>/etc/jupyter/ (one Python environment); see
# `jupyter --paths`. The same settings apply to kernels installed with
# `jupyter container-kernels install`, to the catalog (`... sync`), to kernels registered in
# JupyterLab through the REST API, to kernels as they start, and to batch jobs.
# Every setting is optional; `jupyter container-kernels install --help-all` lists them all.

c = get_config()  # noqa: F821  (defined by Jupyter when it loads this file)

# Runtime used when a kernel or a CLI call names none (apptainer, singularity, charliecloud,
# podman, podman-hpc, shifter).
c.SiteConfig.default_runtime = "apptainer"

# Full path of a runtime's executable. Runtimes not listed here are looked up on PATH after the
# kernel's modules are loaded.
c.SiteConfig.runtime_paths = {"apptainer": "/opt/apptainer/1.3/bin/apptainer"}

# Binds (src[:dst[:ro|rw]]) and modules added to every container kernel and batch job.
# A kernel's own bind to the same destination wins.
c.SiteConfig.default_binds = ["/scratch", "/projects:/projects:ro"]
c.SiteConfig.default_modules = []  # e.g. ["apptainer/1.3"] when the runtime comes from a module

# Start containers with a clean environment (only TERM, locale, proxies, JPY_*/JUPYTER_* and the
# pass-through list below enter) unless a kernel says otherwise.
c.SiteConfig.default_cleanenv = False
c.SiteConfig.env_passthrough = ["SLURM_*", "OMP_NUM_THREADS"]

# Users may register only images under these directories (`install` without --system/--sys-prefix/
# --prefix, and JupyterLab's "Register image" dialog). Registering anything else is refused with
# this list. Empty: anywhere. Administrators' installs and catalogs are not restricted.
c.SiteConfig.allowed_image_roots = ["/shared/images", "/scratch"]

# Launcher logo (PNG or SVG) of new container kernels. Empty: the package's own logo.
c.SiteConfig.default_logo = ""  # e.g. "/shared/images/site-logo-64x64.png"

# Where `jupyter container-kernels pull` unpacks images (empty: per user,
# {jupyter_data_dir}/container-kernels/images).
c.SiteConfig.image_store = ""

# docker:// pulls (through skopeo): a directory holding the CA certificate (ca.crt) of a
# registry with a private CA, and a credentials file shared by the site. Empty: skopeo's own
# defaults (/etc/containers/certs.d/HOST:PORT/, $XDG_RUNTIME_DIR/containers/auth.json).
c.SiteConfig.registry_cert_dir = ""
c.SiteConfig.registry_authfile = ""

# Shell init script defining `module` (empty: found from LMOD_PKG / MODULESHOME).
c.SiteConfig.module_init = ""

# GPU vendor of the nodes for kernels with gpu = "auto": "auto" detects it per node.
c.SiteConfig.node_gpu = "auto"
