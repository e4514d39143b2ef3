"""AudioCraft pointer exports to transformers-format EnCodec (e.g. ``facebook/encodec_32khz``)."""

from __future__ import annotations

import pytest
import torch

import audiotok

transformers = pytest.importorskip(
    "transformers", reason="the reference is transformers' EncodecModel"
)


@pytest.fixture(scope="module")
def hf_32k(tmp_path_factory):
    """transformers' EncodecModel with facebook/encodec_32khz's config, random weights, codebooks
    from encoder residuals, saved with save_pretrained (config.json + model.safetensors)."""
    torch.manual_seed(5)
    cfg = transformers.EncodecConfig(
        target_bandwidths=[2.2],
        sampling_rate=32000,
        audio_channels=1,
        normalize=False,
        upsampling_ratios=[8, 5, 4, 4],
        num_filters=64,
        codebook_size=2048,
        use_causal_conv=False,
        use_conv_shortcut=False,
        pad_mode="reflect",
    )
    model = transformers.EncodecModel(cfg).eval()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        t = torch.arange(16000) / 32000
        x = 0.2 * torch.sin(2 * torch.pi * (torch.rand(8, 1, 1, generator=g) * 1500 + 80) * t)
        z = model.encoder(x + 0.03 * torch.randn(8, 1, 16000, generator=g))
        residual = z.transpose(1, 2).reshape(-1, z.shape[1])
        chunks = torch.randperm(len(residual), generator=g).chunk(4)
        for rows, layer in zip(chunks, model.quantizer.layers, strict=True):
            cb, pool = layer.codebook, residual[rows]
            idx = torch.randint(0, len(pool), (2048,), generator=g)
            spread = (pool - pool.mean(0)).std()
            cb.embed.copy_(pool[idx] + 0.5 * spread * torch.randn(2048, z.shape[1], generator=g))
            cb.inited.fill_(True)
            residual = residual - cb.embed[torch.cdist(residual, cb.embed).argmin(1)]
    folder = tmp_path_factory.mktemp("hf") / "encodec_32khz"
    model.save_pretrained(folder)
    return model, folder


def test_pointer_to_transformers_layout_matches_transformers(hf_32k, tmp_path):
    model, folder = hf_32k
    pointer = tmp_path / "compression_state_dict.bin"  # as in facebook/musicgen-melody-large
    torch.save({"pretrained": str(folder), "exported": True, "version": "1.3.0"}, pointer)
    spec = audiotok.resolve(str(pointer))
    assert (spec.sample_rate, spec.frame_rate, spec.cardinality, spec.num_codebooks) == (
        32000,
        50.0,
        2048,
        4,
    )
    tok = audiotok.load(str(pointer))
    assert tok.config.encoder.pad_mode == "reflect" and tok.config.encoder.true_skip
    g = torch.Generator().manual_seed(6)
    wav = 0.2 * torch.sin(torch.arange(7777) / 9.0).expand(2, 1, -1) + 0.05 * torch.randn(
        2, 1, 7777, generator=g
    )
    with torch.no_grad():
        ref = model.encode(wav, bandwidth=2.2)
        codes, scale = tok.encode(wav)
        assert scale is None and torch.equal(codes, ref.audio_codes[0])
        out = tok.decode(codes)
        ref_out = model.decode(ref.audio_codes, ref.audio_scales).audio_values
        assert (out - ref_out).abs().max() <= 1e-4 * ref_out.abs().max()
    for k in range(4):
        assert codes[:, k].unique().numel() >= 4, f"codebook {k} barely used"


def test_pretrained_prefix_to_a_transformers_folder(hf_32k):
    _, folder = hf_32k
    tok = audiotok.load(f"//pretrained/{folder}")
    assert tok.total_codebooks == 4 and tok.sample_rate == 32000
