"""Short, non-reversible account tags for labels and the ledger (no secret is stored)."""

from __future__ import annotations

import hashlib

__all__ = ["account_tag"]


def account_tag(value: str) -> str:
    """A short, non-reversible tag of an account id for labels and the ledger."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
