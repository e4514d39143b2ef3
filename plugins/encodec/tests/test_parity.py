"""Codes bit-identical (torch.equal) to Meta's encodec on the same weights, decode within 1e-4."""

from __future__ import annotations

import pytest
import torch

import audiotok


def assert_spread(codes: torch.Tensor, minimum: int = 4) -> None:
    """Every codebook uses several entries: the parity test is not comparing constant codes."""
    for k in range(codes.shape[1]):
        used = codes[:, k].unique().numel()
        assert used >= minimum, f"codebook {k} uses only {used} entries"


def assert_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape
    err = (ours - ref).abs().max().item()
    assert err <= 1e-4 * ref.abs().max().item(), f"decode differs by {err}"


def test_24khz_every_bandwidth(release_24k, audio):
    ref, path = release_24k
    tok = audiotok.load("encodec_24khz", checkpoint=path)
    assert tok.name == "encodec_24khz" and tok.num_codebooks == 32
    wav = audio(2, 1, 24000 // 5 + 123, 24000, seed=10)
    for bandwidth, k in [(1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32)]:
        ref.set_target_bandwidth(bandwidth)
        tok.set_bandwidth(bandwidth)
        assert tok.num_codebooks == k
        with torch.no_grad():
            [(ref_codes, ref_scale)] = ref.encode(wav)
            codes, scale = tok.encode(wav)
            assert ref_scale is None and scale is None
            assert torch.equal(codes, ref_codes), f"codes differ at {bandwidth} kbps"
            if k in (2, 32):
                assert_close(tok.decode(codes), ref.decode([(ref_codes, None)]))
    assert_spread(codes)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_24khz_long_input_is_tiled_and_exact(release_24k, audio, threads, n_threads):
    """3 s at 24 kHz: the encoder's first stages run in time tiles and the decoder's last stage
    in windows (see tiling.py); codes equal, audio within 1e-4."""
    ref, path = release_24k
    tok = audiotok.load("encodec_24khz", checkpoint=path, bandwidth=24.0)
    ref.set_target_bandwidth(24.0)
    wav = audio(2, 1, 3 * 24000 + 123, 24000, seed=21)
    with threads(n_threads), torch.inference_mode():
        [(ref_codes, _)] = ref.encode(wav)
        codes, _ = tok.encode(wav)
        assert torch.equal(codes, ref_codes)
        assert_spread(codes)
        assert tok.decoder.tiled.cuts(2, codes.shape[-1])[-1]
        assert_close(tok.decode(codes), ref.decode([(ref_codes, None)]))


def test_24khz_short_inputs_and_batch_rows(release_24k, audio):
    ref, path = release_24k
    tok = audiotok.load("encodec_24khz", checkpoint=path, bandwidth=6.0)
    ref.set_target_bandwidth(6.0)
    for length in (1, 100, 320, 321):
        wav = audio(3, 1, length, 24000, seed=length)
        with torch.inference_mode():
            [(ref_codes, _)] = ref.encode(wav)
            codes, _ = tok.encode(wav)
        assert codes.shape == (3, 8, tok.frames_for_samples(length))
        assert torch.equal(codes, ref_codes)


def test_48khz_segments_scales_and_overlap_add(release_48k, audio):
    """Meta's 1 s segments with 1 % overlap; this length cuts the middle segment to 149 frames."""
    ref, path = release_48k
    tok = audiotok.load("encodec_48khz", checkpoint=path, bandwidth=6.0)
    assert tok.uses_scale and tok.channels == 2
    ref.set_target_bandwidth(6.0)
    length = 47520 * 2 + 100
    wav = audio(1, 2, length, 48000, seed=11)
    with torch.no_grad():
        frames = ref.encode(wav)
        codes, scale = tok.encode(wav)
        assert [c.shape[-1] for c, _ in frames] == [150, 149, 1] and scale.shape == (1, 3)
        assert torch.equal(codes, torch.cat([c for c, _ in frames], dim=-1))
        assert torch.equal(scale, torch.cat([s for _, s in frames], dim=1))
        assert codes.shape[-1] == tok.frames_for_samples(length)
        assert_close(tok.decode(codes, scale), ref.decode(frames))
    assert_spread(codes, minimum=3)


def test_48khz_short_segments_every_bandwidth(release_48k, audio):
    ref, path = release_48k
    tok = audiotok.load("encodec_48khz", checkpoint=path, segment=0.1)
    ref.segment = 0.1
    try:
        wav = audio(2, 2, 4752 * 2 + 500, 48000, seed=16)
        for bandwidth, k in [(3.0, 2), (6.0, 4), (12.0, 8), (24.0, 16)]:
            ref.set_target_bandwidth(bandwidth)
            tok.set_bandwidth(bandwidth)
            assert tok.num_codebooks == k
            with torch.no_grad():
                frames = ref.encode(wav)
                codes, scale = tok.encode(wav)
            assert len(frames) == 3
            assert torch.equal(codes, torch.cat([c for c, _ in frames], dim=-1))
            assert torch.equal(scale, torch.cat([s for _, s in frames], dim=1))
        with torch.no_grad():
            assert_close(tok.decode(codes, scale), ref.decode(frames))
    finally:
        ref.segment = 1.0


def test_48khz_without_segments_is_one_pass(release_48k, audio):
    ref, path = release_48k
    tok = audiotok.load("encodec_48khz", checkpoint=path, segment=None, bandwidth=6.0)
    ref.set_target_bandwidth(6.0)
    wav = audio(2, 2, 5000, 48000, seed=12)
    with torch.no_grad():
        [(ref_codes, ref_scale)] = ref.encode(wav)  # shorter than a segment: one frame
        codes, scale = tok.encode(wav)
    assert torch.equal(codes, ref_codes) and torch.equal(scale, ref_scale)
    assert codes.shape[-1] == tok.frames_for_samples(5000)


def test_musicgen_32khz_export(musicgen_32k, audio):
    ref, path = musicgen_32k
    for identifier in (str(path), str(path.parent), f"//pretrained/{path}"):
        spec = audiotok.resolve(identifier)
        assert spec.plugin == "encodec"
        assert (spec.sample_rate, spec.frame_rate, spec.cardinality, spec.num_codebooks) == (
            32000,
            50.0,
            2048,
            4,
        )
    tok = audiotok.load(str(path.parent))
    assert tok.config.encoder.pad_mode == "constant" and tok.config.encoder.true_skip
    wav = audio(2, 1, 8000 + 77, 32000, seed=13)
    with torch.no_grad():
        [(ref_codes, _)] = ref.encode(wav)
        codes, scale = tok.encode(wav)
        assert scale is None
        assert torch.equal(codes, ref_codes)
        assert_close(tok.decode(codes), ref.decode([(ref_codes, None)]))
        for k in (1, 2, 3):
            tok.set_num_codebooks(k)
            assert torch.equal(tok.encode(wav)[0], ref_codes[:, :k])
            assert_close(
                tok.decode_latent(ref_codes[:, :k]),
                ref.quantizer.decode(ref_codes[:, :k].transpose(0, 1)),
            )
    assert_spread(ref_codes)


@pytest.mark.parametrize(
    "options",
    [
        dict(pad_mode="reflect"),
        dict(causal=True, pad_mode="reflect", true_skip=False),
        dict(norm="time_group_norm", renormalize=True, channels=2),
        dict(norm="none", lstm=0, dilation_base=3, kernel_size=5, last_kernel_size=3),
    ],
    ids=["reflect", "causal-convskip", "groupnorm-renorm-stereo", "plain-nolstm"],
)
def test_audiocraft_config_variants(make_small, audio, options):
    ref, path = make_small(**options)
    tok = audiotok.load(str(path))
    enc = tok.config.encoder
    assert enc.pad_mode == options.get("pad_mode", "constant")
    assert enc.causal == options.get("causal", False) and tok.uses_scale == options.get(
        "renormalize", False
    )
    wav = audio(2, options.get("channels", 1), 333, 8000, seed=14)
    with torch.no_grad():
        [(ref_codes, ref_scale)] = ref.encode(wav)
        codes, scale = tok.encode(wav)
        assert torch.equal(codes, ref_codes)
        if ref_scale is not None:
            assert torch.equal(scale, ref_scale)
        assert_close(tok.decode(codes, scale), ref.decode([(ref_codes, ref_scale)]))
    assert_spread(codes, minimum=2)


def test_pad_mode_is_read_from_the_config(make_small, audio):
    """Same weights, only xp.cfg's pad_mode differs: the codes must follow the config."""
    ref, path = make_small(pad_mode="reflect")
    text = torch.load(path, weights_only=True)
    constant = path.with_name("constant.bin")
    torch.save(
        {**text, "xp.cfg": text["xp.cfg"].replace("pad_mode: reflect", "pad_mode: constant")},
        constant,
    )
    wav = audio(1, 1, 400, 8000, seed=15)
    with torch.no_grad():
        a = audiotok.load(str(path)).encode(wav)[0]
        b = audiotok.load(str(constant)).encode(wav)[0]
        assert torch.equal(a, ref.encode(wav)[0][0])
    assert not torch.equal(a, b)
