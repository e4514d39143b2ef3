"""Loading: local folders, weights files, Hub cache layout, offline errors, legacy weight names."""

from __future__ import annotations

import importlib.metadata
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import audiotok

REPO = "facebook/encodec_24khz"


def _codes(tok, audio):
    with torch.no_grad():
        return tok.encode(audio(24000, 1, 0.1, seed=9))[0]


def _fake_hub_cache(root, repo, folder, revision="main"):
    """Lay out ``folder``'s files as huggingface_hub's cache does for ``repo``."""
    base = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        shutil.copy(file, snapshot / file.name)
    (base / "refs").mkdir()
    (base / "refs" / revision).write_text(commit)
    return root


def test_load_by_folder_name_and_checkpoint(checkpoints, references, audio):
    folder = checkpoints[REPO]
    claimed = audiotok.load(str(folder))
    named = audiotok.load("hf_encodec_24khz", checkpoint=folder)
    assert claimed.spec.plugin == named.spec.plugin == "hf_encodec"
    assert named.identifier == "hf_encodec_24khz" and not named.training
    with torch.no_grad():
        expected = references[REPO].encode(audio(24000, 1, 0.1, seed=9), bandwidth=24.0)
    assert torch.equal(_codes(claimed, audio), expected.audio_codes[0])
    assert torch.equal(_codes(named, audio), expected.audio_codes[0])


def test_load_lone_weights_file_uses_public_config(checkpoints, tmp_path, audio):
    """``checkpoint=model.safetensors`` without config.json: the registered Hub config is used."""
    weights = tmp_path / "encodec24.safetensors"
    shutil.copy(checkpoints[REPO] / "model.safetensors", weights)
    tok = audiotok.load("hf_encodec_24khz", checkpoint=weights)
    assert torch.equal(_codes(tok, audio), _codes(audiotok.load(str(checkpoints[REPO])), audio))
    with pytest.raises(audiotok.CheckpointError, match="no config.json"):
        audiotok.load(str(checkpoints["facebook/encodec_32khz"]), checkpoint=weights,
                      source="someone/else")
    with pytest.raises(audiotok.CheckpointError, match="does not exist"):
        audiotok.load("hf_encodec_24khz", checkpoint=tmp_path / "missing.safetensors")


def test_hub_release_weight_names_load(checkpoints, tmp_path, audio):
    """Hub files name weight-normed convs ``weight_g``/``weight_v`` (torch's old weight_norm)."""
    folder = tmp_path / "legacy"
    folder.mkdir()
    shutil.copy(checkpoints[REPO] / "config.json", folder)
    state = load_file(checkpoints[REPO] / "model.safetensors")
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v
              for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in legacy)
    save_file(legacy, folder / "model.safetensors", metadata={"format": "pt"})
    assert torch.equal(_codes(audiotok.load(str(folder)), audio),
                       _codes(audiotok.load(str(checkpoints[REPO])), audio))


def test_hub_cache_offline(checkpoints, tmp_path, monkeypatch, audio):
    """The registered name loads from a Hugging Face cache with no network, revision honoured."""
    cache = _fake_hub_cache(tmp_path / "hub", REPO, checkpoints[REPO])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = audiotok.load("hf_encodec_24khz", cache_dir=cache)
    assert torch.equal(_codes(tok, audio), _codes(audiotok.load(str(checkpoints[REPO])), audio))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    tok = audiotok.load("facebook/encodec_24khz", cache_dir=cache, local_files_only=True,
                        revision="main")
    assert tok.spec.name == "hf_encodec_24khz"
    with pytest.raises(audiotok.CheckpointError, match="not available offline"):
        audiotok.load("facebook/encodec_24khz", cache_dir=cache, local_files_only=True,
                      revision="v2")


def test_offline_not_cached_error_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(audiotok.CheckpointError) as info:
        audiotok.load("facebook/encodec_48khz", cache_dir=tmp_path)
    message = str(info.value)
    assert "not available offline" in message and "hf download facebook/encodec_48khz" in message
    assert "HF_HUB_OFFLINE" in message
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")  # audiotok's own switch: every plugin honours it
    with pytest.raises(audiotok.CheckpointError, match="not available offline"):
        audiotok.load("facebook/encodec_48khz", cache_dir=tmp_path)


def test_wrong_architecture_folder(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(audiotok.CheckpointError, match="not 'encodec'"):
        audiotok.load("hf_encodec_24khz", checkpoint=folder)
    empty = tmp_path / "encodec_without_weights"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "encodec"}))
    with pytest.raises(audiotok.CheckpointError, match="no readable EnCodec weights"):
        audiotok.load(str(empty))


def test_remote_code_is_never_enabled(checkpoints):
    with pytest.raises(audiotok.PluginError, match="trust_remote_code"):
        audiotok.load(str(checkpoints[REPO]), trust_remote_code=True)


def test_old_transformers_is_refused(monkeypatch, checkpoints):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "4.53.3" if name == "transformers" else real(name))
    with pytest.raises(audiotok.MissingDependencyError, match=r"transformers>=4.54"):
        audiotok.load(str(checkpoints[REPO]))


def test_bandwidth_selection(checkpoints):
    tok = audiotok.load(str(checkpoints[REPO]))
    assert tok.bandwidths == {2: 1.5, 4: 3.0, 8: 6.0, 16: 12.0, 32: 24.0}
    tok.set_bandwidth(6)
    assert tok.num_codebooks == 8 and tok.bitrate == 6000
    with pytest.raises(audiotok.InvalidCodesError, match=r"\[2, 4, 8, 16, 32\]"):
        tok.set_num_codebooks(3)
    with pytest.raises(audiotok.InvalidCodesError, match="not configured"):
        tok.set_bandwidth(5)
    assert tok.num_codebooks == 8
