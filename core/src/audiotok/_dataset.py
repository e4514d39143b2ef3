"""Token datasets on disk: the layout ``audiotok tokenize`` writes and :class:`TokenDataset` reads.

A dataset folder holds::

    meta.json                 tokenizer identifier, plugin and version, rates, K, card, channels
    shards/NAME.safetensors   "codes" uint16 [K, total_frames] (items concatenated on frames),
                              "scale" float32 [n] when the tokenizer returns scales
    index/NAME.jsonl          one JSON row per input of that shard: id, source, num_samples,
                              num_frames, shard, offset (+ scale_offset, scale_shape), or
                              id, source, error for an input that could not be tokenized
    failures.jsonl            every failed input with its reason (rewritten after each run)

A shard is committed when its index part exists: both files are written beside and renamed, the
shard first. Everything is readable with ``json`` and ``safetensors.numpy`` alone.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch.utils.data

from ._errors import CheckpointError

DATASET_FORMAT = "audiotok.dataset"
DATASET_VERSION = 1
META = "meta.json"
SHARDS = "shards"
INDEX = "index"
FAILURES = "failures.jsonl"


def read_index(root: Path) -> Iterator[dict[str, Any]]:
    """All committed index rows of a dataset folder, in shard-name order."""
    index_dir = root / INDEX
    if not index_dir.is_dir():
        return
    for part in sorted(index_dir.glob("*.jsonl")):
        try:
            lines = part.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{part}: cannot read index ({exc})") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{part}:{number}: corrupt index row ({exc})") from exc
            problem = _row_problem(row)
            if problem:
                raise CheckpointError(f"{part}:{number}: bad index row ({problem})")
            yield row


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _row_problem(row: Any) -> str | None:
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        return "no id"
    if not isinstance(row.get("source", ""), str):
        return "source must be a string"
    if "error" in row:
        return None if isinstance(row["error"], str) else "error must be a string"
    for key in ("num_samples", "num_frames", "offset"):
        if not _is_count(row.get(key)):
            return f"{key} must be a non-negative integer"
    shard = row.get("shard")
    if not isinstance(shard, str) or not shard.startswith(f"{SHARDS}/") or ".." in shard \
            or "\\" in shard or shard.count("/") != 1:
        return f"shard must be '{SHARDS}/NAME', got {shard!r}"
    if "scale_offset" in row:
        shape = row.get("scale_shape")
        if not _is_count(row["scale_offset"]) or not isinstance(shape, list) or \
                not all(_is_count(s) for s in shape):
            return "bad scale_offset / scale_shape"
    return None


def latest_rows(root: Path) -> dict[str, dict[str, Any]]:
    """One row per input id: a success supersedes a recorded failure."""
    rows: dict[str, dict[str, Any]] = {}
    for row in read_index(root):
        previous = rows.get(row["id"])
        if previous is None or ("error" in previous and "error" not in row):
            rows[row["id"]] = row
    return rows


def read_meta(root: Path) -> dict[str, Any]:
    """The dataset's ``meta.json``; CheckpointError if missing or not an audiotok dataset."""
    path = root / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{root}: not an audiotok token dataset (no {META})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable dataset metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
        raise CheckpointError(f"{path}: not an audiotok dataset metadata file")
    if meta.get("format_version") != DATASET_VERSION:
        raise CheckpointError(f"{path}: dataset format version {meta.get('format_version')!r} "
                              f"is not supported (this audiotok reads {DATASET_VERSION})")
    for key in ("sample_rate", "num_codebooks", "cardinality", "channels"):
        if not _is_count(meta.get(key)) or meta[key] < 1:
            raise CheckpointError(f"{path}: {key} must be a positive integer")
    if not isinstance(meta.get("tokenizer"), str) or not isinstance(meta.get("frame_rate"),
                                                                    (int, float)):
        raise CheckpointError(f"{path}: tokenizer / frame_rate missing")
    return meta


class TokenDataset(torch.utils.data.Dataset):
    """A tokenized dataset folder as a ``torch.utils.data.Dataset``.

    Item ``i`` is a dict with ``id``, ``source``, ``codes`` (int64 ``[K, F]``), ``num_samples``,
    ``num_frames`` and ``scale`` (a float32 tensor, or None). Shards are memory-mapped; only the
    requested slice is read. ``meta`` holds the dataset metadata (tokenizer, rates, K, card).

    >>> ds = TokenDataset("tokens/")            # doctest: +SKIP
    >>> ds[0]["codes"].shape                    # doctest: +SKIP
    torch.Size([4, 1500])
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        rows = latest_rows(self.root)
        self.items = sorted((r for r in rows.values() if "error" not in r), key=lambda r: r["id"])
        self.failures = sorted((r for r in rows.values() if "error" in r), key=lambda r: r["id"])
        self._by_id = {row["id"]: i for i, row in enumerate(self.items)}
        self._handles: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.items)

    def index_of(self, item_id: str) -> int:
        """Position of the item with this id (KeyError if absent)."""
        return self._by_id[item_id]

    def _open(self, shard: str) -> Any:
        handle = self._handles.get(shard)
        if handle is None:
            from safetensors import safe_open

            path = self.root / shard
            try:
                handle = safe_open(str(path), framework="numpy")
            except Exception as exc:
                raise CheckpointError(f"{path}: unreadable shard ({exc})") from exc
            self._handles[shard] = handle
        return handle

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.items[i]
        handle = self._open(row["shard"])
        start, frames = int(row["offset"]), int(row["num_frames"])
        try:
            codes = handle.get_slice("codes")[:, start:start + frames]
            scale = None
            if "scale_offset" in row:
                shape = [int(s) for s in row["scale_shape"]]
                begin, count = int(row["scale_offset"]), math.prod(shape)
                flat = handle.get_slice("scale")[begin:begin + count]
                scale = torch.from_numpy(flat.reshape(shape).copy())
        except Exception as exc:
            raise CheckpointError(f"{self.root / row['shard']}: cannot read item {row['id']!r} "
                                  f"({exc})") from exc
        if codes.ndim != 2 or codes.shape[-1] != frames or codes.dtype.kind not in "iu":
            raise CheckpointError(f"{self.root / row['shard']}: item {row['id']!r} is truncated "
                                  "or not integer codes")
        if codes.size and int(codes.max()) >= self.meta["cardinality"]:
            raise CheckpointError(f"{self.root / row['shard']}: item {row['id']!r} has codes "
                                  f"out of range [0, {self.meta['cardinality']})")
        return {"id": row["id"], "source": row["source"], "num_samples": int(row["num_samples"]),
                "num_frames": frames, "codes": torch.from_numpy(codes.astype("int64")),
                "scale": scale}

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state
