"""Stereo from a mono tokenizer by interleaving codebooks (MusicGen stereo: 1L, 1R, 2L, 2R, ...)."""

from __future__ import annotations

import torch
from torch import Tensor

from ._errors import InvalidAudioError, InvalidCodesError
from ._protocol import AudioTokenizer


class InterleaveStereo(AudioTokenizer):
    """Turn a mono tokenizer into a stereo one: left and right are encoded separately and their
    codebooks interleaved, ``[B, 2K, F]`` ordered ``1L, 1R, 2L, 2R, ...`` (AudioCraft's
    ``InterleaveStereoCompressionModel`` with ``per_timestep=False``).

    Unlike AudioCraft, counts are consistent: ``num_codebooks`` and ``total_codebooks`` are both
    post-interleave (2x the mono model's) and ``set_num_codebooks`` takes a post-interleave
    (even) K. Scales, when the mono model has them, are stacked as ``[B, 2, ...]`` (left, right).
    ``decode_latent`` returns ``[B, 2D, F]`` (left latent channels, then right).
    """

    def __init__(self, mono: AudioTokenizer) -> None:
        super().__init__()
        if mono.channels != 1:
            raise InvalidAudioError(f"InterleaveStereo needs a mono tokenizer, {mono.name} has "
                                    f"{mono.channels} channels")
        self.mono = mono
        self.uses_scale = mono.uses_scale
        self.residual = mono.residual
        self.train(mono.training)

    @property
    def name(self) -> str:
        return f"stereo({self.mono.name})"

    @property
    def sample_rate(self) -> int:
        return self.mono.sample_rate

    @property
    def channels(self) -> int:
        return 2

    @property
    def frame_rate(self) -> float:
        return self.mono.frame_rate

    @property
    def cardinality(self) -> int:
        return self.mono.cardinality

    @property
    def num_codebooks(self) -> int:
        return 2 * self.mono.num_codebooks

    @property
    def total_codebooks(self) -> int:
        return 2 * self.mono.total_codebooks

    @property
    def allowed_num_codebooks(self) -> tuple[int, ...]:
        return tuple(2 * k for k in self.mono.allowed_num_codebooks)

    def set_num_codebooks(self, n: int) -> None:
        self._check_num_codebooks(n)
        self.mono.set_num_codebooks(n // 2)

    def frames_for_samples(self, num_samples: int) -> int:
        return self.mono.frames_for_samples(num_samples)

    def _encode(self, wav: Tensor) -> tuple[Tensor, Tensor | None]:
        left, scale_l = self.mono.encode(wav[:, :1])
        right, scale_r = self.mono.encode(wav[:, 1:])
        b, k, f = left.shape
        codes = torch.stack([left, right], dim=2).reshape(b, 2 * k, f)
        scale = None if scale_l is None else torch.stack([scale_l, scale_r], dim=1)
        return codes, scale

    def _split(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        b, k2, f = codes.shape
        if k2 % 2:
            raise InvalidCodesError(f"{self.name}: interleaved stereo codes need an even number "
                                    f"of codebooks, got {k2}")
        pairs = codes.reshape(b, k2 // 2, 2, f)
        return pairs[:, :, 0], pairs[:, :, 1]

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        left, right = self._split(codes)
        scale_l = scale_r = None
        if scale is not None:
            if scale.dim() < 2 or scale.shape[1] != 2:
                raise InvalidCodesError(f"{self.name}: expected a stereo scale [B, 2, ...], got "
                                        f"{tuple(scale.shape)}")
            scale_l, scale_r = scale[:, 0], scale[:, 1]
        return torch.cat([self.mono.decode(left, scale_l), self.mono.decode(right, scale_r)], dim=1)

    def _decode_latent(self, codes: Tensor) -> Tensor:
        left, right = self._split(codes)
        return torch.cat([self.mono.decode_latent(left), self.mono.decode_latent(right)], dim=1)
