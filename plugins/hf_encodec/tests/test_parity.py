"""Codes and audio equal transformers' EncodecModel on the same saved weights, every bandwidth."""

from __future__ import annotations

import pytest
import torch

import audiotok
from audiotok_hf_encodec._config import HUB_CONFIGS

REPOS = tuple(HUB_CONFIGS)

# Short inputs; 48 kHz gets 47520 + 3200 samples of stereo: two chunks (150 + 10 frames).
SAMPLES = {"facebook/encodec_24khz": 6000, "facebook/encodec_32khz": 8000,
           "facebook/encodec_48khz": 47520 + 3200}


def flatten(codes: torch.Tensor, pad: int) -> torch.Tensor:
    """transformers' ``[n_chunks, B, K, P]`` -> ``[B, K, n_chunks * P - pad]`` (our layout)."""
    flat = torch.cat(list(codes), dim=-1)
    return flat[..., : flat.shape[-1] - pad]


def assert_audio_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


@pytest.mark.parametrize("repo", REPOS)
def test_codes_and_audio_equal_transformers(repo, checkpoints, references, audio):
    tok = audiotok.load(str(checkpoints[repo]))
    ref = references[repo]
    cfg = ref.config
    assert tok.num_codebooks == tok.total_codebooks == cfg.num_quantizers  # default: all
    wav = audio(cfg.sampling_rate, cfg.audio_channels, SAMPLES[repo] / cfg.sampling_rate, batch=2,
                seed=11)
    seen = set()
    for bw in cfg.target_bandwidths:
        k = ref.quantizer.get_num_quantizers_for_bandwidth(bw)
        tok.set_num_codebooks(k)
        assert tok.bandwidth == bw
        with torch.no_grad():
            ref_codes, ref_scales, pad = ref.encode(wav, bandwidth=bw, return_dict=False)
            ref_audio = ref.decode(ref_codes, ref_scales, last_frame_pad_length=pad,
                                   return_dict=False)[0]
            codes, scale = tok.encode(wav)
            audio = tok.decode(codes, scale)
        assert codes.dtype == torch.int64 and codes.shape[1] == k
        assert codes.shape[-1] == tok.frames_for_samples(wav.shape[-1])
        assert torch.equal(codes, flatten(ref_codes, pad))
        if cfg.normalize:
            assert torch.equal(scale, torch.cat(ref_scales, dim=1))
            assert scale.shape == (2, len(ref_codes))
        else:
            assert scale is None
        assert_audio_close(audio, ref_audio)
        seen.add(k)
    assert seen == set(tok.allowed_num_codebooks)
    # the random-init codebooks were filled: every stage really quantizes (codes spread)
    assert all(len(torch.unique(codes[:, i])) > 8 for i in range(codes.shape[1]))


def test_48khz_chunk_layout(checkpoints, audio, tmp_path):
    """Two chunks: 150 + 10 frames, a [B, 2] scale, overlap-added output; bad scales refused."""
    tok = audiotok.load("hf_encodec_48khz", checkpoint=checkpoints["facebook/encodec_48khz"])
    tok.set_num_codebooks(2)
    wav = audio(48000, 2, (47520 + 3200) / 48000, seed=3)
    assert tok.chunk_frames(wav.shape[-1]) == (150, 10)
    assert tok.frames_for_samples(wav.shape[-1]) == 160
    with torch.no_grad():
        codes, scale = tok.encode(wav)
        out = tok.decode(codes, scale)
    assert codes.shape == (1, 2, 160) and scale.shape == (1, 2)
    # overlap-added: 47520 + 10 * 320 samples, 480 fewer than F * hop
    assert out.shape == (1, 2, 47520 + 10 * 320)
    saved = audiotok.load_tokens(audiotok.save_tokens(tmp_path / "t.safetensors", codes, scale,
                                                      tokenizer=tok, num_samples=wav.shape[-1]))
    with torch.no_grad():  # a token file keeps the per-chunk scales
        assert torch.equal(tok.decode(saved.codes, saved.scale), out)
    with pytest.raises(audiotok.InvalidCodesError, match=r"scale must be \[1, 2\]"):
        tok.decode(codes, scale[:, :1])
    with pytest.raises(audiotok.InvalidCodesError, match="scale"):
        tok.decode(codes)


def test_48khz_irregular_chunks(checkpoints, references, audio):
    """A chunk shorter than the first before the last: transformers' stack fails, we do not.

    Length 2 * 47520 + 100: chunks of 48000, 47620 and 100 samples (150, 149, 1 frames).
    """
    tok = audiotok.load("hf_encodec_48khz", checkpoint=checkpoints["facebook/encodec_48khz"])
    ref = references["facebook/encodec_48khz"]
    length = 2 * 47520 + 100
    wav = audio(48000, 2, length / 48000, seed=4)
    assert tok.chunk_frames(length) == (150, 149, 1)
    tok.set_num_codebooks(4)
    with torch.no_grad():
        try:
            ref_codes, ref_scales, pad = ref.encode(wav, bandwidth=6.0, return_dict=False)
        except RuntimeError:  # transformers 4.54 - 5.x: torch.stack of unequal chunks
            pieces = [ref._encode_frame(wav[..., o: o + 48000], 6.0) for o in (0, 47520, 95040)]
            expected = torch.cat([p[0] for p in pieces], dim=-1)
            expected_scale = torch.cat([p[1] for p in pieces], dim=1)
            decoded = [ref._decode_frame(p[0], p[1]) for p in pieces]
            expected_audio = ref._linear_overlap_add(decoded, 47520)
        else:
            expected, expected_scale = flatten(ref_codes, pad), torch.cat(ref_scales, dim=1)
            expected_audio = ref.decode(ref_codes, ref_scales, last_frame_pad_length=pad,
                                        return_dict=False)[0]
        codes, scale = tok.encode(wav)
        audio = tok.decode(codes, scale)
    assert torch.equal(codes, expected) and torch.equal(scale, expected_scale)
    assert_audio_close(audio, expected_audio)


def test_frame_layout_is_invertible(checkpoints, audio):
    """frames_for_samples(T) determines the per-chunk split that decode rebuilds."""
    tok = audiotok.load(str(checkpoints["facebook/encodec_48khz"]))
    seen = {}
    for length in [*range(1, 4 * 48000, 97), *range(47400, 48200), *range(95000, 95700)]:
        layout = tok.chunk_frames(length)
        frames = sum(layout)
        assert seen.setdefault(frames, layout) == layout
        assert tok._layout(frames) == layout
    assert set(seen) == set(range(1, max(seen) + 1))  # every F up to the max is produced


def test_generic_chunked_config(audio):
    """A tiny chunked, unnormalized config (chunk 4 hops, stride 2): frame counts jump there."""
    from transformers import EncodecConfig, EncodecModel

    from audiotok_hf_encodec.model import HFEncodecTokenizer

    torch.manual_seed(0)
    config = EncodecConfig(sampling_rate=400, audio_channels=1, upsampling_ratios=[2, 2],
                           chunk_length_s=0.04, overlap=0.5, target_bandwidths=[0.2, 0.4],
                           num_filters=2, hidden_size=8, codebook_dim=8, codebook_size=4,
                           num_lstm_layers=1, use_causal_conv=False)
    model = EncodecModel(config).eval()
    for layer in model.quantizer.layers:
        layer.codebook.embed.normal_()
    tok = HFEncodecTokenizer(model)
    assert (tok.allowed_num_codebooks, tok.uses_scale, tok.frame_rate) == ((1, 2), False, 100.0)
    assert tok.chunk_frames(9) == (3, 1) and tok.frames_for_samples(8) == 2  # F jumps 2 -> 4
    with pytest.raises(audiotok.InvalidCodesError, match="3 frames is not a length"):
        tok.decode(torch.zeros(1, 2, 3, dtype=torch.long))
    for length in (5, 9, 12, 16, 24, 40):  # lengths transformers itself can stack
        wav = audio(400, 1, length / 400, seed=length)
        with torch.no_grad():
            ref_codes, ref_scales, pad = model.encode(wav, bandwidth=0.4, return_dict=False)
            codes, scale = tok.encode(wav)
            audio_out = tok.decode(codes, scale)
            ref_audio = model.decode(ref_codes, ref_scales, last_frame_pad_length=pad,
                                     return_dict=False)[0]
        assert scale is None and torch.equal(codes, flatten(ref_codes, pad))
        assert codes.shape[-1] == tok.frames_for_samples(length)
        assert_audio_close(audio_out, ref_audio)


def test_default_is_all_codebooks_unlike_transformers(checkpoints, references, audio):
    ref = references["facebook/encodec_24khz"]
    tok = audiotok.load("hf_encodec_24khz", checkpoint=checkpoints["facebook/encodec_24khz"])
    wav = audio(24000, 1, 0.1)
    with torch.no_grad():
        ref_codes = ref.encode(wav).audio_codes  # bandwidth=None: the *smallest* bandwidth
        codes, _ = tok.encode(wav)
    assert ref_codes.shape[2] == 2 and codes.shape[1] == 32
    assert torch.equal(codes[:, :2], ref_codes[0])


def test_decode_latent(checkpoints, references, audio):
    tok = audiotok.load(str(checkpoints["facebook/encodec_32khz"]))
    ref = references["facebook/encodec_32khz"]
    wav = audio(32000, 1, 0.2)
    with torch.no_grad():
        codes, _ = tok.encode(wav)
        latent = tok.decode_latent(codes)
        expected = ref.quantizer.decode(codes.transpose(0, 1))
    assert latent.shape == (1, 128, codes.shape[-1])
    assert torch.equal(latent, expected)


def test_padding_mask(checkpoints, references, audio):
    """A padded batch with a mask gives transformers' codes; causal 24 kHz keeps full frames."""
    tok = audiotok.load(str(checkpoints["facebook/encodec_24khz"]))
    ref = references["facebook/encodec_24khz"]
    long, short = audio(24000, 1, 0.3, seed=1), audio(24000, 1, 0.17, seed=2)
    batch = torch.zeros(2, 1, long.shape[-1])
    batch[0], batch[1, :, : short.shape[-1]] = long[0], short[0]
    batch[1, :, short.shape[-1]:] = 0.5  # garbage the mask must remove
    mask = torch.zeros(2, long.shape[-1], dtype=torch.bool)
    mask[0], mask[1, : short.shape[-1]] = True, True
    with torch.no_grad():
        codes, _ = tok.encode(batch, padding_mask=mask)
        ref_codes = ref.encode(batch, mask[:, None], bandwidth=24.0).audio_codes[0]
        alone, _ = tok.encode(short)
    assert torch.equal(codes, ref_codes)
    full = short.shape[-1] // 320
    assert torch.equal(codes[1:, :, :full], alone[:, :, :full])
    with pytest.raises(audiotok.InvalidAudioError, match="padding_mask"):
        tok.encode(batch, padding_mask=mask[:, :10])
