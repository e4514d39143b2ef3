"""EnCodec facts from a transformers ``config.json`` (pure Python: no torch, no transformers).

Used by the light plugin module (claims) and by the tokenizer, so listed and loaded facts agree.
The arithmetic mirrors transformers' ``EncodecConfig`` / ``EncodecResidualVectorQuantizer``:
``frame_rate = ceil(sr / hop)`` for the bandwidth rule, ``K = max(1, floor(bw * 1000 /
(log2(codebook_size) * frame_rate)))`` per target bandwidth.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import audiotok

#: ``config.json`` of the public checkpoints (values that matter; the rest are transformers'
#: defaults). Used for static facts and to build the exact architectures in tests/benchmarks.
HUB_CONFIGS: dict[str, dict[str, Any]] = {
    "facebook/encodec_24khz": {
        "model_type": "encodec", "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
        "sampling_rate": 24000, "audio_channels": 1, "normalize": False,
        "chunk_length_s": None, "overlap": None, "num_filters": 32,
        "upsampling_ratios": [8, 5, 4, 2], "norm_type": "weight_norm", "use_causal_conv": True,
        "codebook_size": 1024, "use_conv_shortcut": True,
    },
    "facebook/encodec_32khz": {
        "model_type": "encodec", "target_bandwidths": [2.2], "sampling_rate": 32000,
        "audio_channels": 1, "normalize": False, "chunk_length_s": None, "overlap": None,
        "num_filters": 64, "upsampling_ratios": [8, 5, 4, 4], "norm_type": "weight_norm",
        "use_causal_conv": False, "codebook_size": 2048, "use_conv_shortcut": False,
    },
    "facebook/encodec_48khz": {
        "model_type": "encodec", "target_bandwidths": [3.0, 6.0, 12.0, 24.0],
        "sampling_rate": 48000, "audio_channels": 2, "normalize": True, "chunk_length_s": 1.0,
        "overlap": 0.01, "num_filters": 32, "upsampling_ratios": [8, 5, 4, 2],
        "norm_type": "time_group_norm", "use_causal_conv": False, "codebook_size": 1024,
        "use_conv_shortcut": True,
    },
}
for _cfg in HUB_CONFIGS.values():
    _cfg.update(hidden_size=128, codebook_dim=128, compress=2, kernel_size=7, last_kernel_size=7,
                residual_kernel_size=3, dilation_growth_rate=2, num_lstm_layers=2,
                num_residual_layers=1, pad_mode="reflect", trim_right_ratio=1.0)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w\-.]{0,95}/[\w\-.]{1,96}$")
_MAX_CONFIG_BYTES = 1 << 20


class ConfigError(ValueError):
    """A ``config.json`` that transformers' EncodecModel cannot run as a tokenizer."""


@dataclass(frozen=True)
class EncodecFacts:
    """What audiotok needs to know about one EnCodec configuration.

    ``bandwidths`` maps each usable K to the first target bandwidth (kbps) that selects it,
    ``levels`` lists every ``(bandwidth, K)`` in config order; ``inexact`` lists the
    ``(bandwidth, exact K)`` pairs whose K is not a whole number (transformers floors them).
    """

    sample_rate: int
    channels: int
    hop_length: int
    cardinality: int
    bandwidths: Mapping[int, float]
    chunk_length: int | None
    chunk_stride: int | None
    normalize: bool
    levels: tuple[tuple[float, int], ...] = ()
    inexact: tuple[tuple[float, float], ...] = ()

    @property
    def frame_rate(self) -> float:
        """Code frames per second of one chunk: ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def codebook_choices(self) -> tuple[int, ...]:
        """The K values a configured bandwidth selects, ascending."""
        return tuple(sorted(self.bandwidths))

    @property
    def total_codebooks(self) -> int:
        """Largest usable K (the highest bandwidth's)."""
        return max(self.bandwidths)


def facts_from_config(config: Mapping[str, Any]) -> EncodecFacts:
    """Derive :class:`EncodecFacts` from a ``config.json`` mapping; raise :class:`ConfigError`."""
    if config.get("model_type") != "encodec":
        raise ConfigError(f"model_type is {config.get('model_type')!r}, not 'encodec'")
    try:
        sample_rate = int(config.get("sampling_rate", 24000))
        channels = int(config.get("audio_channels", 1))
        hop = math.prod(int(r) for r in config.get("upsampling_ratios", (8, 5, 4, 2)))
        card = int(config.get("codebook_size", 1024))
        bandwidths = [float(b) for b in config.get("target_bandwidths", (1.5, 3, 6, 12, 24))]
        chunk_s, overlap = config.get("chunk_length_s"), config.get("overlap")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"malformed EnCodec config: {exc}") from None
    if sample_rate < 1 or hop < 1 or channels not in (1, 2) or not bandwidths:
        raise ConfigError(f"unsupported EnCodec config (sampling_rate={sample_rate}, "
                          f"hop={hop}, audio_channels={channels}, bandwidths={bandwidths})")
    if card < 2 or card & (card - 1):
        raise ConfigError(f"codebook_size {card} must be a power of 2")
    chunk_length = chunk_stride = None
    if chunk_s is not None:
        if overlap is None:
            raise ConfigError("chunk_length_s is set but overlap is not; transformers' "
                              "EncodecModel cannot encode that; set overlap in config.json")
        chunk_length = int(float(chunk_s) * sample_rate)
        chunk_stride = max(1, int((1.0 - float(overlap)) * chunk_length))
    # transformers: frame_rate = ceil(sr / hop), bits = log2(card), K = floor(bw*1000 / (fr*bits))
    bits_per_frame = math.log2(card) * math.ceil(sample_rate / hop)
    num_quantizers = int(1000 * bandwidths[-1] // (math.ceil(sample_rate / hop)
                                                    * math.ceil(math.log2(card))))
    mapping: dict[int, float] = {}
    inexact, levels = [], []
    for bw in bandwidths:
        if bw <= 0:
            raise ConfigError(f"target bandwidth {bw} must be positive")
        exact = bw * 1000 / bits_per_frame
        if abs(exact - round(exact)) > 1e-6 * max(1.0, exact):
            inexact.append((bw, exact))
        k = min(max(1, math.floor(exact)), num_quantizers)
        if k < 1:
            raise ConfigError(f"target bandwidth {bw} selects no codebook (the model has "
                              f"{num_quantizers})")
        mapping.setdefault(k, bw)
        levels.append((bw, k))
    return EncodecFacts(sample_rate, channels, hop, card, dict(sorted(mapping.items())),
                        chunk_length, chunk_stride, bool(config.get("normalize", False)),
                        tuple(levels), tuple(inexact))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _offline() -> bool:
    """:func:`audiotok.offline`, or transformers' own ``TRANSFORMERS_OFFLINE``."""
    value = os.environ.get("TRANSFORMERS_OFFLINE", "")
    return audiotok.offline() or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def looks_like_repo_id(identifier: str) -> bool:
    """``owner/name`` as the Hub spells repo ids (and not an existing local path)."""
    return bool(_REPO_ID.match(identifier)) and ".." not in identifier \
        and not identifier.endswith((".", "-")) and not Path(identifier).exists()


def find_config(identifier: str, *, timeout: float = 5.0) -> dict[str, Any] | None:
    """The ``config.json`` an identifier denotes, or None; never raises.

    A local folder is read directly. A Hub repo id is looked up in the Hugging Face cache first,
    then (unless ``HF_HUB_OFFLINE`` is set) fetched once with a short timeout and no retries.
    """
    if not identifier or not isinstance(identifier, str):
        return None
    try:
        path = Path(identifier).expanduser()
        if path.is_dir():
            return _read_json(path / "config.json")
        if not looks_like_repo_id(identifier):
            return None
        import huggingface_hub

        cached = huggingface_hub.try_to_load_from_cache(identifier, "config.json")
        if isinstance(cached, str):
            return _read_json(Path(cached))
        if _offline() or cached is not None:  # cached "non-existence" marker
            return None
        import urllib.request

        from huggingface_hub.utils import build_hf_headers

        request = urllib.request.Request(huggingface_hub.hf_hub_url(identifier, "config.json"),
                                         headers=build_hf_headers())
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = json.loads(response.read(_MAX_CONFIG_BYTES + 1))
        return data if isinstance(data, dict) else None
    except Exception:  # a claim must never raise for identifiers that are not ours
        return None
