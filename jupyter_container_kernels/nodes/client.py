"""The server's end of a node kernel's control connection (see :mod:`.agent` for the other).

One TCP connection per kernel, opened when the job runs and kept; requests are answered in
order, every message signed (:func:`.agent.encode`) with the kernel's token under a nonce the
agent picks per connection, so a message cannot be forged nor replayed. A dropped connection is
reopened on the next request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .agent import MAX_MESSAGE, PROTOCOL, ProtocolError, decode, encode


class AgentUnreachable(ConnectionError):
    """The agent did not answer (the job ended, the node or the network is gone)."""


class AgentClient:
    def __init__(self, ip: str, port: int, token: bytes, *, timeout: float = 10.0) -> None:
        self.ip, self.port, self.token, self.timeout = ip, port, token, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._nonce = ""
        self._seq = 0
        self._lock: asyncio.Lock | None = None

    async def request(self, op: str, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send ``op`` and return the agent's answer; :class:`AgentUnreachable` when there is
        none within ``timeout`` (default :attr:`timeout`; ``ready``/``restart`` pass longer)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                return await asyncio.wait_for(
                    self._request({"op": op, **args}), timeout or self.timeout
                )
            except (
                OSError,
                asyncio.TimeoutError,
                asyncio.IncompleteReadError,
                ProtocolError,
            ) as exc:
                self.close()
                raise AgentUnreachable(
                    f"the node agent at {self.ip}:{self.port} did not answer {op!r}: "
                    f"{exc or type(exc).__name__}"
                ) from exc

    async def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._writer is None or self._writer.is_closing():
            await self._connect()
        assert self._reader is not None and self._writer is not None
        self._seq += 1
        self._writer.write(encode(self.token, self._nonce, self._seq, "q", body))
        await self._writer.drain()
        line = await self._reader.readline()
        if not line:
            raise ConnectionResetError("connection closed")
        return decode(self.token, self._nonce, self._seq, "r", line)

    async def _connect(self) -> None:
        reader, writer = await asyncio.open_connection(self.ip, self.port, limit=MAX_MESSAGE)
        hello = json.loads(await reader.readline() or b"{}")
        if hello.get("agent") != PROTOCOL or not isinstance(hello.get("nonce"), str):
            writer.close()
            raise ProtocolError(f"not a node agent of protocol {PROTOCOL}: {hello!r}")
        self._reader, self._writer = reader, writer
        self._nonce, self._seq = hello["nonce"], 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
