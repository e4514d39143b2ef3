"""audiotok tokenize: exactness across batch sizes, resume after SIGKILL, failures, sharding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from cli_support import run
from tokenize_support import spec

import audiotok
from audiotok import _registry

TESTS = Path(__file__).parent


def make_collection(root: Path, n: int = 14, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    files = {}
    for i in range(n):
        sr = (16000, 22050, 44100, 8000)[i % 4]
        ext = ("wav", "flac", "ogg", "wav")[i % 4]
        seconds = rng.choice([0.01, 0.05, 0.05, 0.2, 0.31]) if i % 5 else 0.05
        x = 0.4 * rng.standard_normal((max(1, int(sr * seconds)), 1 + i % 2))
        rel = f"{'deep/er/' if i % 3 == 0 else ''}clip{i:02d}.{ext}"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), x.clip(-1, 1).astype("float32"), sr)
        files[rel] = path
    (root / "README.txt").write_text("not audio")
    return files


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setenv("AUDIOTOK_LOAD_PLUGINS", "")
    _registry._reset()
    audiotok.register(spec("peak_mulaw", "load_peak"))
    audiotok.register(spec("slow_mulaw", "load_slow"))
    yield
    _registry._reset()


def assert_exact(out: Path, files: dict[str, Path], name: str) -> None:
    tok = audiotok.load(name)
    ds = audiotok.TokenDataset(out)
    assert sorted(r["id"] for r in ds.items) == sorted(files)
    for i in range(len(ds)):
        item = ds[i]
        wav = audiotok.read_audio(files[item["id"]], sample_rate=16000, channels=1)
        expected, _ = tok.encode(wav[None])
        assert item["codes"].dtype == torch.int64
        assert torch.equal(item["codes"], expected[0]), item["id"]
        assert item["num_samples"] == wav.shape[-1]


@pytest.mark.parametrize("name", ["mulaw_16khz", "peak_mulaw"])
@pytest.mark.parametrize("batch_size,shard_size,workers", [(1, 3, 0), (4, 5, 2), (16, 256, 1)])
def test_codes_equal_single_file_encoding(tmp_path, registry, name, batch_size, shard_size,
                                          workers):
    files = make_collection(tmp_path / "in")
    summary = audiotok.tokenize(tmp_path / "in", name, tmp_path / "out", batch_size=batch_size,
                                shard_size=shard_size, workers=workers)
    assert summary.ok and summary.encoded == len(files) and summary.total == len(files)
    assert_exact(tmp_path / "out", files, name)


def test_padding_would_change_codes_of_the_non_invariant_tokenizer(registry):
    tok = audiotok.load("peak_mulaw")
    short = torch.rand(1, 1, 50) * 0.2
    alone, _ = tok.encode(short)
    padded, _ = tok.encode(torch.nn.functional.pad(short, (0, 30)))
    assert not torch.equal(alone, padded[..., :50])  # so the exactness test above can fail


def test_long_files_use_exact_chunking(tmp_path, registry):
    files = make_collection(tmp_path / "in", n=4)
    summary = audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", chunk_seconds=0.003,
                                workers=0)
    assert summary.ok
    assert_exact(tmp_path / "out", files, "mulaw_16khz")


def test_failures_are_recorded_and_the_run_goes_on(tmp_path, registry):
    files = make_collection(tmp_path / "in", n=5)
    (tmp_path / "in" / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    sf.write(str(tmp_path / "in" / "empty.flac"), np.zeros((0, 1), "float32"), 16000)
    summary = audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", workers=0)
    assert summary.encoded == 5 and summary.failed == 2 and not summary.ok
    assert "failures.jsonl" in str(summary)
    failures = [json.loads(line) for line in (tmp_path / "out" / "failures.jsonl").open()]
    assert {f["id"] for f in failures} == {"corrupt.wav", "empty.flac"}
    assert all(f["error"] for f in failures)
    assert_exact(tmp_path / "out", files, "mulaw_16khz")
    again = audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", workers=0)
    assert again.skipped == 7 and again.encoded == 0 and again.failed == 2
    (tmp_path / "in" / "corrupt.wav").unlink()
    sf.write(str(tmp_path / "in" / "corrupt.wav"), np.zeros((100, 1), "float32"), 16000)
    fixed = audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", retry_failed=True,
                              workers=0)
    assert fixed.encoded == 2 - 1 and fixed.failed == 1
    ids = [r["id"] for r in audiotok.TokenDataset(tmp_path / "out").items]
    assert len(ids) == len(set(ids)) == 6


def test_manifests_and_shard_split(tmp_path, registry):
    files = make_collection(tmp_path / "in", n=9)
    (tmp_path / "list.txt").write_text("# comment\n" + "\n".join(
        f"in/{rel}" for rel in sorted(files)) + "\n")
    (tmp_path / "list.jsonl").write_text("".join(
        json.dumps({"id": f"item{i}", "path": str(p)}) + "\n"
        for i, p in enumerate(files.values())))
    ids = set()
    for index in range(3):
        s = audiotok.tokenize(tmp_path / "list.txt", "mulaw", tmp_path / "out", workers=0,
                              shard_index=index, num_shards=3)
        assert s.ok
        ids |= {r["id"] for r in audiotok.TokenDataset(tmp_path / "out").items}
    assert ids == {f"in/{rel}" for rel in files}
    assert len(audiotok.TokenDataset(tmp_path / "out")) == 9
    audiotok.tokenize(tmp_path / "list.jsonl", "mulaw", tmp_path / "out2", workers=0)
    assert len(audiotok.TokenDataset(tmp_path / "out2")) == 9


def test_output_of_another_tokenizer_is_refused(tmp_path, registry):
    make_collection(tmp_path / "in", n=2)
    audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", workers=0)
    with pytest.raises(audiotok.AudiotokError, match="made differently"):
        audiotok.tokenize(tmp_path / "in", "peak_mulaw", tmp_path / "out", workers=0)


def test_dataset_is_readable_without_audiotok(tmp_path, registry):
    make_collection(tmp_path / "in", n=3)
    audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", workers=0)
    from safetensors.numpy import load_file
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["cardinality"] == 256 and meta["codes_dtype"] == "uint16"
    for part in (tmp_path / "out" / "index").glob("*.jsonl"):
        for row in map(json.loads, part.read_text().splitlines()):
            codes = load_file(str(tmp_path / "out" / row["shard"]))["codes"]
            assert codes.dtype == np.uint16
            assert codes[:, row["offset"]:row["offset"] + row["num_frames"]].shape[1] == \
                row["num_frames"]


SCRIPT = """
import sys, audiotok
sys.path.insert(0, {tests!r})
from tokenize_support import spec
audiotok.register(spec("slow_mulaw", "load_slow"))
s = audiotok.tokenize({src!r}, "slow_mulaw", {out!r}, batch_size=2, shard_size=2, workers=1)
print(s)
sys.exit(0 if s.ok else 1)
"""


def test_sigkill_at_any_moment_then_resume(tmp_path, registry):
    files = make_collection(tmp_path / "in", n=16, seed=3)
    out = tmp_path / "out"
    script = SCRIPT.format(tests=str(TESTS), src=str(tmp_path / "in"), out=str(out))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOTOK_")}
    env.update(AUDIOTOK_LOAD_PLUGINS="", SLOW_SECONDS="0.2")
    progress = []
    for wanted in (1, 3, 5):  # kill once `wanted` shards are committed, mid-way through the next
        proc = subprocess.Popen([sys.executable, "-c", script], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while len(list((out / "index").glob("*.jsonl"))) < wanted and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        progress.append(sum(len(p.read_text().splitlines())
                            for p in (out / "index").glob("*.jsonl")))
    assert 0 < progress[0] < len(files), progress  # the kills really interrupted work
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for part in (out / "index").glob("*.jsonl")
            for line in part.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(files)  # exactly one entry per input
    committed = {p.stem for p in (out / "index").glob("*.jsonl")}
    assert {p.stem for p in (out / "shards").glob("*.safetensors")} <= committed
    assert not list(out.rglob(".*.tmp"))
    assert_exact(out, files, "slow_mulaw")


def test_cli_tokenize_and_decode_an_item(tmp_path):
    make_collection(tmp_path / "in", n=4)
    (tmp_path / "in" / "bad.mp3").write_bytes(b"ID3 nope")
    proc = run(["tokenize", str(tmp_path / "in"), "--tokenizer", "mulaw", "--out",
                str(tmp_path / "out"), "--workers", "0"])
    assert proc.returncode == 1
    assert "4 encoded" in proc.stderr and "1 failed" in proc.stderr
    assert "failures.jsonl" in proc.stderr and "Traceback" not in proc.stderr
    dec = run(["decode", str(tmp_path / "out"), "--item", "clip01.flac", "-o",
               str(tmp_path / "x.wav")])
    assert dec.returncode == 0, dec.stderr
    assert sf.info(str(tmp_path / "x.wav")).samplerate == 16000


def test_ray_backend_gives_the_same_dataset(tmp_path):
    pytest.importorskip("ray", reason="pip install 'audiotok[ray]'")
    files = make_collection(tmp_path / "in", n=6)
    proc = run(["tokenize", str(tmp_path / "in"), "--tokenizer", "mulaw", "--out",
                str(tmp_path / "out"), "--ray", "--workers", "2", "--shard-size", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(tmp_path / "out", files, "mulaw_16khz")
    local = audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "local", workers=0)
    assert local.ok
    ray_ds = audiotok.TokenDataset(tmp_path / "out")
    local_ds = audiotok.TokenDataset(tmp_path / "local")
    for a, b in zip(ray_ds.items, local_ds.items, strict=True):
        assert a["id"] == b["id"]
        assert torch.equal(ray_ds[ray_ds.index_of(a["id"])]["codes"],
                           local_ds[local_ds.index_of(b["id"])]["codes"])
    again = run(["tokenize", str(tmp_path / "in"), "--tokenizer", "mulaw", "--out",
                 str(tmp_path / "out"), "--ray"])
    assert again.returncode == 0 and "6 already done" in again.stderr


def test_progress_line_when_asked(tmp_path, registry, capsys):
    make_collection(tmp_path / "in", n=3)
    audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out", workers=0, progress=True)
    err = capsys.readouterr().err
    assert "3/3 files" in err and "audio-h/s" in err and "real time" in err
    audiotok.tokenize(tmp_path / "in", "mulaw", tmp_path / "out2", workers=0, progress=False)
    assert capsys.readouterr().err == ""
