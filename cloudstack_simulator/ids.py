"""Deterministic identifiers: resource UUIDs from a seeded RNG and API keys from the topology seed."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng``, so a seeded run repeats its ids.

    :param rng: the region's seeded random generator.
    """
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def derive_key(seed: int, region: str, purpose: str) -> str:
    """A CloudStack-like key (86 url-safe base64 characters, as ``registerUserKeys`` makes).

    The same seed, region name and purpose always give the same key.

    :param seed: the topology seed.
    :param region: the region name.
    :param purpose: ``"api"`` or ``"secret"``.
    """
    digest = hashlib.sha512(f"{seed}\x00{region}\x00{purpose}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
