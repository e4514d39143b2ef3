"""Tokenize throughput: the pipeline vs a naive per-file loop vs the tokenizer's own encode.

    python benchmarks/bench_tokenize.py [--tokenizer mulaw_16khz] [--checkpoint PATH]
        [--files 60] [--workers 2] [--batch-size 8] [--threads N]

Generates a folder of mixed-length, mixed-rate files (wav/flac), then measures in one process:

1. naive loop: for each file read_audio -> encode -> save_tokens;
2. ``audiotok.tokenize`` (DataLoader decoding workers, length-bucketed batches, background writes);
3. the tokenizer's own encode throughput on the already-decoded audio (upper bound).

Reports audio-seconds per second and the ratios pipeline/naive (goal >= 1.5) and
pipeline/encode (goal >= 0.9), and what bounds them on this machine: a pipeline can encode no
faster than the bare encode (so pipeline/naive <= naive/encode), and can decode no faster than
every core decoding (so pipeline/encode <= encode-only time / (read time / cores)).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import audiotok


def make_folder(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        sr = (22050, 44100, 48000, 16000)[i % 4]
        seconds = float(rng.uniform(1.0, 8.0))
        t = np.arange(int(sr * seconds)) / sr
        tone = np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
        x = 0.3 * tone + 0.05 * rng.standard_normal(t.size)
        sf.write(str(root / f"f{i:04d}.{'flac' if i % 2 else 'wav'}"), x.astype("float32"), sr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="mulaw_16khz")
    parser.add_argument("--checkpoint")
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads of this process (all runs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tmp = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    try:
        (tmp / "in").mkdir()
        make_folder(tmp / "in", args.files)
        tok = audiotok.load(args.tokenizer, checkpoint=args.checkpoint)
        files = sorted((tmp / "in").iterdir())

        start = time.perf_counter()
        (tmp / "naive").mkdir()
        seconds = reading = 0.0
        decoded = []
        for path in files:
            t0 = time.perf_counter()
            wav = audiotok.read_audio(path, sample_rate=tok.sample_rate, channels=tok.channels)
            reading += time.perf_counter() - t0
            with torch.inference_mode():
                codes, scale = tok.encode(wav[None])
            audiotok.save_tokens(tmp / "naive" / f"{path.stem}.safetensors", codes[0],
                                 None if scale is None else scale[0], tokenizer=tok,
                                 num_samples=wav.shape[-1])
            seconds += wav.shape[-1] / tok.sample_rate
            decoded.append(wav)
        naive = time.perf_counter() - start

        start = time.perf_counter()
        with torch.inference_mode():
            for wav in decoded:
                tok.encode(wav[None])
        encode_only = time.perf_counter() - start

        start = time.perf_counter()
        summary = audiotok.tokenize(tmp / "in", tok, tmp / "out", workers=args.workers,
                                    batch_size=args.batch_size, progress=False)
        pipeline = time.perf_counter() - start
        assert summary.ok and summary.encoded == len(files)

        print(f"tokenizer {tok.name}, {len(files)} files, {seconds:.1f} s of audio, "
              f"torch threads {torch.get_num_threads()}, workers {args.workers}")
        for label, elapsed in (("naive per-file loop", naive), ("audiotok tokenize", pipeline),
                               ("encode only (bound)", encode_only)):
            print(f"  {label:22s} {elapsed:8.2f} s  {seconds / elapsed:10.1f} audio-s/s")
        print(f"  pipeline / naive  = {naive / pipeline:.2f}x (goal >= 1.5)")
        print(f"  pipeline / encode = {encode_only / pipeline:.2f} (goal >= 0.9)")
        cores = len(os.sched_getaffinity(0))
        print(f"  bounds here: read+resample {reading:.2f} s of the naive loop's {naive:.2f} s; "
              f"pipeline / naive <= {naive / encode_only:.2f}x (encoding no faster than bare "
              f"encode), pipeline / encode <= {encode_only * cores / reading:.2f} "
              f"(decoding no faster than {cores} cores)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
