"""Arithmetic every tokenizer description shares: frames, bitrate, LM vocabulary (no torch here)."""

from __future__ import annotations

import math


class TokenizerFacts:
    """Quantities derived from ``sample_rate``, ``frame_rate``, ``cardinality``, ``num_codebooks``.

    Mixed into both :class:`audiotok.TokenizerSpec` (static facts) and
    :class:`audiotok.AudioTokenizer` (a loaded model), so the two always agree.
    """

    sample_rate: int
    frame_rate: float
    cardinality: int
    num_codebooks: int
    hop_length: int | None

    def frames_for_samples(self, num_samples: int) -> int:
        """Number of frames F the codec emits for ``num_samples`` samples: ``ceil(T / hop)``.

        When the hop is not an integer number of samples, ``ceil(T * frame_rate / sample_rate)``.
        """
        num_samples = int(num_samples)
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        hop = self.hop_length
        if hop:
            return -(-num_samples // hop)
        return math.ceil(num_samples * self.frame_rate / self.sample_rate - 1e-9)

    def frames_for_duration(self, seconds: float) -> int:
        """Sequence length per codebook for ``seconds`` of audio (30 s at 50 fps -> 1500)."""
        return self.frames_for_samples(round(float(seconds) * self.sample_rate))

    @property
    def bitrate(self) -> float:
        """Bits per second of the active codebooks: ``K * log2(cardinality) * frame_rate``."""
        return self.num_codebooks * math.log2(self.cardinality) * self.frame_rate

    @property
    def tokens_per_second(self) -> float:
        """Tokens per second of audio over all active codebooks: ``K * frame_rate``."""
        return self.num_codebooks * self.frame_rate

    @property
    def special_token_id(self) -> int:
        """AudioCraft's convention: the id ``cardinality`` is the special (pad / masked) token."""
        return self.cardinality

    def lm_vocab_size(self, num_special_tokens: int = 1) -> int:
        """Input vocabulary an LM needs per codebook: ``cardinality + num_special_tokens``.

        AudioCraft's ``LMModel`` uses one special token (id ``cardinality``) and ``cardinality``
        output logits.
        """
        if num_special_tokens < 0:
            raise ValueError("num_special_tokens must be >= 0")
        return self.cardinality + num_special_tokens
