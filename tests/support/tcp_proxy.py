"""A TCP proxy on loopback that a test can cut, to make a real server unreachable, or arm
to cut one connection at a chosen moment (the COMMIT of a transaction, say)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class Trap:
    """Cut the connection whose client sends `marker`: after passing it on (the server acts
    on it, the client never hears back) or before (the server never sees it). With `after`,
    only a `marker` that follows `after` on the same connection counts."""

    marker: bytes
    forward: bool
    stop_listening: bool = False
    after: bytes | None = None
    sprung: bool = False


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._trap: Trap | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self, spare: asyncio.StreamWriter | None = None) -> None:
        """Stop listening and drop every open connection (but `spare`'s server side)."""
        await self._stop_listening()
        for writer in list(self._writers):
            if writer is not spare:
                writer.transport.abort()
        self._writers.clear()

    def arm(self, trap: Trap) -> Trap:
        """Spring `trap` on the next client data that contains its marker."""
        self._trap = trap
        return trap

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def upstream() -> None:
            seen_after = False
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    trap = self._trap
                    if trap is not None and trap.after is not None and trap.after in data:
                        seen_after = True
                    if (
                        trap is not None
                        and not trap.sprung
                        and trap.marker in data
                        and (trap.after is None or seen_after)
                    ):
                        trap.sprung = True
                        self._trap = None
                        if trap.forward:
                            up_writer.write(data)
                            await up_writer.drain()
                        writer.transport.abort()  # the client hears nothing more
                        if not trap.forward:
                            up_writer.transport.abort()
                        if trap.stop_listening:
                            # Not a reset towards the server: it must still read the
                            # forwarded data, which a reset could discard unread.
                            await self.cut(spare=up_writer if trap.forward else None)
                        return
                    up_writer.write(data)
                    await up_writer.drain()
            with contextlib.suppress(Exception):
                up_writer.close()

        async def downstream() -> None:
            with contextlib.suppress(Exception):
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            with contextlib.suppress(Exception):
                writer.close()

        await asyncio.gather(upstream(), downstream())
