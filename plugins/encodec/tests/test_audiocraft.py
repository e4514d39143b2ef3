"""Parity with AudioCraft itself: its builder makes the MusicGen 32 kHz EnCodec, we export it
as AudioCraft does, and both AudioCraft's loader and ours give the same codes.

AudioCraft 1.3.0 pins an old torch; it is installed with ``pip install --no-deps`` together with
the small modules ``audiocraft.models`` imports (requirements-audiocraft.txt). spaCy (text
conditioners) and xformers (LM attention) are imported by modules the EnCodec path never runs,
so empty stand-in modules are registered for them; AudioCraft's EnCodec code itself is real.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml

import audiotok


def _sibling(name: str) -> types.ModuleType:
    """This folder's helpers (``conftest``/``test_parity`` clash with other folders' names)."""
    spec = importlib.util.spec_from_file_location(f"_encodec_tests_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_conftest, _parity = _sibling("conftest"), _sibling("test_parity")
MUSICGEN_SEANET, audiocraft_yaml, tone_audio = (
    _conftest.MUSICGEN_SEANET, _conftest.audiocraft_yaml, _conftest.tone_audio)
assert_close, assert_spread = _parity.assert_close, _parity.assert_spread

for _name in ("spacy", "xformers", "xformers.ops"):
    sys.modules.setdefault(_name, types.ModuleType(_name))
sys.modules["xformers"].ops = sys.modules["xformers.ops"]  # type: ignore[attr-defined]
builders = pytest.importorskip("audiocraft.models.builders",
                               reason="pip install --no-deps audiocraft (see requirements-dev)")
loaders = pytest.importorskip("audiocraft.models.loaders")
OmegaConf = pytest.importorskip("omegaconf").OmegaConf


@torch.no_grad()
def fill_from_residuals(model, seed: int = 0) -> None:
    """k-means-like init: each stage's codebook is sampled from that stage's residuals."""
    g = torch.Generator().manual_seed(seed)
    x = tone_audio(8, model.channels, model.sample_rate // 4, model.sample_rate, seed)
    residual = model.encoder(x).transpose(1, 2).reshape(-1, model.quantizer.dimension)
    for layer in model.quantizer.vq.layers:
        cb = layer._codebook
        idx = torch.randint(0, residual.shape[0], (cb.embed.shape[0],), generator=g)
        cb.embed.copy_(residual[idx] + 0.02 * torch.randn(cb.embed.shape, generator=g))
        cb.embed_avg.copy_(cb.embed)
        cb.inited.fill_(1)
        residual = residual - cb.embed[torch.cdist(residual, cb.embed).argmin(1)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    xp_cfg = audiocraft_yaml(32000, 1, MUSICGEN_SEANET, n_q=4, bins=2048)
    cfg = OmegaConf.create(yaml.safe_load(xp_cfg))
    torch.manual_seed(0)
    model = builders.get_compression_model(cfg).eval()
    fill_from_residuals(model)
    path = tmp_path_factory.mktemp("audiocraft") / "compression_state_dict.bin"
    torch.save({"best_state": model.state_dict(), "xp.cfg": xp_cfg, "version": "1.3.0",
                "exported": True}, path)
    return model, path


def test_codes_equal_audiocraft_encodec_model(exported):
    model, path = exported
    assert (model.sample_rate, model.frame_rate, model.cardinality, model.total_codebooks) == \
        (32000, 50, 2048, 4)
    tok = audiotok.load(str(path))
    wav = tone_audio(2, 1, 32000 // 2 + 123, 32000, seed=5)
    with torch.no_grad():
        ref_codes, ref_scale = model.encode(wav)
        codes, scale = tok.encode(wav)
        assert ref_scale is None and scale is None
        assert torch.equal(codes, ref_codes)
        assert_spread(ref_codes)
        assert_close(tok.decode(codes), model.decode(ref_codes))
        assert_close(tok.decode_latent(codes), model.decode_latent(ref_codes))
        for k in (1, 2, 3):
            model.set_num_codebooks(k)
            tok.set_num_codebooks(k)
            assert torch.equal(tok.encode(wav)[0], model.encode(wav)[0])
        model.set_num_codebooks(4)


def test_codes_equal_audiocraft_on_long_input_two_threads(exported, threads):
    """Long enough that the encoder runs its first stages in time tiles and the decoder its
    last two in windows (see tiling.py): codes equal, audio within 1e-4."""
    model, path = exported
    tok = audiotok.load(str(path))
    wav = tone_audio(2, 1, 3 * 32000 + 123, 32000, seed=11)
    with threads(2), torch.no_grad():
        ref_codes, _ = model.encode(wav)
        codes, _ = tok.encode(wav)
        assert torch.equal(codes, ref_codes)
        assert_spread(ref_codes)
        assert tok.decoder.tiled.cuts(2, codes.shape[-1]) == [False, False, True, True]
        assert_close(tok.decode(codes), model.decode(ref_codes))


def test_audiocraft_loads_the_export_we_read(exported):
    model, path = exported
    theirs = loaders.load_compression_model(str(path), device="cpu")
    wav = tone_audio(1, 1, 16000, 32000, seed=9)
    with torch.no_grad():
        assert torch.equal(theirs.encode(wav)[0], audiotok.load(str(path)).encode(wav)[0])
