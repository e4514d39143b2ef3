"""audiotok hooks of the native EnCodec plugin (light: no torch at import or listing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from audiotok import TokenizerSpec, hookimpl

FACTORY = "audiotok_encodec.loading:load"
HINT = "pip install audiotok-encodec"

ENCODEC_24KHZ = TokenizerSpec(
    name="encodec_24khz",
    factory=FACTORY,
    sample_rate=24000,
    channels=1,
    frame_rate=75.0,
    cardinality=1024,
    num_codebooks=32,
    install_hint=HINT,
    options={"release": "encodec_24khz"},
    description="Meta EnCodec 24 kHz mono, causal, 1.5-24 kbps (K=2..32), native PyTorch",
)
ENCODEC_48KHZ = TokenizerSpec(
    name="encodec_48khz",
    factory=FACTORY,
    sample_rate=48000,
    channels=2,
    frame_rate=150.0,
    cardinality=1024,
    num_codebooks=16,
    install_hint=HINT,
    options={"release": "encodec_48khz"},
    description="Meta EnCodec 48 kHz stereo, 1 s segments with scales, 3-24 kbps, native PyTorch",
)
ENCODEC_32KHZ = TokenizerSpec(
    name="encodec_32khz",
    factory=FACTORY,
    sample_rate=32000,
    channels=1,
    frame_rate=50.0,
    cardinality=2048,
    num_codebooks=4,
    aliases=("musicgen_32khz",),
    install_hint=HINT,
    options={"source": "facebook/musicgen-small"},
    description="MusicGen's EnCodec 32 kHz mono, 4 x 2048 (2.2 kbps), AudioCraft export",
)
AUDIOGEN_16KHZ = TokenizerSpec(
    name="audiogen_16khz",
    factory=FACTORY,
    sample_rate=16000,
    channels=1,
    frame_rate=50.0,
    cardinality=2048,
    num_codebooks=4,
    install_hint=HINT,
    options={"source": "facebook/audiogen-medium"},
    description="AudioGen's EnCodec 16 kHz mono, 4 x 2048 (2.2 kbps), AudioCraft export",
)
SPECS = (ENCODEC_24KHZ, ENCODEC_48KHZ, ENCODEC_32KHZ, AUDIOGEN_16KHZ)
RELEASES = {"encodec_24khz": ENCODEC_24KHZ, "encodec_48khz": ENCODEC_48KHZ}
_HUB_REPOS = (
    (re.compile(r"^facebook/musicgen-[\w.\-]+$"), ENCODEC_32KHZ),
    (re.compile(r"^facebook/audiogen-[\w.\-]+$"), AUDIOGEN_16KHZ),
)
# AudioCraft's //pretrained/ names of transformers-format repos (what pointer exports refer to).
_HF_REPOS = {
    "facebook/encodec_32khz": ENCODEC_32KHZ,
    "facebook/encodec_24khz": ENCODEC_24KHZ,
    "facebook/encodec_48khz": ENCODEC_48KHZ,
}
_OUR_FILE = re.compile(r"^(compression_state_dict.*\.bin|encodec_(24|48)khz.*\.th)$")
_CANDIDATE_SUFFIXES = (".bin", ".th", ".pt")


@hookimpl
def register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """Register Meta's 24/48 kHz releases and AudioCraft's MusicGen/AudioGen tokenizers."""
    for spec in SPECS:
        register(spec)


@hookimpl
def claim_identifier(identifier: str) -> TokenizerSpec | None:
    """Claim ``//pretrained/NAME``, ``facebook/musicgen-*``/``audiogen-*`` and EnCodec files."""
    pretrained = identifier.startswith("//pretrained/")
    name = identifier[len("//pretrained/") :] if pretrained else identifier
    if name in RELEASES and pretrained:
        return RELEASES[name]
    if pretrained and name in _HF_REPOS:
        return _HF_REPOS[name].replace(options={"source": name})
    for pattern, spec in _HUB_REPOS:
        if pattern.match(name):
            return spec.replace(options={"source": name})
    path = Path(name).expanduser()
    try:
        if path.is_dir() and (path / "compression_state_dict.bin").is_file():
            path = path / "compression_state_dict.bin"
        elif pretrained and path.is_dir() and (path / "config.json").is_file():
            return _claim_hf_folder(path)
        elif not (path.is_file() and (path.suffix in _CANDIDATE_SUFFIXES or pretrained)):
            return None
    except (OSError, ValueError):  # unreadable, or not a valid path (e.g. a NUL byte)
        return None
    from ._claim import claim_file  # imports torch: only for a plausible checkpoint file

    return claim_file(path, strict=bool(_OUR_FILE.match(path.name)) or pretrained)


def _claim_hf_folder(path: Path) -> TokenizerSpec | None:
    """Facts of a transformers-format EnCodec folder from its config.json (no torch)."""
    import json
    import math

    try:
        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("model_type") != "encodec":
            return None
        sample_rate, bins = (
            int(cfg.get("sampling_rate", 24000)),
            int(cfg.get("codebook_size", 1024)),
        )
        hop = math.prod(cfg.get("upsampling_ratios", (8, 5, 4, 2)))
        frame_rate = math.ceil(sample_rate / hop)
        n_q = int(
            1000
            * max(cfg.get("target_bandwidths", (24.0,)))
            // (frame_rate * math.ceil(math.log2(bins)))
        )
        return TokenizerSpec(
            name="encodec_checkpoint",
            factory=FACTORY,
            sample_rate=sample_rate,
            channels=int(cfg.get("audio_channels", 1)),
            frame_rate=sample_rate / hop,
            cardinality=bins,
            num_codebooks=n_q,
            install_hint=HINT,
            options={"source": str(path)},
            description=f"EnCodec in transformers' layout {path}",
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return None
