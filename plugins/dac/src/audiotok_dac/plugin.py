"""Hook implementations of audiotok-dac (light: no torch, no ``dac`` import).

Registers the four official DAC models and claims local DAC release ``.pth`` files by path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import audiotok
from audiotok import TokenizerSpec

from .releases import UnsafePickle, config_facts, peek_kwargs

FACTORY = "audiotok_dac.tokenizer:load"
INSTALL = "pip install audiotok-dac"

_COMMON = {"factory": FACTORY, "channels": 1, "cardinality": 1024, "install_hint": INSTALL}

SPECS: tuple[TokenizerSpec, ...] = (
    TokenizerSpec(name="dac_44khz", sample_rate=44100, frame_rate=44100 / 512, num_codebooks=9,
                  aliases=("dac_44khz_8kbps",), options={"release": "dac_44khz"},
                  description="Descript Audio Codec 44.1 kHz mono, 8 kbps (9 x 1024, hop 512)",
                  **_COMMON),
    TokenizerSpec(name="dac_24khz", sample_rate=24000, frame_rate=75.0, num_codebooks=32,
                  aliases=("dac_24khz_8kbps",), options={"release": "dac_24khz"},
                  description="Descript Audio Codec 24 kHz mono (32 x 1024, hop 320)",
                  **_COMMON),
    TokenizerSpec(name="dac_16khz", sample_rate=16000, frame_rate=50.0, num_codebooks=12,
                  aliases=("dac_16khz_8kbps",), options={"release": "dac_16khz"},
                  description="Descript Audio Codec 16 kHz mono, 6 kbps (12 x 1024, hop 320)",
                  **_COMMON),
    TokenizerSpec(name="dac_44khz_16kbps", sample_rate=44100, frame_rate=44100 / 512,
                  num_codebooks=18, options={"release": "dac_44khz_16kbps"},
                  description="Descript Audio Codec 44.1 kHz mono, 16 kbps (18 x 1024, "
                              "latent 128, hop 512)", **_COMMON),
)


@audiotok.hookimpl
def register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """Register ``dac_44khz``, ``dac_24khz``, ``dac_16khz`` and ``dac_44khz_16kbps``."""
    for spec in SPECS:
        register(spec)


def _file_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.name)
    return name if name[:1].isalnum() else f"dac{name}"


@audiotok.hookimpl
def claim_identifier(identifier: str) -> TokenizerSpec | None:
    """Claim a local ``.pth`` file in DAC's release layout (facts read from its metadata).

    Only the archive's pickle is read, torch-free. A ``.pth`` whose pickle references code is
    claimed too, so that loading it fails with a :class:`audiotok.CheckpointError` naming it.
    """
    path = Path(identifier).expanduser()
    if path.suffix.lower() != ".pth" or not path.is_file():
        return None
    base = SPECS[0]
    try:
        kwargs = peek_kwargs(path)
        if kwargs is None:
            return None
        facts = config_facts(kwargs)
    except (UnsafePickle, ValueError):
        facts = {}  # refused with a CheckpointError by the factory
    return base.replace(
        name=_file_name(path), aliases=(), options={"checkpoint": str(path)},
        description=f"DAC checkpoint {path}",
        **facts)
