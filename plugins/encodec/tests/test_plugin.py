"""Registry integration, conformance suite, identifiers and refused checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import audiotok
import audiotok.testing
from audiotok import CheckpointError
from audiotok_encodec import plugin


def test_listing_and_resolving_names_stay_light():
    code = (
        "import sys, audiotok\n"
        "names = {s.name for s in audiotok.list_tokenizers()}\n"
        "assert {'encodec_24khz', 'encodec_48khz', 'encodec_32khz', 'audiogen_16khz'} <= names\n"
        "assert audiotok.resolve('musicgen_32khz').name == 'encodec_32khz'\n"
        "assert audiotok.resolve('facebook/musicgen-small').options == "
        "{'source': 'facebook/musicgen-small'}\n"
        "assert audiotok.resolve('//pretrained/encodec_24khz').name == 'encodec_24khz'\n"
        "heavy = {'torch', 'encodec', 'transformers', 'audiotok_encodec.loading'}\n"
        "heavy &= set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "identifier",
    [
        "dac_44khz",
        "facebook/encodec_24khz",
        "/no/such/file.bin",
        "owner/some-model",
        "",
        "C:\\x.th",
        "a\x00b.bin",
        "x" * 5000 + ".th",
    ],
)
def test_foreign_identifiers_are_not_claimed(identifier):
    assert plugin.claim_identifier(identifier) is None


def test_unrelated_files_are_not_claimed(tmp_path):
    text = tmp_path / "notes.bin"
    text.write_text("hello")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    assert plugin.claim_identifier(str(text)) is None
    assert plugin.claim_identifier(str(other)) is None


def test_static_facts_match_loaded_models(release_24k, release_48k, musicgen_32k):
    for name, path in [
        ("encodec_24khz", release_24k[1]),
        ("encodec_48khz", release_48k[1]),
        ("encodec_32khz", musicgen_32k[1]),
    ]:
        tok = audiotok.load(name, checkpoint=path)  # audiotok checks the spec against the model
        audiotok.testing.check_static_facts(tok)
        assert tok.hop_length == tok.sample_rate // int(tok.frame_rate)


def test_release_file_is_claimed_by_path(release_24k):
    spec = audiotok.resolve(str(release_24k[1]))
    assert spec.name == "encodec_24khz" and spec.options["checkpoint"] == str(release_24k[1])


@pytest.mark.parametrize("which", ["release_24k", "release_48k", "musicgen_32k"])
def test_conformance(which, request):
    _, path = request.getfixturevalue(which)
    tok = audiotok.load(str(path))
    audiotok.testing.check_tokenizer(tok, max_examples=4, max_frames=5, max_batch=2)


def test_conformance_renormalized_audiocraft_model(make_small):
    _, path = make_small(renormalize=True, channels=2, norm="time_group_norm")
    tok = audiotok.load(str(path))
    assert tok.uses_scale
    audiotok.testing.check_tokenizer(tok, max_examples=6, max_frames=8)


def test_pointer_exports(musicgen_32k, tmp_path, audio):
    _, path = musicgen_32k
    pointer = tmp_path / "compression_state_dict.bin"
    torch.save(
        {"pretrained": f"//pretrained/{path}", "exported": True, "version": "1.3.0"}, pointer
    )
    spec = audiotok.resolve(str(tmp_path))
    assert (spec.sample_rate, spec.cardinality, spec.num_codebooks) == (32000, 2048, 4)
    wav = audio(1, 1, 2000, 32000, seed=20)
    with torch.no_grad():
        assert torch.equal(
            audiotok.load(str(tmp_path)).encode(wav)[0], audiotok.load(str(path)).encode(wav)[0]
        )


def test_pointer_to_release_and_offline_cache(tmp_path, monkeypatch):
    pointer = tmp_path / "compression_state_dict.bin"
    torch.save({"pretrained": "encodec_24khz", "exported": True, "version": "1.3.0"}, pointer)
    assert audiotok.resolve(str(pointer)).name == "encodec_24khz"
    monkeypatch.setenv("AUDIOTOK_ENCODEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="encodec_24khz-d7cc33bc.th.*downloads are off"):
        audiotok.load(str(pointer))


def test_hub_repo_offline_and_not_cached_names_the_fix(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE is read when loading (not when huggingface_hub was imported)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = str(tmp_path / "hub")  # empty
    with pytest.raises(CheckpointError, match=r"facebook/musicgen-small: .*downloads are off"
                       r".*hf download facebook/musicgen-small compression_state_dict\.bin"):
        audiotok.load("//pretrained/facebook/musicgen-small", cache_dir=cache)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(CheckpointError, match="downloads are off"):  # the option, same
        audiotok.load("//pretrained/facebook/musicgen-small", cache_dir=cache, offline=True)


def test_release_hash_in_file_name_is_checked(release_24k, tmp_path):
    bad = tmp_path / "encodec_24khz-d7cc33bc.th"
    bad.write_bytes(release_24k[1].read_bytes())
    with pytest.raises(CheckpointError, match=r"encodec_24khz-d7cc33bc\.th.*sha256"):
        audiotok.load("encodec_24khz", checkpoint=bad)
    renamed = tmp_path / "my_copy.th"  # any other name: no hash to check
    renamed.write_bytes(release_24k[1].read_bytes())
    assert audiotok.load("encodec_24khz", checkpoint=renamed).total_codebooks == 32


def test_wrong_architecture_is_refused(release_24k, release_48k, musicgen_32k):
    with pytest.raises(CheckpointError, match=f"{release_48k[1].name}.*not a encodec_24khz"):
        audiotok.load("encodec_24khz", checkpoint=release_48k[1])
    with pytest.raises(CheckpointError, match=f"{release_24k[1].name}.*not a encodec_48khz"):
        audiotok.load("encodec_48khz", checkpoint=release_24k[1])
    with pytest.raises(CheckpointError, match="compression_state_dict.bin.*not encodec_24khz"):
        audiotok.load("encodec_24khz", checkpoint=musicgen_32k[1])
    with pytest.raises(CheckpointError, match=f"{release_24k[1].name}.*not encodec_32khz"):
        audiotok.load("encodec_32khz", checkpoint=release_24k[1])


def test_corrupt_and_truncated_files_are_refused(make_small, tmp_path):
    _, path = make_small()
    corrupt = tmp_path / "corrupt" / "compression_state_dict.bin"
    corrupt.parent.mkdir()
    corrupt.write_bytes(os.urandom(5000))
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for bad in (corrupt, truncated):
        with pytest.raises(CheckpointError, match=rf"{bad.name}: corrupt or truncated"):
            audiotok.load("encodec_32khz", checkpoint=bad)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        audiotok.resolve(str(corrupt.parent))  # our file name: the claim reports the problem


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    _Evil.marker = tmp_path / "pwned"
    path = tmp_path / "compression_state_dict.bin"
    torch.save({"best_state": {}, "xp.cfg": "", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match=r"compression_state_dict\.bin: refused"):
        audiotok.load(str(path))
    with pytest.raises(CheckpointError, match="refused"):
        audiotok.load("encodec_24khz", checkpoint=path)
    assert not _Evil.marker.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (("norm: weight_norm", "norm: spectral_norm"), "norm='spectral_norm'"),
        (("compression_model: encodec", "compression_model: dac"), "compression_model='dac'"),
        (("quantizer: rvq", "quantizer: no_quant"), "no_quant"),
        (("n_q: 3", "n_q: 5"), "missing"),
        (("bins: 64", "bins: 128"), "shape"),
        (("ratios:", "new_option: 1\n  ratios:"), "new_option"),
        (("channels: ${channels}", "channels: ${model.channels}"), "cannot be resolved"),
    ],
)
def test_unsupported_or_mismatched_configs_are_refused(make_small, tmp_path, edit, message):
    _, path = make_small()
    package = torch.load(path, weights_only=True)
    assert edit[0] in package["xp.cfg"]
    package["xp.cfg"] = package["xp.cfg"].replace(edit[0], edit[1], 1)
    bad = tmp_path / "edited.bin"
    torch.save(package, bad)
    with pytest.raises(
        CheckpointError, match=rf"edited\.bin: .*{__import__('re').escape(message)}"
    ):
        audiotok.load(str(bad))


def test_bandwidth_and_codebook_selection(release_24k):
    tok = audiotok.load("encodec_24khz", checkpoint=release_24k[1], bandwidth=3.0)
    assert tok.num_codebooks == 4 and tok.bitrate == 3000.0
    tok.set_num_codebooks(7)  # AudioCraft semantics: any K in 1..n_q
    assert tok.num_codebooks == 7
    with pytest.raises(audiotok.InvalidCodesError):
        tok.set_num_codebooks(33)


def test_scale_is_required_and_checked(release_48k):
    tok = audiotok.load("encodec_48khz", checkpoint=release_48k[1])
    codes = torch.zeros(1, 16, 10, dtype=torch.long)
    with pytest.raises(audiotok.InvalidCodesError, match="scale"):
        tok.decode(codes)
    with pytest.raises(audiotok.InvalidCodesError, match="segments"):
        tok.decode(codes, torch.ones(1, 3))
    with pytest.raises(audiotok.InvalidCodesError, match="B = 1"):
        tok.decode(codes, torch.ones(2, 1))


def test_missing_local_source_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        audiotok.load("encodec_32khz", checkpoint=tmp_path / "nothing.bin")


def test_weight_norm_is_folded(release_24k):
    tok = audiotok.load("encodec_24khz", checkpoint=release_24k[1])
    keys = list(tok.state_dict())
    assert not any("weight_g" in k or "weight_v" in k or "parametrizations" in k for k in keys)
    assert Path(release_24k[1]).name.startswith("encodec_24khz-")


@pytest.mark.parametrize("which", ["release_24k", "release_48k", "musicgen_32k"])
def test_determinism_across_batch_threads_and_modes(which, request):
    _, path = request.getfixturevalue(which)
    audiotok.testing.check_determinism(audiotok.load(str(path)), seconds=0.1)
