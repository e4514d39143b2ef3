"""8-bit mu-law companding as a tokenizer (WaveNet, van den Oord et al. 2016, section 2.2).

``f(x) = sign(x) * ln(1 + mu |x|) / ln(1 + mu)`` with ``mu = 255``, quantized to 256 levels:
one codebook, one frame per sample. Weight-free, so it runs end to end without any download.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._protocol import AudioTokenizer
from .._spec import TokenizerSpec


class MuLawTokenizer(AudioTokenizer):
    """Mu-law companding tokenizer: ``[B, 1, T]`` audio <-> ``[B, 1, T]`` codes in ``[0, 256)``."""

    residual = True
    padding_invariant = True  # one frame per sample: padding cannot touch earlier frames
    exact_chunking = True

    def __init__(self, sample_rate: int = 16000, mu: int = 255) -> None:
        super().__init__()
        self._sample_rate = int(sample_rate)
        self.mu = int(mu)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def channels(self) -> int:
        return 1

    @property
    def frame_rate(self) -> float:
        return float(self._sample_rate)

    @property
    def cardinality(self) -> int:
        return self.mu + 1

    @property
    def total_codebooks(self) -> int:
        return 1

    def _compand(self, wav: Tensor) -> Tensor:
        x = wav.clamp(-1.0, 1.0)
        return torch.sign(x) * torch.log1p(self.mu * x.abs()) / math.log1p(self.mu)

    def _encode(self, wav: Tensor) -> tuple[Tensor, None]:
        y = self._compand(wav)
        codes = torch.floor((y + 1) / 2 * self.mu + 0.5).long()
        return codes, None

    def encode_chunked(self, wav: Tensor, chunk_samples: int) -> tuple[Tensor, None]:
        """Encode ``chunk_samples`` at a time (each sample is its own frame, so this is exact)."""
        wav = self.check_audio(wav)
        step = max(1, int(chunk_samples))
        return torch.cat([self._encode(wav[..., i:i + step])[0]
                          for i in range(0, wav.shape[-1], step)], dim=-1), None

    def _decode_latent(self, codes: Tensor) -> Tensor:
        return codes[:, :1].float() * (2.0 / self.mu) - 1.0

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        y = self._decode_latent(codes)
        return torch.sign(y) * torch.expm1(y.abs() * math.log1p(self.mu)) / self.mu


def load(spec: TokenizerSpec, *, checkpoint: str | None = None, **options: Any) -> MuLawTokenizer:
    """Factory of ``mulaw_16khz``; it has no weights, so ``checkpoint`` must be None."""
    if checkpoint is not None:
        from .._errors import CheckpointError

        raise CheckpointError(f"{spec.name} has no weights; do not pass checkpoint=")
    if options:
        raise TypeError(f"unexpected options {sorted(options)}")
    return MuLawTokenizer(sample_rate=spec.sample_rate)
