"""The text primitives every rendering of the report shares: placeholders and number widths."""

from __future__ import annotations

DASH = "–"
TIE = "≈"  # after a rank: not significantly different from the row ranked just above


def shorten(text, limit: int = 80) -> str:
    """One line, whitespace collapsed, at most ``limit`` characters."""
    flat = " ".join(str(text).split()) if text is not None else ""
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def decimals(value: float) -> int:
    """Decimals that give about four significant digits for typical metric magnitudes."""
    size = abs(value)
    return 1 if size >= 100 else 2 if size >= 10 else 3 if size >= 1 else 4
