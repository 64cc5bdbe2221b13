"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for request headers.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for a request
whose headers trickle in (slowloris): such a connection holds a slot of ``limit_concurrency`` and
its buffer until the client gives up. :class:`HeaderTimeoutH11Protocol` closes a connection when
``header_timeout_s`` pass, from its opening or from the end of the last response, without the next
request's headers complete. Request *bodies* have their own deadline in
:class:`spoofguard.serve.gate.Gate` (``body_timeout``, an HTTP 408 answer).

Used by ``spoofguard serve`` as ``uvicorn.run(..., http="spoofguard.serve.protocol:HeaderTimeoutH11Protocol")``;
the deadline comes from ``limits.header_timeout_s`` in ``SPOOFGUARD_SERVE_SETTINGS`` (10 s by default).
"""

from __future__ import annotations

import json
import os

from uvicorn.protocols.http.h11_impl import H11Protocol


def _configured_timeout() -> float:
    try:
        raw = json.loads(os.environ.get("SPOOFGUARD_SERVE_SETTINGS", "{}"))
        return float(raw.get("limits", {}).get("header_timeout_s", 10.0))
    except (ValueError, TypeError, AttributeError):
        return 10.0


class HeaderTimeoutH11Protocol(H11Protocol):
    header_timeout_s: float | None = None  # None: from the environment (see the module's notes)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._header_timer = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:  # a request's headers are in
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        timeout = self.header_timeout_s if self.header_timeout_s is not None else _configured_timeout()
        if timeout and timeout > 0:
            self._header_timer = self.loop.call_later(timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: its body has the gate's deadline
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request headers did not arrive in time")
            self.transport.close()
