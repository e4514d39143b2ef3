"""Nothing executes from any file core reads; fuzzed dataset metadata and indexes fail cleanly."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiotok
from audiotok import CheckpointError

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "audiotok-pwned-core"


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def malicious_pickle() -> bytes:
    return pickle.dumps({"codes": Exploit()})


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a file executed code"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    (root / "in").mkdir()
    for i in range(3):
        sf.write(str(root / "in" / f"{i}.wav"), np.zeros((800 + 100 * i, 1), "float32"), 16000)
    audiotok.tokenize(root / "in", "mulaw", root / "out", workers=0)
    return root / "out"


def test_pickled_token_file_is_refused(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(malicious_pickle())
    with pytest.raises(CheckpointError, match="evil.safetensors"):
        audiotok.load_tokens(path)
    torch.save({"codes": Exploit()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt"):
        audiotok.load_tokens(tmp_path / "evil.pt")


def test_pickled_dataset_files_are_refused(tmp_path, dataset):
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    shard = next((copy / "shards").glob("*.safetensors"))
    shard.write_bytes(malicious_pickle())
    ds = audiotok.TokenDataset(copy)
    with pytest.raises(CheckpointError, match=shard.name):
        for i in range(len(ds)):
            ds[i]
    index = next((copy / "index").glob("*.jsonl"))
    index.write_bytes(malicious_pickle())
    with pytest.raises(CheckpointError, match=index.name):
        audiotok.TokenDataset(copy)
    (copy / "meta.json").write_bytes(malicious_pickle())
    with pytest.raises(CheckpointError, match="meta.json"):
        audiotok.TokenDataset(copy)


def test_index_rows_cannot_escape_the_dataset(tmp_path, dataset):
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    index = next((copy / "index").glob("*.jsonl"))
    row = json.loads(index.read_text().splitlines()[0])
    for shard in ("../../etc/passwd", "/etc/passwd", "shards/../../x.safetensors"):
        index.write_text(json.dumps({**row, "shard": shard}) + "\n")
        with pytest.raises(CheckpointError, match="shard must be"):
            audiotok.TokenDataset(copy)


def _mutate(data: st.DataObject, blob: bytes) -> bytes:
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 6))):
        if not out:
            break
        i = data.draw(st.integers(0, len(out) - 1))
        out[i] = data.draw(st.integers(0, 255))
    return bytes(out[: data.draw(st.integers(0, len(out)))])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), target=st.sampled_from(["meta", "index", "shard"]))
def test_fuzzed_dataset_files_only_raise_audiotok_errors(tmp_path_factory, dataset, data, target):
    copy = tmp_path_factory.mktemp("fz") / "ds"
    shutil.copytree(dataset, copy)
    path = {"meta": copy / "meta.json",
            "index": next((copy / "index").glob("*.jsonl")),
            "shard": next((copy / "shards").glob("*.safetensors"))}[target]
    path.write_bytes(_mutate(data, path.read_bytes()))
    try:
        ds = audiotok.TokenDataset(copy)
        for i in range(len(ds)):
            item = ds[i]
            assert item["codes"].dtype == torch.int64
            assert item["codes"].numel() == 0 or int(item["codes"].max()) < ds.meta["cardinality"]
    except CheckpointError:
        pass


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_fuzzed_token_metadata_json(text):
    from audiotok._tokens import TokenMetadata

    try:
        TokenMetadata.from_json(text)
    except (ValueError, TypeError):
        pass
