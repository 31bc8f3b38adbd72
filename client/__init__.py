"""The silab client: a small Python API (client.python.SilabClient) and the `silab` command.
Talks HTTP only; needs no database, broker or torch."""

from client.errors import SilabError
from client.python import SilabClient

__all__ = ["SilabClient", "SilabError"]
