"""The parts of node kernels that need no cluster: settings, address rules, the signed
protocol between server and agent, the job files, and what the tracker makes of Slurm's words."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.batch.slurm import JobState
from jupyter_container_kernels.errors import SpecError
from jupyter_container_kernels.nodes import agent
from jupyter_container_kernels.nodes.client import AgentClient, AgentUnreachable
from jupyter_container_kernels.nodes.jobfiles import connection_variable, write_job_files
from jupyter_container_kernels.nodes.settings import NodeSettings, check_address_rule
from jupyter_container_kernels.nodes.tracker import NodeJob, parse_seconds
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import ContainerSpec

# -- settings ---------------------------------------------------------------------------------


def test_the_slurm_block_is_batch_resources_plus_pending_timeout() -> None:
    settings = NodeSettings.from_dict(
        {"partition": "gpu", "time": "2:00:00", "cpus-per-task": 8, "pending_timeout": 60},
        defaults={"partition": "interactive", "account": "proj", "time": "1:00:00"},
    )
    assert settings.resources.to_dict() == {
        "partition": "gpu", "account": "proj", "time": "2:00:00", "cpus_per_task": "8"
    }  # fmt: skip
    assert settings.pending_timeout == 60.0
    assert NodeSettings.from_dict(settings.to_dict()) == settings


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        ({"time": "1:00\n#SBATCH --uid=0"}, "slurm.time", "newline"),
        ({"partition": "a b"}, "slurm.partition", "space"),
        ({"nodes": 2}, "slurm.nodes", "one node"),
        ({"ntasks": "4"}, "slurm.ntasks", "one task"),
        ({"job_name": "x"}, "slurm.job_name", "unknown setting"),
        ({"pending_timeout": "soon"}, "slurm.pending_timeout", "seconds"),
        ("gpu", "slurm", "mapping"),
    ],
)
def test_bad_settings_name_the_field(block: Any, field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        NodeSettings.from_dict(block)
    assert caught.value.field == field and words in str(caught.value)


def test_a_bad_site_default_is_blamed_on_the_site() -> None:
    with pytest.raises(SpecError, match=r"SiteConfig.node_defaults.mem"):
        NodeSettings.from_dict({}, defaults={"mem": "lots"})
    with pytest.raises(SpecError, match="node_defaults"):
        SiteConfig(node_defaults={"time": "forever"})


# -- the node's address -----------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["hostname", "hostname:-ib", "hostname:.ib.cluster",
                                  "interface:ib0", "address:10.1.2.3"])  # fmt: skip
def test_address_rules(rule: str) -> None:
    assert check_address_rule(rule) == rule
    assert SiteConfig(node_address=rule).node_address == rule


@pytest.mark.parametrize("rule", ["", "ip", "interface:", "hostname:a b", "address:node1"])
def test_bad_address_rules_say_which_exist(rule: str) -> None:
    with pytest.raises(SpecError, match="interface:NAME"):
        check_address_rule(rule)


def test_a_loopback_address_is_refused_with_the_fix() -> None:
    assert agent.node_address("address:10.1.2.3", "n1") == "10.1.2.3"
    for rule, name in (
        ("address:127.0.0.1", "n1"),
        ("hostname", "localhost"),
        ("interface:lo", "n"),
    ):
        with pytest.raises(ValueError, match="loopback.*node_address"):
            agent.node_address(rule, name)
    with pytest.raises(ValueError, match="no IPv4 address"):
        agent.node_address("interface:nosuch0", "n1")
    with pytest.raises(ValueError, match="does not resolve"):
        agent.node_address("hostname:.invalid.", "no-such-node")


# -- the protocol -----------------------------------------------------------------------------


def test_messages_are_signed_per_connection_sequence_and_direction() -> None:
    token, body = b"k" * 32, {"op": "status"}
    line = agent.encode(token, "nonce1", 1, "q", body)
    assert agent.decode(token, "nonce1", 1, "q", line) == body
    tampered = line.replace(b"status", b"stop")
    for args in (
        (b"x" * 32, "nonce1", 1, "q", line),  # another kernel's token
        (token, "nonce2", 1, "q", line),  # replayed on another connection
        (token, "nonce1", 2, "q", line),  # replayed later on this one
        (token, "nonce1", 1, "r", line),  # a request taken for a reply
        (token, "nonce1", 1, "q", tampered),
        (token, "nonce1", 1, "q", b"not json"),
    ):
        with pytest.raises(agent.ProtocolError):
            agent.decode(*args)


def test_the_client_talks_to_an_agent_and_a_wrong_token_gets_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = agent.Agent(str(tmp_path), {"token": "ab" * 32, "lease": 60})
        server = await asyncio.start_server(node.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        good = AgentClient("127.0.0.1", port, bytes.fromhex("ab" * 32), timeout=2)
        assert await good.request("ping") == {"ok": True}
        status = await good.request("status")
        assert status == {"ok": True, "alive": False, "returncode": None, "ending": False}
        assert (await good.request("frobnicate"))["ok"] is False
        bad = AgentClient("127.0.0.1", port, b"\0" * 32, timeout=2)
        with pytest.raises(AgentUnreachable):
            await bad.request("stop")
        assert not node.done.is_set(), "an unsigned stop changed nothing"
        assert await good.request("ping") == {"ok": True}, "the good client reconnects"
        good.close()
        server.close()

    asyncio.run(scenario())


def test_an_agent_that_hears_nothing_ends_the_job(tmp_path: Path) -> None:
    async def scenario() -> int:
        node = agent.Agent(str(tmp_path), {"token": "00" * 32, "lease": 0.3})
        await asyncio.wait_for(node.watch_lease(), 5)
        return node.exit_status

    assert asyncio.run(scenario()) == 3


# -- the job files ----------------------------------------------------------------------------


def test_the_job_files_keep_secrets_out_of_the_script_slurm_stores(tmp_path: Path) -> None:
    spec = ContainerSpec.from_dict(
        {
            "image": "/images/x.sif",
            "runtime": "apptainer",
            "env": {"API_KEY": "s3cret"},
            "cleanenv": True,
        }
    )
    site = SiteConfig(node_address="interface:ib0", node_lease=30)
    directory = tmp_path / "nodes" / "kid-1"
    files = write_job_files(
        str(directory),
        kernel_id="0123abcd-kid",
        kernel_name="torch",
        spec=spec,
        command=["python3", "-m", "ipykernel_launcher", "-f", connection_variable()],
        connection={"key": b"connection-key", "signature_scheme": "hmac-sha256",
                    "transport": "tcp", "kernel_name": "torch", "shell_port": 1},
        settings=NodeSettings.from_dict({"partition": "gpu", "gres": "gpu:1"}),
        site=site,
        cwd="/home/u/project",
    )  # fmt: skip
    job = (directory / "job.sh").read_text()
    assert "#SBATCH --partition=gpu" in job and "#SBATCH --gres=gpu:1" in job
    assert "#SBATCH --job-name=jck-kernel-0123abcd" in job and "#SBATCH --nodes=1" in job
    assert "cd -- /home/u/project" in job and job.rstrip().endswith(f"{directory}/agent.py")
    for secret in ("connection-key", files.token.hex(), "s3cret"):
        assert secret not in job
    config = json.loads((directory / "agent.json").read_text())
    assert config["connection"] == {"key": "connection-key", "signature_scheme": "hmac-sha256",
                                    "transport": "tcp", "kernel_name": "torch"}  # fmt: skip
    assert config["address_rule"] == "interface:ib0" and config["lease"] == 30
    kernel = (directory / "kernel.sh").read_text()
    assert '"${JCK_CONNECTION_FILE}"' in kernel and "APPTAINERENV_API_KEY" in kernel
    assert "SLURM_*" in kernel and "CUDA_VISIBLE_DEVICES" in kernel, "kept with cleanenv too"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("agent.json", "owner.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_job_files(str(directory), kernel_id="x", kernel_name="t", spec=spec, command=[],
                        connection={}, settings=NodeSettings(), site=site, cwd="/")  # fmt: skip
    assert os.path.exists(files.script)


# -- the tracker ------------------------------------------------------------------------------


def test_slurm_times_and_states_become_what_the_panel_shows() -> None:
    assert parse_seconds("1-02:03:04") == 93784 and parse_seconds("4:05") == 245
    assert parse_seconds("1:00:00") == 3600 and parse_seconds("UNLIMITED") is None
    job = NodeJob("k", "torch", "Torch", "/d", job_id="7")
    job.apply(JobState("7", None, "PENDING", "Priority", None, started="2026-12-03T17:05:00"))
    shown = job.to_dict()
    assert (shown["state"], shown["reason"], shown["start_estimate"]) == (
        "PENDING", "Priority", "2026-12-03T17:05:00"
    )  # fmt: skip
    job.apply(JobState("7", None, "RUNNING", None, None, nodes="n1", time_left="9:00",
                       time_limit="10:00", comment="jck:addr=10.0.0.2:4000"))  # fmt: skip
    shown = job.to_dict()
    assert shown["node"] == "n1" and shown["address"] == "10.0.0.2"
    assert 538 <= shown["seconds_left"] <= 540 and shown["start_estimate"] is None
    job.apply(JobState("7", None, "TIMEOUT", None, None))
    job.apply(JobState("7", None, "RUNNING", None, None))  # a late answer
    assert job.state == "TIMEOUT" and not job.live, "ended is final"


# -- where a kernel runs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node_kernels", "block", "on_node"),
    [
        ("when-configured", None, False),
        ("when-configured", {"time": "5"}, True),
        ("always", None, True),
        ("never", {"time": "5"}, False),  # e.g. inside a batch job: no second job
    ],
)
def test_the_kernel_json_block_and_the_site_decide_where_a_kernel_runs(
    make_container_kernel: Any, node_kernels: str, block: Any, on_node: bool
) -> None:
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning import KernelProvisionerFactory
    from traitlets.config import Config

    from jupyter_container_kernels.nodes.provisioner import NodeKernelProvisioner

    config = {"image": "/images/x.sif", "runtime": "apptainer"}
    name = make_container_kernel(f"w{node_kernels}{block is None}", {**config, **(
        {"slurm": block} if block is not None else {})})  # fmt: skip
    km = AsyncKernelManager(
        kernel_name=name, config=Config({"SiteConfig": {"node_kernels": node_kernels}})
    )
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance(
        "kid", km.kernel_spec, parent=km
    )
    assert isinstance(provisioner, NodeKernelProvisioner) is on_node
