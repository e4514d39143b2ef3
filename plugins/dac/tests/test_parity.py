"""Parity with descript-audio-codec's own encode/decode on the real configurations."""

from __future__ import annotations

import pytest
import torch

import audiotok
import audiotok.testing

NAMES = ["dac_44khz", "dac_24khz", "dac_16khz", "dac_44khz_16kbps"]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", NAMES)
def test_codes_and_decode_match_dac_for_every_k(name, reference, noise):
    ref, path = reference(name)
    tok = audiotok.load(str(path))  # claimed by path, facts read from the file's metadata
    assert tok.spec.plugin == "dac" and not tok.training
    named = audiotok.load(name, checkpoint=path)
    spec = audiotok.resolve(name)
    assert (tok.sample_rate, tok.frame_rate, tok.total_codebooks) == \
        (spec.sample_rate, spec.frame_rate, spec.num_codebooks)
    hop = tok.hop_length
    wav = noise(2, 3 * hop + 37, seed=1)  # not a multiple of the hop: exercises the padding
    frames = 4
    with torch.no_grad():
        padded = ref.preprocess(wav, ref.sample_rate)
        assert padded.shape[-1] == frames * hop
        for k in range(1, tok.total_codebooks + 1):
            tok.set_num_codebooks(k)
            codes, scale = tok.encode(wav)
            expected = ref.encode(padded, n_quantizers=k)[1]
            assert scale is None and codes.dtype == torch.int64
            assert codes.shape == (2, k, frames)
            assert torch.equal(codes, expected), f"{name}: codes differ at K={k}"
            z_ref = ref.quantizer.from_codes(expected)[0]
            assert torch.allclose(tok.decode_latent(codes), z_ref, rtol=1e-5, atol=1e-6)
            if k not in (1, tok.total_codebooks):  # the decoder is the same for every K
                continue
            audio_ref = ref.decode(z_ref)
            audio = tok.decode(codes)
            assert audio.shape == (2, 1, frames * hop)  # DAC itself: 512 F, or 320 F - 8
            n = audio_ref.shape[-1]
            assert n == frames * hop - (8 if hop == 320 else 0)
            assert _rel(audio[..., :n], audio_ref) < 1e-4, f"{name}: decode differs at K={k}"
            assert not audio[..., n:].any()
        named.set_num_codebooks(tok.total_codebooks)
        assert torch.equal(named.encode(wav)[0], tok.encode(wav)[0])
    # Random codebooks are N(0, 1): the codes must actually spread over the codebook.
    assert codes.unique().numel() > 8


def test_eval_mode_matters_for_dac_but_not_for_us(reference, noise):
    """DAC ignores n_quantizers in train mode; the tokenizer is deterministic in either mode."""
    ref, path = reference("dac_16khz")
    tok = audiotok.load(str(path))
    wav = noise(1, 640)
    tok.set_num_codebooks(3)
    with torch.no_grad():
        evaluated = tok.encode(wav)[0]
        tok.train()
        assert torch.equal(tok.encode(wav)[0], evaluated)
        tok.eval()
        ref.train()
        try:
            assert ref.encode(wav, n_quantizers=3)[1].shape[1] == 12
        finally:
            ref.eval()


def test_conformance_suite(reference):
    _, path = reference("dac_16khz")
    tok = audiotok.load("dac_16khz", checkpoint=path)
    audiotok.testing.check_tokenizer(tok, max_examples=4, max_frames=6)


def test_conformance_suite_small_model_with_chunking(small):
    _, path = small
    tok = audiotok.load(str(path), chunk_seconds=0.04)  # 2-frame windows
    audiotok.testing.check_tokenizer(tok, max_examples=12, max_frames=10)
