"""Registration, claims and the bandwidth <-> codebook mapping (no model weights needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import audiotok
from audiotok_hf_encodec import plugin
from audiotok_hf_encodec._config import HUB_CONFIGS, ConfigError, facts_from_config, find_config


def test_static_facts():
    specs = {s.name: s for s in audiotok.list_tokenizers("hf_encodec_*")}
    assert set(specs) == {"hf_encodec_24khz", "hf_encodec_32khz", "hf_encodec_48khz"}
    facts = {n: (s.sample_rate, s.channels, s.frame_rate, s.cardinality, s.num_codebooks,
                 s.codebook_choices, s.hop_length) for n, s in specs.items()}
    assert facts == {
        "hf_encodec_24khz": (24000, 1, 75.0, 1024, 32, (2, 4, 8, 16, 32), 320),
        "hf_encodec_32khz": (32000, 1, 50.0, 2048, 4, (4,), 640),
        "hf_encodec_48khz": (48000, 2, 150.0, 1024, 16, (2, 4, 8, 16), 320),
    }
    assert all(s.plugin == "hf_encodec" and s.requires == ("transformers>=4.54",)
               for s in specs.values())
    assert specs["hf_encodec_32khz"].bitrate == 2200.0


@pytest.mark.parametrize("repo", list(HUB_CONFIGS))
def test_hub_ids_resolve_without_network(repo):
    spec = audiotok.resolve(repo)
    assert spec.name == "hf_" + repo.split("/")[1] and spec.options == {"source": repo}
    assert audiotok.resolve(f"hf_encodec:{repo}").name == spec.name


def test_listing_and_resolving_stay_light():
    code = ("import sys, audiotok; audiotok.list_tokenizers(); "
            "audiotok.resolve('facebook/encodec_48khz'); audiotok.resolve('hf_encodec_24khz'); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_bandwidth_mapping_of_public_configs():
    mapping = {repo: facts_from_config(cfg).levels for repo, cfg in HUB_CONFIGS.items()}
    assert mapping == {
        "facebook/encodec_24khz": ((1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32)),
        "facebook/encodec_32khz": ((2.2, 4),),
        "facebook/encodec_48khz": ((3.0, 2), (6.0, 4), (12.0, 8), (24.0, 16)),
    }
    assert all(not facts_from_config(cfg).inexact for cfg in HUB_CONFIGS.values())


def test_integrality_check_flags_each_bandwidth():
    """AudioCraft's ``assert all(deltas) <= 1e-3`` passes unless *every* bandwidth is fractional."""
    cfg = {**HUB_CONFIGS["facebook/encodec_24khz"], "target_bandwidths": [1.5, 2.0, 3.0]}
    facts = facts_from_config(cfg)
    assert [bw for bw, _ in facts.inexact] == [2.0]
    assert facts.inexact[0][1] == pytest.approx(2000 / 750)
    assert facts.levels == ((1.5, 2), (2.0, 2), (3.0, 4))  # transformers floors 2.67 -> 2
    assert facts.codebook_choices == (2, 4)


@pytest.mark.parametrize("change, message", [
    ({"model_type": "dac"}, "not 'encodec'"),
    ({"codebook_size": 1000}, "power of 2"),
    ({"chunk_length_s": 1.0, "overlap": None}, "overlap"),
    ({"audio_channels": 3}, "unsupported"),
])
def test_bad_configs(change, message):
    with pytest.raises(ConfigError, match=message):
        facts_from_config({**HUB_CONFIGS["facebook/encodec_24khz"], **change})


def _write_config(folder, **change):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**HUB_CONFIGS["facebook/encodec_48khz"],
                                                    **change}))
    return folder


def test_claims_local_encodec_folder(tmp_path):
    folder = _write_config(tmp_path / "my model")
    spec = audiotok.resolve(str(folder))
    assert spec.plugin == "hf_encodec" and spec.name == "my_model"
    assert (spec.sample_rate, spec.channels, spec.num_codebooks) == (48000, 2, 16)
    assert spec.options == {"source": str(folder)}


def test_claim_refuses_foreign_and_reports_broken(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    other = _write_config(tmp_path / "wav2vec", model_type="wav2vec2")
    for identifier in (str(other), str(tmp_path / "missing"), "no-such-org/no-such-model",
                       "//pretrained/x", "", "a b/c"):
        assert plugin.claim_identifier(identifier) is None
    assert find_config(str(other))["model_type"] == "wav2vec2"
    with pytest.raises(audiotok.UnknownTokenizerError):
        audiotok.resolve(str(other))
    broken = _write_config(tmp_path / "broken", codebook_size=1000)
    with pytest.raises(audiotok.CheckpointError, match="power of 2"):
        audiotok.resolve(str(broken))


def test_claims_cached_hub_repo_offline(tmp_path):
    """A repo id found in the Hugging Face cache is claimed with its config's facts, offline."""
    snapshot = tmp_path / "models--someone--tiny-encodec" / "snapshots" / ("a" * 40)
    _write_config(snapshot, sampling_rate=16000, audio_channels=1, upsampling_ratios=[8, 5, 4],
                  target_bandwidths=[4.0, 8.0], chunk_length_s=None, overlap=None,
                  normalize=False)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("a" * 40)
    code = ("import audiotok; s = audiotok.resolve('someone/tiny-encodec'); "
            "print(s.name, s.sample_rate, s.frame_rate, s.num_codebooks, s.codebook_choices)")
    env = {**__import__("os").environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.stdout.split() == ["someone--tiny-encodec", "16000", "100.0", "8", "(4,", "8)"], \
        out.stdout + out.stderr


def test_claims_never_raise_for_junk():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for junk in ("x" * 5000, "\x00/\x00", "../..", "https://example.com/a"):
            assert find_config(junk) is None
