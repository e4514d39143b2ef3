"""Registration, path claims, the download cache, and every way a checkpoint is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import audiotok
from audiotok import CheckpointError, UnknownTokenizerError

_LIGHT = """
import json, sys
import audiotok
names = [s.name for s in audiotok.list_tokenizers("dac*")]
spec = audiotok.resolve(sys.argv[1]) if len(sys.argv) > 1 else None
heavy = sorted(m for m in ("torch", "dac", "audiotools", "audiotok_dac.tokenizer")
               if m in sys.modules)
print(json.dumps({"names": names, "heavy": heavy,
                  "spec": spec.to_dict() if spec else None}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_listing_and_claiming_import_neither_torch_nor_dac(small):
    _, path = small
    result = _run(_LIGHT, str(path))
    assert result["names"] == ["dac_16khz", "dac_24khz", "dac_44khz", "dac_44khz_16kbps"]
    assert result["heavy"] == []
    spec = result["spec"]
    assert (spec["plugin"], spec["name"], spec["sample_rate"], spec["hop_length"],
            spec["num_codebooks"], spec["cardinality"]) == ("dac", "small.pth", 16000, 320, 12,
                                                            1024)


def test_loading_never_imports_dac(small):
    _, path = small
    code = f"""
import json, sys, torch, audiotok
tok = audiotok.load({str(path)!r})
codes, _ = tok.encode(torch.zeros(1, 1, 700))
print(json.dumps({{"shape": list(codes.shape),
                   "heavy": [m for m in ("dac", "audiotools") if m in sys.modules]}}))
"""
    assert _run(code) == {"shape": [1, 12, 3], "heavy": []}


def test_foreign_identifiers_are_not_claimed(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    for identifier in (str(junk), str(tmp_path / "absent.pth"), "dac_99khz", str(tmp_path)):
        with pytest.raises(UnknownTokenizerError):
            audiotok.resolve(identifier)


def test_static_facts_of_the_registered_models():
    from audiotok_dac.plugin import SPECS
    from audiotok_dac.releases import RELEASES

    assert set(RELEASES) == {s.name for s in SPECS}
    facts = {s.name: (s.sample_rate, s.hop_length, s.frame_rate, s.num_codebooks, s.cardinality)
             for s in audiotok.list_tokenizers("dac*")}
    assert facts == {
        "dac_44khz": (44100, 512, 44100 / 512, 9, 1024),
        "dac_24khz": (24000, 320, 75.0, 32, 1024),
        "dac_16khz": (16000, 320, 50.0, 12, 1024),
        "dac_44khz_16kbps": (44100, 512, 44100 / 512, 18, 1024),
    }
    assert audiotok.resolve("dac_44khz_8kbps").name == "dac_44khz"


def test_set_num_codebooks_range(small):
    _, path = small
    tok = audiotok.load(str(path))
    assert tok.allowed_num_codebooks == tuple(range(1, 13))
    tok.set_num_codebooks(5)
    assert tok.num_codebooks == 5 and tok.bitrate == 5 * 10 * 50
    for bad in (0, 13, 2.0, True):
        with pytest.raises(audiotok.InvalidCodesError):
            tok.set_num_codebooks(bad)
    assert tok.num_codebooks == 5


def test_cached_release_is_used_and_offline_mode_refuses_to_download(reference, tmp_path,
                                                                     monkeypatch, noise):
    _, path = reference("dac_16khz")
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    with pytest.raises(CheckpointError, match=r"weights_16khz_8kbps_0\.0\.5\.pth.*"
                                              r"releases/download/0\.0\.5/weights_16khz\.pth"):
        audiotok.load("dac_16khz", cache_dir=cache)
    monkeypatch.delenv("AUDIOTOK_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Hub's switch turns every download off too
    with pytest.raises(CheckpointError, match="not in the cache and downloads are off"):
        audiotok.load("dac_16khz", cache_dir=cache)
    (cache / "weights_16khz_8kbps_0.0.5.pth").symlink_to(path)
    tok = audiotok.load("dac_16khz", cache_dir=cache)
    monkeypatch.setenv("AUDIOTOK_DAC_CACHE", str(cache))
    same = audiotok.load("dac_16khz")
    wav = noise(1, 900)
    with torch.no_grad():
        assert torch.equal(tok.encode(wav)[0], same.encode(wav)[0])


def test_new_style_weight_norm_keys_are_accepted(small, tmp_path, noise):
    ref, path = small
    blob = torch.load(path, weights_only=True)
    blob["state_dict"] = {
        k.replace(".weight_g", ".parametrizations.weight.original0")
         .replace(".weight_v", ".parametrizations.weight.original1"): v
        for k, v in blob["state_dict"].items()}
    renamed = tmp_path / "renamed.pth"
    torch.save(blob, renamed)
    wav = noise(1, 1000)
    with torch.no_grad():
        assert torch.equal(audiotok.load(str(renamed)).encode(wav)[0],
                           audiotok.load(str(path)).encode(wav)[0])


# -- refusals ----------------------------------------------------------------------------------
def _resave(path: Path, target: Path, edit) -> Path:
    blob = torch.load(path, weights_only=True)
    edit(blob)
    torch.save(blob, target)
    return target


def test_truncated_state_dict_is_refused_naming_the_keys(small, tmp_path):
    _, path = small
    bad = _resave(path, tmp_path / "truncated.pth",
                  lambda b: b["state_dict"].pop("decoder.model.6.weight_v"))
    for load in (lambda: audiotok.load(str(bad)),
                 lambda: audiotok.load("dac_16khz", checkpoint=bad)):
        with pytest.raises(CheckpointError, match=r"truncated\.pth.*missing 1 key.*"
                                                  r"decoder\.model\.6\.weight_v"):
            load()


def test_unexpected_keys_are_refused(small, tmp_path):
    _, path = small
    bad = _resave(path, tmp_path / "extra.pth",
                  lambda b: b["state_dict"].__setitem__("encoder.extra", torch.zeros(1)))
    with pytest.raises(CheckpointError, match=r"extra\.pth.*unexpected 1 key.*encoder\.extra"):
        audiotok.load(str(bad))


def test_truncated_file_is_refused(small, tmp_path):
    _, path = small
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pth"):
        audiotok.load("dac_16khz", checkpoint=cut)


def test_wrong_architecture_is_refused(reference, small, tmp_path):
    _, path = small
    # Metadata of a 44.1 kHz model over the weights of a 16 kHz one: keys and shapes disagree.
    liar = _resave(path, tmp_path / "liar.pth",
                   lambda b: b["metadata"]["kwargs"].update(encoder_rates=[2, 4, 8, 8],
                                                            decoder_rates=[8, 8, 4, 2]))
    with pytest.raises(CheckpointError, match=r"liar\.pth.*shapes do not match"):
        audiotok.load(str(liar))
    narrow = _resave(path, tmp_path / "narrow.pth",
                     lambda b: b["metadata"]["kwargs"].update(n_codebooks=9))
    with pytest.raises(CheckpointError,
                       match=r"narrow\.pth.*unexpected 21 key.*quantizer\.quantizers\.10\."):
        audiotok.load(str(narrow))
    # A real DAC, but not the one the name asks for.
    with pytest.raises(CheckpointError, match=r"small\.pth.*does not fit dac_24khz.*"
                                              r"sample_rate 16000 \(expected 24000\)"):
        audiotok.load("dac_24khz", checkpoint=path)
    # Not DAC's layout at all (a bare state dict).
    bare = tmp_path / "bare.pth"
    torch.save(torch.load(path, weights_only=True)["state_dict"], bare)
    with pytest.raises(CheckpointError, match=r"bare\.pth.*not a DAC checkpoint"):
        audiotok.load("dac_16khz", checkpoint=bare)
    with pytest.raises(UnknownTokenizerError):  # not claimed: it is not in DAC's layout
        audiotok.load(str(bare))


class _Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_that_would_execute_code_is_refused(small, tmp_path):
    _, path = small
    marker = tmp_path / "pwned"
    blob = torch.load(path, weights_only=True)
    blob["metadata"]["payload"] = _Payload(marker)
    evil = tmp_path / "evil.pth"
    torch.save(blob, evil)
    for load in (lambda: audiotok.load(str(evil)),  # claimed by path, refused by the factory
                 lambda: audiotok.load("dac_16khz", checkpoint=evil)):
        with pytest.raises(CheckpointError, match=r"evil\.pth.*refused"):
            load()
    assert not marker.exists()


def test_torch_package_archive_gets_a_hint(small, tmp_path):
    ref, _ = small
    packaged = tmp_path / "packaged.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.save(str(packaged))  # DAC.save's default: a torch.package archive
    assert zipfile.is_zipfile(packaged)
    with pytest.raises(CheckpointError, match=r"packaged\.pth.*package=False"):
        audiotok.load("dac_16khz", checkpoint=packaged)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.pth"):
        audiotok.load("dac_16khz", checkpoint=tmp_path / "nothing.pth")
    assert not os.path.exists(tmp_path / "nothing.pth")


def test_weight_norm_cache_follows_the_weights(small, tmp_path, noise):
    """Folded weights are cached between calls, but never outlive a change of the weights."""
    _, path = small
    tok = audiotok.load(str(path))
    blob = torch.load(path, weights_only=True)
    torch.manual_seed(1)
    for key, value in blob["state_dict"].items():
        if key.endswith(("weight_v", "codebook.weight")):
            value.normal_()
    torch.save(blob, tmp_path / "other.pth")
    wav = noise(1, 1200)
    with torch.no_grad():
        before = tok.encode(wav)[0]
        tok.model.load_state_dict(blob["state_dict"])
        after = tok.encode(wav)[0]
        fresh = audiotok.load(str(tmp_path / "other.pth")).encode(wav)[0]
    assert not torch.equal(before, after) and torch.equal(after, fresh)
