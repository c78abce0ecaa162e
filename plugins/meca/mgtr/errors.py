"""Errors of an MGTR template fetch. Each names the template folder and, when one is at fault, the file."""

from __future__ import annotations


class TemplateFetchError(Exception):
    """A template folder could not be fetched; ``bytes_fetched`` counts what this run received anyway.

    :param message: what went wrong, naming the template folder.
    :param bytes_fetched: bytes received over the wire before the failure.
    """

    def __init__(self, message: str, *, bytes_fetched: int = 0) -> None:
        super().__init__(message)
        self.bytes_fetched = bytes_fetched


class UnsafeRemoteName(TemplateFetchError):
    """The server offered a name that could escape the cache (``..``, ``/``, absolute) or a link."""


class HostKeyRejected(TemplateFetchError):
    """The server's host key is not the one the connection trusts."""


class VolumeFetchError(TemplateFetchError):
    """A volume stayed unreadable or corrupted after every retry."""
