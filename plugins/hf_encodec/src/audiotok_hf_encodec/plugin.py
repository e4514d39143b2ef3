"""Hook implementations of ``audiotok-hf-encodec`` (light: no torch, no transformers).

Registers ``hf_encodec_24khz``, ``hf_encodec_32khz`` and ``hf_encodec_48khz`` (the Hub's
``facebook/encodec_*``) and claims their Hub ids plus any other Hub repo id or local folder whose
``config.json`` says ``"model_type": "encodec"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import audiotok

from ._config import HUB_CONFIGS, ConfigError, facts_from_config, find_config

FACTORY = "audiotok_hf_encodec.model:load"
REQUIRES = ("transformers>=4.54",)
INSTALL_HINT = "pip install audiotok-hf-encodec"
_DESCRIPTIONS = {
    "facebook/encodec_24khz": "EnCodec 24 kHz mono, 1.5-24 kbps "
                              "(transformers, facebook/encodec_24khz)",
    "facebook/encodec_32khz": "EnCodec 32 kHz mono, 2.2 kbps, MusicGen's tokenizer "
                              "(transformers, facebook/encodec_32khz)",
    "facebook/encodec_48khz": "EnCodec 48 kHz stereo, 3-24 kbps, 1 s chunks, normalized "
                              "(transformers, facebook/encodec_48khz)",
}


def spec_from_config(name: str, source: str, config: dict, description: str = "",
                     ) -> audiotok.TokenizerSpec:
    """The :class:`audiotok.TokenizerSpec` of an EnCodec ``config.json`` loaded from ``source``."""
    facts = facts_from_config(config)
    return audiotok.TokenizerSpec(
        name=name, factory=FACTORY, sample_rate=facts.sample_rate, channels=facts.channels,
        frame_rate=facts.frame_rate, cardinality=facts.cardinality,
        num_codebooks=facts.total_codebooks, codebook_choices=facts.codebook_choices,
        description=description or f"EnCodec (transformers) from {source}",
        requires=REQUIRES, install_hint=INSTALL_HINT, options={"source": source},
    )


HUB_SPECS: dict[str, audiotok.TokenizerSpec] = {
    repo: spec_from_config("hf_" + repo.split("/")[1], repo, cfg, _DESCRIPTIONS[repo])
    for repo, cfg in HUB_CONFIGS.items()
}


def _claim_name(identifier: str) -> str:
    path = Path(identifier)
    base = path.name if path.exists() else identifier.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", base).lstrip("_.-") or "hf_encodec_model"


@audiotok.hookimpl
def register_tokenizers(register: Callable[[audiotok.TokenizerSpec], None]) -> None:
    """Register the three public ``facebook/encodec_*`` checkpoints."""
    for spec in HUB_SPECS.values():
        register(spec)


@audiotok.hookimpl
def claim_identifier(identifier: str) -> audiotok.TokenizerSpec | None:
    """Claim ``facebook/encodec_*`` and any Hub repo id / local folder holding an EnCodec config."""
    known = HUB_SPECS.get(identifier)
    if known is not None:
        return known
    config = find_config(identifier)
    if config is None or config.get("model_type") != "encodec":
        return None
    try:
        return spec_from_config(_claim_name(identifier), identifier, config)
    except ConfigError as exc:  # ours, but unusable: say why instead of "unknown tokenizer"
        raise audiotok.CheckpointError(f"{identifier}: config.json describes an EnCodec model "
                                       f"audiotok cannot use: {exc}") from None
