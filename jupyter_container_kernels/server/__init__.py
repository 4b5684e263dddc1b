"""The jupyter_server extension: REST routes under ``{base_url}container-kernels/``.

See :mod:`.app` (the ExtensionApp and its services), :mod:`.handlers` (thin handlers, one error
mapping) and ``openapi.yaml`` (the contract, shipped in the package).
"""

from __future__ import annotations

from pathlib import Path

#: The OpenAPI 3.1 document of the routes.
OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")

__all__ = ["OPENAPI_PATH"]
