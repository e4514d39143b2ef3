"""audiotok-dac vs descript-audio-codec, side by side in one process, same random weights.

Measures encode and decode wall time of the native tokenizer and of ``dac.DAC`` (ratios),
checks the codes are identical, and compares whole-input with chunked encoding (time and the
largest window the encoder sees). Needs ``descript-audio-codec``.

    python benchmarks/bench_dac.py --config dac_44khz --seconds 5 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

import audiotok

CONFIGS = {
    "dac_44khz": {},
    "dac_24khz": {"encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2],
                  "n_codebooks": 32, "sample_rate": 24000},
    "dac_16khz": {"encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2],
                  "n_codebooks": 12, "sample_rate": 16000},
}


def _interleaved(fns, repeat: int) -> list[float]:
    """Median wall time of each function, run alternately so that load changes hit all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="dac_44khz")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import dac

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = dac.DAC(**CONFIGS[args.config]).eval().to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pth"
        ref.cpu().save(str(path), package=False)
        ref.to(args.device)
        tok = audiotok.load(str(path), device=args.device, chunk_seconds=None)
    sr = tok.sample_rate
    wav = (torch.rand(1, 1, int(args.seconds * sr)) * 1.6 - 0.8).to(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    with torch.inference_mode():
        padded = ref.preprocess(wav, sr)
        codes_ref = ref.encode(padded)[1]
        codes = tok.encode(wav)[0]
        same = torch.equal(codes, codes_ref)
        rows = []

        def synced(fn):
            return lambda: (fn(), sync())

        step = max(1, round(args.chunk_seconds * tok.frame_rate))
        t_ref_enc, t_enc, t_chunk = _interleaved(
            [synced(lambda: ref.encode(ref.preprocess(wav, sr))), synced(lambda: tok.encode(wav)),
             synced(lambda: tok.encode_chunked(wav, chunk_frames=step)[0])], args.repeat)
        rows.append(("encode", t_ref_enc, t_enc))
        t_ref_dec, t_dec = _interleaved(
            [synced(lambda: ref.decode(ref.quantizer.from_codes(codes_ref)[0])),
             synced(lambda: tok.decode(codes))], args.repeat)
        rows.append(("decode", t_ref_dec, t_dec))

        widths: list[int] = []
        hook = tok.model.encoder.register_forward_pre_hook(
            lambda m, a: widths.append(a[0].shape[-1]))
        chunked = tok.encode_chunked(wav, chunk_frames=step)[0]
        hook.remove()

    print(f"{args.config} on {args.device}, {args.seconds:g} s of audio, "
          f"{torch.get_num_threads()} threads, median of {args.repeat}")
    print(f"codes identical to dac: {same}; chunked ({args.chunk_seconds:g} s windows) "
          f"identical to whole: {torch.equal(chunked, codes)}")
    print(f"{'':8} {'dac [s]':>9} {'audiotok [s]':>13} {'dac / audiotok':>15}")
    for label, a, b in rows:
        print(f"{label:8} {a:9.3f} {b:13.3f} {a / b:15.2f}")
    print(f"chunked encode: {t_chunk:.3f} s ({t_chunk / t_enc:.2f} x whole); largest encoder "
          f"input {max(widths)} samples vs {wav.shape[-1]} whole "
          f"({max(widths) / wav.shape[-1]:.2f})")


if __name__ == "__main__":
    main()
