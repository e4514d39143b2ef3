"""The EnCodec tokenizer: SEANet encoder + RVQ + SEANet decoder behind audiotok's protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from audiotok import AudioTokenizer, InvalidCodesError

from .modules import ResidualVectorQuantizer, SEANetConfig, SEANetDecoder, SEANetEncoder


@dataclass(frozen=True)
class EncodecConfig:
    """Everything that defines an EnCodec model's architecture and pre/post-processing.

    Attributes:
        sample_rate, channels: audio format.
        encoder, decoder: SEANet hyper-parameters (AudioCraft allows them to differ).
        n_q, bins: number of RVQ stages and entries per codebook.
        renormalize: divide the input by its RMS (the scale is returned and needed by decode).
        segment: encode in chunks of this many seconds (Meta's 48 kHz model), or None.
        overlap: fraction of a segment shared with the next one.
        target_bandwidths: the kbps values of the original release (informative; K = bw / kbps
            per codebook).
    """

    sample_rate: int
    channels: int
    encoder: SEANetConfig
    decoder: SEANetConfig
    n_q: int
    bins: int
    renormalize: bool = False
    segment: float | None = None
    overlap: float = 0.01
    target_bandwidths: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.encoder.hop_length != self.decoder.hop_length:
            raise ValueError(
                f"encoder hop {self.encoder.hop_length} != decoder hop {self.decoder.hop_length}"
            )
        if self.encoder.dimension != self.decoder.dimension:
            raise ValueError("encoder and decoder latent dimensions differ")
        if self.n_q < 1 or self.bins < 2:
            raise ValueError(f"invalid quantizer n_q={self.n_q}, bins={self.bins}")

    @property
    def hop_length(self) -> int:
        """Samples per code frame."""
        return self.encoder.hop_length

    @property
    def segment_length(self) -> int | None:
        """Samples per segment when chunked."""
        return None if self.segment is None else int(self.segment * self.sample_rate)

    @property
    def segment_stride(self) -> int | None:
        """Samples between segment starts when chunked."""
        length = self.segment_length
        return None if length is None else max(1, int((1 - self.overlap) * length))


def encodec_24khz_config() -> EncodecConfig:
    """Meta's causal 24 kHz mono model (``encodec_24khz``): 75 Hz, 32 x 1024 codebooks."""
    seanet = SEANetConfig(
        channels=1, causal=True, norm="weight_norm", pad_mode="reflect", true_skip=False
    )
    return EncodecConfig(
        24000, 1, seanet, seanet, n_q=32, bins=1024, target_bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0)
    )


def encodec_48khz_config() -> EncodecConfig:
    """Meta's 48 kHz stereo model (``encodec_48khz``): 150 Hz, 16 x 1024, 1 s segments."""
    seanet = SEANetConfig(
        channels=2, causal=False, norm="time_group_norm", pad_mode="reflect", true_skip=False
    )
    return EncodecConfig(
        48000,
        2,
        seanet,
        seanet,
        n_q=16,
        bins=1024,
        renormalize=True,
        segment=1.0,
        target_bandwidths=(3.0, 6.0, 12.0, 24.0),
    )


class EncodecTokenizer(AudioTokenizer):
    """Native EnCodec: codes bit-identical to AudioCraft's and Meta's ``encodec`` (same weights).

    Build it with :func:`audiotok_encodec.loading.load` (or ``audiotok.load``); a fresh instance
    has zero codebooks. Weight norm is folded at load, so inference runs plain convolutions.
    With ``segment`` (48 kHz), codes of consecutive segments are concatenated along time and the
    scale holds one column per segment: ``scale[B, n_segments]``.
    """

    def __init__(self, config: EncodecConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SEANetEncoder(config.encoder)
        self.decoder = SEANetDecoder(config.decoder)
        self.quantizer = ResidualVectorQuantizer(config.encoder.dimension, config.n_q, config.bins)
        self.uses_scale = config.renormalize

    # -- facts -------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        """Samples per second."""
        return self.config.sample_rate

    @property
    def channels(self) -> int:
        """Audio channels."""
        return self.config.channels

    @property
    def frame_rate(self) -> float:  # type: ignore[override]
        """Code frames per second (``sample_rate / hop``)."""
        return self.config.sample_rate / self.config.hop_length

    @property
    def hop_length(self) -> int:  # type: ignore[override]
        """Samples per code frame."""
        return self.config.hop_length

    @property
    def cardinality(self) -> int:  # type: ignore[override]
        """Entries per codebook."""
        return self.config.bins

    @property
    def total_codebooks(self) -> int:
        """Number of RVQ stages."""
        return self.config.n_q

    def set_bandwidth(self, kbps: float) -> None:
        """Select K from a target bandwidth like Meta's ``set_target_bandwidth`` (floor, >= 1)."""
        per_q = math.log2(self.cardinality) * self.frame_rate / 1000
        self.set_num_codebooks(min(self.total_codebooks, max(1, math.floor(kbps / per_q))))

    def frames_for_samples(self, num_samples: int) -> int:
        """``ceil(T / hop)``, summed over segments when the model encodes in segments."""
        length, stride = self.config.segment_length, self.config.segment_stride
        if length is None or stride is None:
            return super().frames_for_samples(num_samples)
        hop = self.hop_length
        return sum(
            -(-min(length, num_samples - off) // hop) for off in range(0, num_samples, stride)
        )

    def refresh(self) -> None:
        """Recompute caches derived from the weights (call after changing codebooks by hand)."""
        self.quantizer.refresh()

    # -- codec -------------------------------------------------------------------------------
    def _encode_segment(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        scale = None
        if self.config.renormalize:
            mono = x.mean(dim=1, keepdim=True)
            volume = mono.pow(2).mean(dim=2, keepdim=True).sqrt()
            scale = 1e-8 + volume
            x = x / scale
            scale = scale.view(-1, 1)
        return self.quantizer.encode(self.encoder(x), self.num_codebooks), scale

    def _encode(self, wav: Tensor) -> tuple[Tensor, Tensor | None]:
        length, stride = self.config.segment_length, self.config.segment_stride
        if length is None or stride is None:
            return self._encode_segment(wav)
        parts = [
            self._encode_segment(wav[..., off : off + length])
            for off in range(0, wav.shape[-1], stride)
        ]
        codes = torch.cat([c for c, _ in parts], dim=-1)
        scales = [s for _, s in parts]
        return codes, (torch.cat(scales, dim=1) if scales[0] is not None else None)  # type: ignore

    def _segment_sizes(self, frames: int, n_segments: int) -> list[int]:
        full = self._segment_frames()
        sizes = [full] * (n_segments - 1) + [frames - full * (n_segments - 1)]
        if n_segments > 1 and sizes[-1] < 1:  # the one but last segment was cut short
            sizes[-2] -= 1 - sizes[-1]
            sizes[-1] = 1
        if min(sizes) < 1 or max(sizes) > full:
            raise InvalidCodesError(
                f"{self.name}: {frames} frames cannot come from {n_segments} "
                f"segments of at most {full} frames (scale has one column "
                "per segment)"
            )
        return sizes

    def _decode_segment(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        out = self.decoder(self.quantizer.decode(codes))
        return out if scale is None else out * scale.reshape(-1, 1, 1)

    def _decode(self, codes: Tensor, scale: Tensor | None) -> Tensor:
        stride = self.config.segment_stride
        if scale is not None:
            if not self.uses_scale:
                raise InvalidCodesError(
                    f"{self.name}: this model does not renormalize; pass scale=None"
                )
            if (
                not isinstance(scale, Tensor)
                or scale.dim() not in (1, 2)
                or scale.shape[0] != codes.shape[0]
            ):
                raise InvalidCodesError(
                    f"{self.name}: scale must be the [B, n] tensor encode "
                    f"returned, with B = {codes.shape[0]}"
                )
            scale = scale.to(self.device, torch.float32).reshape(codes.shape[0], -1)
        if stride is None:
            if scale is not None and scale.shape[1] != 1:
                raise InvalidCodesError(
                    f"{self.name}: expected a scale of shape [B, 1], got {tuple(scale.shape)}"
                )
            return self._decode_segment(codes, scale)
        n = scale.shape[1] if scale is not None else -(-codes.shape[-1] // self._segment_frames())
        pieces = torch.split(codes, self._segment_sizes(codes.shape[-1], n), dim=-1)
        frames = [
            self._decode_segment(c, None if scale is None else scale[:, i])
            for i, c in enumerate(pieces)
        ]
        return _linear_overlap_add(frames, stride)

    def _segment_frames(self) -> int:
        """Frames of a full segment."""
        return -(-self.config.segment_length // self.hop_length)  # type: ignore[operator]

    def _decode_latent(self, codes: Tensor) -> Tensor:
        return self.quantizer.decode(codes)


def _linear_overlap_add(frames: list[Tensor], stride: int) -> Tensor:
    """Sum segments with triangular weights, normalised by the summed weights (as the reference)."""
    first = frames[0]
    total = stride * (len(frames) - 1) + frames[-1].shape[-1]
    t = torch.linspace(0, 1, first.shape[-1] + 2, device=first.device, dtype=first.dtype)[1:-1]
    weight = 0.5 - (t - 0.5).abs()
    sum_weight = torch.zeros(total, device=first.device, dtype=first.dtype)
    out = torch.zeros(*first.shape[:-1], total, device=first.device, dtype=first.dtype)
    offset = 0
    for frame in frames:
        n = frame.shape[-1]
        out[..., offset : offset + n] += weight[:n] * frame
        sum_weight[offset : offset + n] += weight[:n]
        offset += stride
    return out / sum_weight
