"""The silab client: a small Python API (client.python.SilabClient) and the `silab` command.
Talks HTTP only; needs no database, broker or torch."""

from client.python import SilabClient, SilabError

__all__ = ["SilabClient", "SilabError"]
