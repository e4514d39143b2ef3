"""Hypothesis fuzzing of the checkpoint metadata parsers the plugins own, at the public boundary
(``audiotok.resolve`` runs each plugin's claim, which parses the file's metadata): AudioCraft's
``xp.cfg`` YAML, DAC's ``metadata["kwargs"]`` and raw ``.pth`` bytes, transformers'
``config.json``. Whatever the content, the only exceptions are audiotok errors."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiotok

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

XP_CFG = yaml.safe_dump({
    "sample_rate": 32000, "channels": 1, "compression_model": "encodec",
    "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": "${sample_rate}",
                "channels": "${channels}", "causal": False, "renormalize": False},
    "seanet": {"dimension": 128, "n_filters": 64, "n_residual_layers": 1,
               "ratios": [8, 5, 4, 4], "norm": "weight_norm", "pad_mode": "constant",
               "true_skip": True, "lstm": 2, "channels": "${channels}"},
    "rvq": {"n_q": 4, "bins": 2048},
})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True),
                    st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=12)


def _only_audiotok_errors(identifier: str) -> None:
    try:
        spec = audiotok.resolve(identifier)
    except audiotok.AudiotokError:
        return
    assert isinstance(spec, audiotok.TokenizerSpec)


def _mutate_text(data: st.DataObject, text: str) -> str:
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 10))):
        i = data.draw(st.integers(0, len(chars) - 1))
        chars[i] = data.draw(st.sampled_from(list("{}[]:$-'\"\n 0a#&*!%")))
    return "".join(chars)


@FUZZ
@given(data=st.data())
def test_audiocraft_xp_cfg(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ac") / "compression_state_dict.bin"
    text = _mutate_text(data, XP_CFG) if data.draw(st.booleans()) else \
        data.draw(st.text(max_size=200))
    torch.save({"best_state": {}, "xp.cfg": text, "version": "1.3.0", "exported": True}, path)
    _only_audiotok_errors(str(path))


@FUZZ
@given(kwargs=st.dictionaries(st.sampled_from([
    "encoder_dim", "encoder_rates", "latent_dim", "decoder_dim", "decoder_rates", "n_codebooks",
    "codebook_size", "codebook_dim", "sample_rate", "quantizer_dropout", "other"]),
    json_values, max_size=8))
def test_dac_metadata_kwargs(tmp_path_factory, kwargs):
    path = tmp_path_factory.mktemp("dac") / "weights.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "metadata": {"kwargs": kwargs}}, path)
    _only_audiotok_errors(str(path))


@pytest.fixture(scope="module")
def dac_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dacfile") / "weights.pth"
    kwargs = {"encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2], "n_codebooks": 12,
              "sample_rate": 16000}
    torch.save({"state_dict": {"quantizer.x": torch.zeros(2)}, "metadata": {"kwargs": kwargs}},
               path)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_dac_file_bytes(tmp_path_factory, dac_file, data):
    blob = bytearray(dac_file)
    for _ in range(data.draw(st.integers(1, 12))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("dacb") / "weights.pth"
    path.write_bytes(bytes(blob[: data.draw(st.integers(0, len(blob)))]))
    _only_audiotok_errors(str(path))


@FUZZ
@given(config=st.dictionaries(st.sampled_from([
    "model_type", "sampling_rate", "audio_channels", "upsampling_ratios", "codebook_size",
    "target_bandwidths", "chunk_length_s", "overlap", "normalize", "num_filters"]),
    json_values, max_size=9), encodec=st.booleans())
def test_transformers_config_json(tmp_path_factory, config, encodec):
    folder = tmp_path_factory.mktemp("hf")
    if encodec:
        config["model_type"] = "encodec"
    (folder / "config.json").write_text(json.dumps(config))
    _only_audiotok_errors(str(folder))


def test_the_seeds_are_claimed(tmp_path, dac_file):
    """The unmutated inputs are recognised, so the fuzzing explores the real parsers."""
    torch.save({"best_state": {}, "xp.cfg": XP_CFG}, tmp_path / "compression_state_dict.bin")
    assert audiotok.resolve(str(tmp_path / "compression_state_dict.bin")).plugin == "encodec"
    (tmp_path / "weights.pth").write_bytes(dac_file)
    assert audiotok.resolve(str(tmp_path / "weights.pth")).plugin == "dac"
    assert zipfile.is_zipfile(tmp_path / "weights.pth")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"model_type": "encodec"}))
    assert audiotok.resolve(str(tmp_path / "hf")).plugin == "hf_encodec"
