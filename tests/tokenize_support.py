"""Tokenizers used by the tokenize tests: one whose codes change under padding, one that is slow."""

from __future__ import annotations

import os
import time

import torch

import audiotok
from audiotok.builtin.mulaw import MuLawTokenizer


class PeakNormalizedMuLaw(MuLawTokenizer):
    """Mu-law after scaling each item to its peak: right-padding changes nothing, but batching
    items of different lengths with a shared peak would. Not declared padding-invariant."""

    padding_invariant = False
    exact_chunking = False

    def _encode(self, wav):
        peak = wav.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-3)
        noise = torch.linspace(0, 1e-3, wav.shape[-1], device=wav.device)  # length-dependent
        return super()._encode((wav + noise) / peak * 0.9)


class SlowMuLaw(MuLawTokenizer):
    def _encode(self, wav):
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0.05")))
        return super()._encode(wav)


def load_peak(spec, *, checkpoint=None):
    return PeakNormalizedMuLaw()


def load_slow(spec, *, checkpoint=None):
    return SlowMuLaw()


def spec(name, factory):
    return audiotok.TokenizerSpec(name=name, factory=f"tokenize_support:{factory}",
                                  sample_rate=16000, channels=1, frame_rate=16000.0,
                                  cardinality=256, num_codebooks=1)


class LinearPCM16(MuLawTokenizer):
    """16-bit linear PCM as a tokenizer (card 65536): a near-identity reference path."""

    def __init__(self):
        super().__init__(sample_rate=16000, mu=65535)

    def _encode(self, wav):
        return torch.round((wav.clamp(-1, 1) + 1) * 32767.5).long(), None

    def _decode_latent(self, codes):
        return codes[:, :1].double().div(32767.5).sub(1).float()

    def _decode(self, codes, scale):
        return self._decode_latent(codes)


def load_pcm16(spec, *, checkpoint=None):
    return LinearPCM16()


def load_boom(spec, *, checkpoint=None):
    raise RuntimeError("factory exploded")
