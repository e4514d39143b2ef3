"""``audiotok tokenize --ray``: the same job on Ray Data (``pip install 'audiotok[ray]'``).

Each planned shard becomes one Ray Data row; a pool of actors (each loads the tokenizer once)
decodes, encodes and commits its shards with the same atomic protocol as the local pipeline,
so the output format, resumability and exactness guarantees are identical. ``out`` must be on a
filesystem every Ray worker can write (a local folder for a one-node cluster, NFS/Lustre
otherwise).
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._errors import MissingDependencyError
from ._tokenize import Item, ShardBuilder, TokenizeSummary, _ReadBatches, commit_shard, plan_job


class _ShardTask:
    """Ray actor: tokenizes and commits whole shards."""

    def __init__(self, identifier: str, checkpoint: str | None, device: str, k: int,
                 out: str, dtype: str, chunk_seconds: float | None) -> None:
        from ._registry import load

        self.tok = load(identifier, device=device, checkpoint=checkpoint)
        self.tok.set_num_codebooks(k)
        self.out, self.dtype, self.chunk_seconds = out, dtype, chunk_seconds

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        batches = [[Item(*pair) for pair in batch] for batch in row["batches"]]
        reader = _ReadBatches(batches, self.tok.sample_rate, self.tok.channels)
        builder = ShardBuilder(self.tok, self.chunk_seconds)
        for i in range(len(reader)):
            builder.add(reader[i])
        commit_shard(Path(self.out), row["name"], self.dtype, builder)
        return {"name": row["name"], "encoded": builder.encoded,
                "audio_seconds": builder.audio_seconds}


def tokenize_ray(source: str | os.PathLike[str], tokenizer: str, out: str | os.PathLike[str], *,
                 num_codebooks: int | None = None, batch_size: int = 8, shard_size: int = 256,
                 checkpoint: str | None = None, device: str = "cpu", retry_failed: bool = False,
                 num_workers: int = 2, chunk_seconds: float | None = 60.0,
                 address: str | None = None) -> TokenizeSummary:
    """Run :func:`audiotok.tokenize` on Ray Data with ``num_workers`` actors.

    Connects to ``address`` (or ``RAY_ADDRESS``, or starts a local instance). Same output and
    guarantees as the local pipeline.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError("tokenize --ray needs Ray Data: pip install 'audiotok[ray]'") \
            from exc
    started = time.monotonic()
    job = plan_job(source, tokenizer, out, num_codebooks=num_codebooks, batch_size=batch_size,
                   device=device, shard_index=0, num_shards=1, shard_size=shard_size,
                   checkpoint=checkpoint, retry_failed=retry_failed)
    rows = [{"name": f"part-{job.run_id}-{n:06d}",
             "batches": [[(it.id, it.path) for it in batch] for batch in shard]}
            for n, shard in enumerate(job.plan)]
    if rows:
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
        results = ray.data.from_items(rows).map(
            _ShardTask, concurrency=max(1, num_workers),
            fn_constructor_args=(job.meta["tokenizer"], checkpoint, device, job.tok.num_codebooks,
                                 str(job.out.resolve()), job.meta["codes_dtype"], chunk_seconds),
        ).take_all()
        for result in results:
            job.summary.encoded += result["encoded"]
            job.summary.audio_seconds += result["audio_seconds"]
    return job.finish(started)
