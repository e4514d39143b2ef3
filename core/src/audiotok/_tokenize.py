"""``audiotok tokenize``: an audio collection -> a token dataset (exact, resumable, parallel).

Pipeline: list inputs -> keep this job's share (``shard_index``/``num_shards``) -> skip what is
committed -> probe lengths -> group similar lengths into shards and batches -> decode/resample in
DataLoader workers -> encode on the device -> commit each shard atomically from a writer thread.

Exactness: a batch only ever holds items of *identical* length, unless the tokenizer declares
``padding_invariant`` (right zero-padding leaves the codes of real frames unchanged, e.g. mu-law);
then similar lengths are padded together and each item is trimmed to ``frames_for_samples(T)``.
Long files go through ``tokenizer.encode_chunked`` when the tokenizer offers exact chunking;
otherwise they are encoded whole (memory grows with the file: see docs/tokenize.md).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._audio import AUDIO_EXTENSIONS, read_audio
from ._dataset import (
    DATASET_FORMAT,
    DATASET_VERSION,
    FAILURES,
    INDEX,
    META,
    SHARDS,
    latest_rows,
    read_meta,
)
from ._errors import AudiotokError, InvalidAudioError
from ._files import atomic_write
from ._protocol import AudioTokenizer
from ._tokens import codes_dtype, provenance

MANIFEST_SUFFIXES = (".txt", ".jsonl", ".lst", ".list")


@dataclass(frozen=True)
class Item:
    """One input: a stable id (path relative to the input folder) and its file."""

    id: str
    path: str


@dataclass
class TokenizeSummary:
    """What a run did: counts, audio duration, time, and where failures are recorded."""

    out: Path
    total: int = 0
    skipped: int = 0
    encoded: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    elapsed: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no input of this job is recorded as failed."""
        return self.failed == 0

    def __str__(self) -> str:
        speed = self.audio_seconds / self.elapsed if self.elapsed else 0.0
        text = (f"{self.encoded} encoded, {self.skipped} already done, {self.failed} failed of "
                f"{self.total} inputs; {self.audio_seconds / 3600:.3f} h of audio in "
                f"{self.elapsed:.1f} s ({speed:.1f} audio-s/s) -> {self.out}")
        if self.failed:
            text += f"\n{self.failed} input(s) failed: see {self.out / FAILURES}"
        return text


def list_inputs(source: str | os.PathLike[str]) -> list[Item]:
    """Inputs from a folder (recursive; wav/flac/ogg/mp3, other files ignored) or a manifest.

    A manifest is a text file of paths (one per line, ``#`` comments) or JSONL rows with
    ``path`` (and optionally ``id``); relative paths are relative to the manifest.
    """
    root = Path(source)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*")
                       if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        return [Item(p.relative_to(root).as_posix(), str(p)) for p in files]
    if not root.is_file():
        raise InvalidAudioError(f"{root}: no such folder or manifest")
    items, seen = [], set()
    for number, line in enumerate(root.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
                path, item_id = row["path"], row.get("id")
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidAudioError(f"{root}:{number}: bad manifest row ({exc})") from exc
        else:
            path, item_id = line, None
        full = Path(path) if Path(path).is_absolute() else root.parent / path
        item_id = str(item_id) if item_id is not None else str(path)
        if item_id in seen:
            raise InvalidAudioError(f"{root}:{number}: duplicate id {item_id!r}")
        seen.add(item_id)
        items.append(Item(item_id, str(full)))
    return items


def select_shard(items: Sequence[Item], shard_index: int, num_shards: int) -> list[Item]:
    """This job's deterministic share: items whose id hashes (crc32) to ``shard_index``."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise AudiotokError(f"need 0 <= shard_index < num_shards, got {shard_index}/{num_shards}")
    return [it for it in items if zlib.crc32(it.id.encode()) % num_shards == shard_index]


def dataset_meta(tok: AudioTokenizer) -> dict[str, Any]:
    """The ``meta.json`` content for a dataset made with ``tok``."""
    return {
        "format": DATASET_FORMAT, "format_version": DATASET_VERSION, **provenance(tok),
        "sample_rate": tok.sample_rate, "frame_rate": float(tok.frame_rate),
        "num_codebooks": tok.num_codebooks, "cardinality": tok.cardinality,
        "channels": tok.channels, "codes_dtype": codes_dtype(tok.cardinality),
    }


def prepare_output(out: Path, meta: dict[str, Any]) -> None:
    """Create the folder or check that it holds a dataset made the same way; drop uncommitted
    leftovers of an interrupted run (temporary files, shards without an index part)."""
    for sub in (SHARDS, INDEX):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if (out / META).exists():
        old = read_meta(out)
        keys = ("tokenizer", "sample_rate", "frame_rate", "num_codebooks", "cardinality",
                "channels")
        diff = [f"{k}: {old.get(k)!r} != {meta[k]!r}" for k in keys if old.get(k) != meta[k]]
        if diff:
            raise AudiotokError(f"{out} holds tokens made differently ({'; '.join(diff)}); "
                                "use another --out folder")
    else:
        atomic_write(out / META, (json.dumps(meta, indent=2) + "\n").encode())
    committed = {p.stem for p in (out / INDEX).glob("*.jsonl")}
    for leftover in [*(out / SHARDS).glob(".*.tmp"), *(out / INDEX).glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    for shard in (out / SHARDS).glob("*.safetensors"):
        if shard.stem not in committed:
            shard.unlink(missing_ok=True)


def probe_samples(item: Item, sample_rate: int) -> int:
    """Estimated number of samples at ``sample_rate`` from the file header (0 if unreadable)."""
    import soundfile

    try:
        info = soundfile.info(item.path)
        return int(info.frames * sample_rate / info.samplerate) if info.samplerate else 0
    except Exception:
        return 0


def plan_shards(items: Sequence[Item], lengths: Sequence[int], shard_size: int,
                batch_size: int) -> list[list[list[Item]]]:
    """Sort by length, cut into shards of ``shard_size`` items and batches of ``batch_size``."""
    order = sorted(range(len(items)), key=lambda i: (lengths[i], items[i].id))
    ranked = [items[i] for i in order]
    shards = [ranked[i:i + shard_size] for i in range(0, len(ranked), shard_size)]
    return [[s[j:j + batch_size] for j in range(0, len(s), batch_size)] for s in shards]


@dataclass
class _Batch:
    """One decoded batch: the items (with an error message where decoding failed) and the audio
    of the others concatenated along time, so a worker hands the main process one tensor (one
    shared-memory transfer) per batch instead of one per file."""

    entries: list[tuple[Item, str | None]]
    audio: torch.Tensor
    lengths: list[int]

    def __len__(self) -> int:
        return len(self.entries)

    def items(self) -> list[tuple[Item, torch.Tensor | None, str | None]]:
        """``(item, audio [C, T] or None, error or None)`` per item, audio as views."""
        wavs = iter(self.audio.split(self.lengths, dim=-1))
        return [(item, None if err else next(wavs), err) for item, err in self.entries]


class _ReadBatches(torch.utils.data.Dataset):
    """DataLoader dataset: element ``i`` is batch ``i`` decoded (errors kept per item)."""

    def __init__(self, batches: list[list[Item]], sample_rate: int, channels: int) -> None:
        self.batches, self.sample_rate, self.channels = batches, sample_rate, channels

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> _Batch:
        entries: list[tuple[Item, str | None]] = []
        wavs = []
        for item in self.batches[i]:
            try:
                wavs.append(read_audio(item.path, sample_rate=self.sample_rate,
                                       channels=self.channels))
                entries.append((item, None))
            except AudiotokError as exc:
                entries.append((item, str(exc)))
            except Exception as exc:  # a decoder crash must not stop the run
                entries.append((item, f"{type(exc).__name__}: {exc}"))
        audio = torch.cat(wavs, dim=-1) if wavs else torch.zeros(self.channels, 0)
        return _Batch(entries, audio, [w.shape[-1] for w in wavs])


def encode_items(
    tok: AudioTokenizer, wavs: Sequence[torch.Tensor], *, chunk_seconds: float | None = None
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Encode items so that each result equals ``tok.encode(wav[None])`` of that item alone.

    Returns ``(codes [K, F], scale or None)`` per item, in input order.
    """
    results: list[Any] = [None] * len(wavs)
    groups: dict[int, list[int]] = {}
    chunk = int(chunk_seconds * tok.sample_rate) if chunk_seconds else None
    for i, wav in enumerate(wavs):
        if chunk is not None and wav.shape[-1] > chunk:
            codes, scale = tok.encode_chunked(wav[None].to(tok.device), chunk)
            results[i] = (codes[0].cpu(), None if scale is None else scale[0].cpu())
        else:
            groups.setdefault(0 if tok.padding_invariant else wav.shape[-1], []).append(i)
    for members in groups.values():
        longest = max(wavs[i].shape[-1] for i in members)
        batch = torch.stack([torch.nn.functional.pad(wavs[i], (0, longest - wavs[i].shape[-1]))
                             for i in members]).to(tok.device)
        codes, scale = tok.encode(batch)
        for row, i in enumerate(members):
            frames = tok.frames_for_samples(wavs[i].shape[-1])
            results[i] = (codes[row, :, :frames].cpu(),
                          None if scale is None else scale[row].cpu())
    return results


class ShardBuilder:
    """Collects one shard: encodes loaded batches, keeps index rows, codes and scales."""

    def __init__(self, tok: AudioTokenizer, chunk_seconds: float | None) -> None:
        self.tok, self.chunk_seconds = tok, chunk_seconds
        self.rows: list[dict[str, Any]] = []
        self.codes: list[torch.Tensor] = []
        self.scales: list[torch.Tensor | None] = []
        self.frames = self.scale_values = self.encoded = 0
        self.audio_seconds = 0.0

    def add(self, batch: _Batch) -> float:
        """Encode one decoded batch; record failures. Returns the seconds of audio encoded."""
        loaded = batch.items()
        good = [(item, wav) for item, wav, err in loaded if err is None]
        for item, _wav, err in loaded:
            if err is not None:
                self.rows.append({"id": item.id, "source": item.path, "error": err})
        try:
            with torch.inference_mode():
                encoded = encode_items(self.tok, [w for _, w in good],
                                       chunk_seconds=self.chunk_seconds)
        except AudiotokError as exc:
            for item, _ in good:
                self.rows.append({"id": item.id, "source": item.path, "error": str(exc)})
            return 0.0
        seconds = 0.0
        for (item, wav), (codes, scale) in zip(good, encoded, strict=True):
            row = {"id": item.id, "source": item.path, "num_samples": wav.shape[-1],
                   "num_frames": codes.shape[-1], "offset": self.frames}
            if scale is not None:
                row.update(scale_offset=self.scale_values, scale_shape=list(scale.shape))
                self.scale_values += scale.numel()
            self.frames += codes.shape[-1]
            self.rows.append(row)
            self.codes.append(codes)
            self.scales.append(scale)
            seconds += wav.shape[-1] / self.tok.sample_rate
        self.encoded += len(good)
        self.audio_seconds += seconds
        return seconds


def commit_shard(out: Path, name: str, dtype: str, shard: ShardBuilder) -> None:
    """Write the shard file, then its index part (the commit point); both atomically."""
    import numpy as np
    from safetensors.numpy import save as save_bytes

    shard_rel = f"{SHARDS}/{name}.safetensors"
    if shard.codes:
        arrays = {"codes": np.ascontiguousarray(
            torch.cat(shard.codes, dim=-1).numpy().astype(dtype))}
        flat = [s.reshape(-1) for s in shard.scales if s is not None]
        if flat:
            arrays["scale"] = torch.cat(flat).float().numpy()
        atomic_write(out / shard_rel, save_bytes(arrays))
    for row in shard.rows:
        if "error" not in row:
            row["shard"] = shard_rel
    lines = "".join(json.dumps(row) + "\n" for row in shard.rows)
    atomic_write(out / INDEX / f"{name}.jsonl", lines.encode())


class _ShardWriter:
    """Commits shards from a background thread: shard file first, then its index part."""

    def __init__(self, out: Path, dtype: str) -> None:
        self.out, self.dtype = out, dtype
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, name: str, shard: ShardBuilder) -> None:
        if self.error:
            raise self.error
        self.queue.put((name, shard))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error:
            raise self.error

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is None:
                try:
                    commit_shard(self.out, job[0], self.dtype, job[1])
                except BaseException as exc:  # surfaced to the main thread
                    self.error = exc


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.start = total, enabled, time.monotonic()
        self.files, self.seconds = 0, 0.0

    def update(self, files: int, seconds: float) -> None:
        self.files += files
        self.seconds += seconds
        if self.enabled:
            dt = max(time.monotonic() - self.start, 1e-9)
            sys.stderr.write(f"\r{self.files}/{self.total} files  {self.files / dt:.1f} files/s  "
                             f"{self.seconds / 3600 / dt:.4f} audio-h/s "
                             f"({self.seconds / dt:.0f}x real time)  ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


@dataclass
class Job:
    """A planned run: the tokenizer, the dataset metadata, and the shards still to make."""

    tok: AudioTokenizer
    meta: dict[str, Any]
    out: Path
    items: list[Item]
    plan: list[list[list[Item]]]
    pending: int
    summary: TokenizeSummary
    run_id: str

    def finish(self, started: float) -> TokenizeSummary:
        """Rewrite failures.jsonl and complete the summary."""
        mine = {it.id for it in self.items}
        self.summary.failures = [r for r in write_failures(self.out) if r["id"] in mine]
        self.summary.failed = len(self.summary.failures)
        self.summary.elapsed = time.monotonic() - started
        return self.summary


def plan_job(source: str | os.PathLike[str], tokenizer: str | AudioTokenizer,
             out: str | os.PathLike[str], *, num_codebooks: int | None, batch_size: int,
             device: str, shard_index: int, num_shards: int, shard_size: int,
             checkpoint: str | None, retry_failed: bool) -> Job:
    """Load the tokenizer, prepare ``out``, and plan the shards of the inputs not yet done."""
    from ._registry import load

    if batch_size < 1 or shard_size < 1:
        raise AudiotokError("batch_size and shard_size must be >= 1")
    out = Path(out)
    tok = tokenizer if isinstance(tokenizer, AudioTokenizer) else load(
        tokenizer, device=device, checkpoint=checkpoint)
    if num_codebooks is not None:
        tok.set_num_codebooks(num_codebooks)
    items = select_shard(list_inputs(source), shard_index, num_shards)
    meta = dataset_meta(tok)
    try:
        prepare_output(out, meta)
    except OSError as exc:
        raise AudiotokError(f"{out}: cannot write the dataset ({exc})") from exc
    done = latest_rows(out)
    pending = [it for it in items if it.id not in done
               or (retry_failed and "error" in done[it.id])]
    summary = TokenizeSummary(out=out, total=len(items), skipped=len(items) - len(pending))
    lengths = [probe_samples(it, tok.sample_rate) for it in pending]
    run_id = f"{shard_index:05d}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return Job(tok, meta, out, items, plan_shards(pending, lengths, shard_size, batch_size),
               len(pending), summary, run_id)


def tokenize(source: str | os.PathLike[str], tokenizer: str | AudioTokenizer,
             out: str | os.PathLike[str], *, num_codebooks: int | None = None,
             batch_size: int = 8, workers: int = 2, device: str = "cpu",
             shard_index: int = 0, num_shards: int = 1, shard_size: int = 256,
             checkpoint: str | None = None, retry_failed: bool = False,
             chunk_seconds: float | None = 60.0, progress: bool | None = None) -> TokenizeSummary:
    """Tokenize a folder or manifest of audio files into a token dataset folder ``out``.

    Resumable: committed shards are kept and their inputs skipped; killing the process at any
    moment loses at most the shards in flight. Inputs that cannot be read are recorded in
    ``out/failures.jsonl`` (and skipped on the next run unless ``retry_failed``). Read the result
    with :class:`audiotok.TokenDataset`. Returns a :class:`TokenizeSummary`.
    """
    started = time.monotonic()
    job = plan_job(source, tokenizer, out, num_codebooks=num_codebooks, batch_size=batch_size,
                   device=device, shard_index=shard_index, num_shards=num_shards,
                   shard_size=shard_size, checkpoint=checkpoint, retry_failed=retry_failed)
    tok, meta, plan, summary = job.tok, job.meta, job.plan, job.summary
    batches = [batch for shard in plan for batch in shard]
    loader = torch.utils.data.DataLoader(
        _ReadBatches(batches, tok.sample_rate, tok.channels), batch_size=None, shuffle=False,
        num_workers=workers, collate_fn=lambda x: x, prefetch_factor=4 if workers else None,
        persistent_workers=False)
    writer = _ShardWriter(job.out, meta["codes_dtype"])
    bar = _Progress(job.pending, sys.stderr.isatty() if progress is None else progress)
    batch_iter: Iterator[Any] = iter(loader)
    try:
        for number, shard in enumerate(plan):
            builder = ShardBuilder(tok, chunk_seconds)
            for _ in shard:
                loaded = next(batch_iter)
                seconds = builder.add(loaded)
                bar.update(len(loaded), seconds)
            writer.submit(f"part-{job.run_id}-{number:06d}", builder)
            summary.encoded += builder.encoded
            summary.audio_seconds += builder.audio_seconds
    finally:
        bar.close()
        writer.close()
    return job.finish(started)


def write_failures(out: Path) -> list[dict[str, Any]]:
    """Rewrite ``failures.jsonl`` from the committed index (atomically); return its rows."""
    rows = sorted((r for r in latest_rows(out).values() if "error" in r), key=lambda r: r["id"])
    atomic_write(out / FAILURES, "".join(json.dumps(r) + "\n" for r in rows).encode())
    return rows
