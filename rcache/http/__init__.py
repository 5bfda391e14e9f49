"""The node's HTTP port (``http-port``): a JSON API under /v1, /health, /metrics and a
dashboard page, served by aiohttp on the node's own event loop. Off unless configured, and
then imported only (aiohttp costs start-up time and memory)."""


class HttpPortUnavailable(RuntimeError):
    """The HTTP port cannot be bound: start-up stops with this message."""
