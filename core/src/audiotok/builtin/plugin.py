"""Hook implementations of the built-in plugin (light: no torch)."""

from __future__ import annotations

from collections.abc import Callable

from .._spec import TokenizerSpec
from ..hookspecs import hookimpl

MULAW_16KHZ = TokenizerSpec(
    name="mulaw_16khz",
    factory="audiotok.builtin.mulaw:load",
    sample_rate=16000,
    channels=1,
    frame_rate=16000.0,
    cardinality=256,
    num_codebooks=1,
    aliases=("mulaw",),
    description="8-bit mu-law companding (WaveNet), 16 kHz mono, weight-free",
)


@hookimpl
def register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """Register the weight-free ``mulaw_16khz`` tokenizer."""
    register(MULAW_16KHZ)
