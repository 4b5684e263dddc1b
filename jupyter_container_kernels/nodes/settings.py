"""A node kernel's ``slurm`` block: batch jobs' resources plus the settings only kernels have.

kernel.json's provisioner config may carry::

    "slurm": {"partition": "gpu", "time": "2:00:00", "gres": "gpu:1", "cpus_per_task": 8,
              "mem": "32G", "account": "proj", "pending_timeout": 600}

The resource fields are validated by :class:`~..batch.resources.Resources` (the one validator
batch jobs use: same names, same patterns, the field named in every error). A kernel is one
process on one node: ``nodes`` and ``ntasks`` may only be 1, and the job name is the kernel's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..batch.resources import FIELDS, Resources
from ..errors import SpecError

#: Settings of the block that are not sbatch resources.
KERNEL_KEYS = ("pending_timeout",)
#: Resource fields a node kernel may set.
RESOURCE_KEYS = tuple(k for k in FIELDS if k not in ("job_name", "nodes", "ntasks"))
KEYS = (*RESOURCE_KEYS, *KERNEL_KEYS)
#: The node address rules (see ``SiteConfig.node_address``).
ADDRESS_RULE = re.compile(
    r"(hostname(:[A-Za-z0-9.\-]+)?|interface:[A-Za-z0-9_.:\-]{1,15}|address:[0-9.]{7,15})\Z"
)


@dataclass(frozen=True)
class NodeSettings:
    """Where and how long a node kernel may run. Build it with :meth:`from_dict`."""

    resources: Resources = field(default_factory=Resources)
    #: Seconds the job may wait in the queue before the start fails (0: no limit).
    pending_timeout: float = 3600.0

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | None,
        *,
        defaults: Mapping[str, Any] | None = None,
        where: str = "slurm",
    ) -> NodeSettings:
        """Validate ``data`` over ``defaults`` (``SiteConfig.node_defaults``, same shape)."""
        merged: dict[str, Any] = {}
        for source, name in ((defaults, "SiteConfig.node_defaults"), (data, where)):
            if source is None:
                continue
            if not isinstance(source, Mapping):
                raise SpecError(name, f"expected a mapping of setting: value, got {source!r}.")
            for raw_key, value in source.items():
                key = str(raw_key).replace("-", "_")
                if key in ("nodes", "ntasks") and str(value).strip() not in ("1", ""):
                    raise SpecError(
                        f"{name}.{raw_key}",
                        "a kernel runs on one node as one task; leave it out (or 1). Multi-node "
                        "work goes through 'Submit as batch job'.",
                    )
                if key in ("nodes", "ntasks"):
                    continue
                if key not in KEYS:
                    raise SpecError(
                        f"{name}.{raw_key}",
                        f"unknown setting; a kernel's slurm settings are: {', '.join(KEYS)}.",
                    )
                merged[key] = (value, name)
        timeout_value, timeout_where = merged.pop("pending_timeout", (3600.0, where))
        pending_timeout = _seconds(f"{timeout_where}.pending_timeout", timeout_value)
        resources: dict[str, Any] = {}
        for key, (value, name) in merged.items():
            # one validator: the batch jobs' (errors name the field as written here)
            resources.update(Resources.from_dict({key: value}, where=name).to_dict())
        return cls(Resources.from_dict(resources, where=where), pending_timeout)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.resources.to_dict()
        if self.pending_timeout != 3600.0:
            out["pending_timeout"] = self.pending_timeout
        return out


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SpecError(name, f"expected a number of seconds (0 for no limit), got {value!r}.")
    return float(value)


def check_address_rule(rule: str, where: str = "SiteConfig.node_address") -> str:
    if not isinstance(rule, str) or not ADDRESS_RULE.match(rule):
        raise SpecError(
            where,
            f"{rule!r} is not an address rule; use 'hostname' (the node's name as the node "
            "resolves it), 'hostname:SUFFIX' (e.g. hostname:-ib), 'interface:NAME' (e.g. "
            "interface:ib0) or 'address:IP'.",
        )
    return rule
