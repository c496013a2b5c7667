"""Names to things: one lookup rule for every registry of the workbook (optimizers, schedules, losses).

A registry maps a canonical name to a spec that lists its aliases. `resolve_name` accepts the name
or any alias, in any case and with or without spaces, dashes and underscores, and answers an
unknown name with an error that lists every known one: a typo never falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def normalize_name(name: str) -> str:
    """Lower case without spaces, dashes or underscores: "One_Cycle LR" → "onecyclelr"."""
    return "".join(character for character in str(name).lower() if character not in " -_")


def resolve_name(name: str, registry: Mapping[str, Any], kind: str) -> str:
    """The registered name that `name` or one of its aliases stands for; ValueError listing the choices.

    Each value of `registry` has an `aliases` attribute (a tuple of other names).
    """
    wanted = normalize_name(name)
    for key, spec in registry.items():
        if wanted == normalize_name(key) or wanted in {normalize_name(alias) for alias in spec.aliases}:
            return key
    choices = "; ".join(f"{key} ({', '.join(spec.aliases)})" if spec.aliases else key
                        for key, spec in registry.items())
    raise ValueError(f"unknown {kind} {name!r}; known {kind}s (aliases in brackets): {choices}")
