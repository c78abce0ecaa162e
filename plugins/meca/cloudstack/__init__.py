"""Apache CloudStack access: the hooks (sync and async), their Connection, and typed errors."""

from __future__ import annotations
