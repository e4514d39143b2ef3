"""Overhead of the ``hf_encodec`` wrapper over calling transformers' EncodecModel directly.

For each public configuration (24 kHz, 32 kHz, 48 kHz stereo chunked+normalized) this builds the
architecture with random weights (codebooks filled from encoder outputs), saves it with
``save_pretrained``, loads it through ``audiotok.load(folder)``, and times in this process,
interleaved, on the *same* module:

- wrapper: ``tok.encode(wav)`` (input checks, chunk layout, codes flattened to ``[B, K, F]``);
- direct:  ``tok.model.encode(wav, bandwidth=max)`` (transformers' own call, codes
  ``[n_chunks, B, K, P]``);

and the same for decode. Codes are checked equal first. The row ``steps`` times, alone, the
work ``tok.encode`` adds around transformers' call (input checks, chunk layout, reshaping the
codes, concatenating the scales): a noise-free bound on the encode overhead. Reports median
milliseconds and the wrapper/direct ratio of medians and of minima (goal: encode within 3%,
ratio <= 1.03).

    python benchmarks/bench_hf_encodec.py [--seconds 5] [--batch 2] [--repeats 9] [--threads 1]
        [--device cpu|cuda] [--configs facebook/encodec_48khz ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

import audiotok
from audiotok_hf_encodec._config import HUB_CONFIGS

warnings.filterwarnings("ignore")


def build(repo: str, folder: Path) -> None:
    """Save ``repo``'s architecture with random weights and codebooks drawn from encoder frames."""
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    config = EncodecConfig(**{k: v for k, v in HUB_CONFIGS[repo].items() if k != "model_type"})
    model = EncodecModel(config).eval()
    with torch.no_grad():
        wav = 0.1 * torch.randn(2, config.audio_channels, config.sampling_rate // 2)
        frames = model.encoder(wav).transpose(1, 2).reshape(-1, config.codebook_dim)
        for layer in model.quantizer.layers:
            pick = torch.randint(0, frames.shape[0], (config.codebook_size,))
            layer.codebook.embed.copy_(frames[pick] + 0.1 * frames.std()
                                       * torch.randn(config.codebook_size, config.codebook_dim))
            frames = frames - layer.codebook.decode(layer.codebook.quantize(frames))
    model.save_pretrained(folder)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def compare(wrapper: Callable[[], object], direct: Callable[[], object], repeats: int,
            device: torch.device) -> tuple[list[float], list[float]]:
    """Seconds of each call, measured interleaved (alternating order) after one warm-up."""
    wrapper(), direct()
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        first, second = ((direct, b), (wrapper, a)) if i % 2 else ((wrapper, a), (direct, b))
        for fn, times in (first, second):
            times.append(timed(fn, device))
    return a, b


@torch.inference_mode()
def bench_one(folder: Path, args: argparse.Namespace, device: torch.device,
              ) -> dict[str, tuple[list[float], list[float]]]:
    """Encode and decode times of wrapper vs direct transformers calls for one saved model."""
    tok = audiotok.load(str(folder), device=device)
    model, bandwidth = tok.model, tok.bandwidth
    gen = torch.Generator().manual_seed(0)
    wav = 0.3 * torch.randn(args.batch, tok.channels, round(args.seconds * tok.sample_rate),
                            generator=gen).to(device)
    codes, scale = tok.encode(wav)
    ref_codes, ref_scales, pad = model.encode(wav, bandwidth=bandwidth, return_dict=False)
    flat = torch.cat(list(ref_codes), dim=-1)
    assert torch.equal(codes, flat[..., : flat.shape[-1] - pad]), "codes differ"

    def wrapper_steps() -> None:  # what tok.encode adds around model.encode, on real outputs
        checked = tok.check_audio(wav)
        tok.chunk_frames(checked.shape[-1])
        n, b, k, p = ref_codes.shape
        ref_codes.permute(1, 2, 0, 3).reshape(b, k, n * p)[..., : n * p - pad]
        if tok.uses_scale:
            torch.cat(ref_scales, dim=1)

    steps = [timed(wrapper_steps, device) for _ in range(200)]
    return {
        "steps": (steps, steps),
        "encode": compare(lambda: tok.encode(wav),
                          lambda: model.encode(wav, bandwidth=bandwidth, return_dict=False),
                          args.repeats, device),
        "decode": compare(lambda: tok.decode(codes, scale),
                          lambda: model.decode(ref_codes, ref_scales, last_frame_pad_length=pad,
                                               return_dict=False),
                          args.repeats, device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1 is stable on shared machines)")
    parser.add_argument("--configs", nargs="*", default=list(HUB_CONFIGS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device}, threads {torch.get_num_threads()}, "
          f"{args.seconds:g} s x batch {args.batch}, {args.repeats} interleaved repeats")
    print(f"{'model':24} {'op':7} {'wrapper ms':>11} {'direct ms':>10} {'ratio':>7} "
          f"{'ratio(min)':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for repo in args.configs:
            folder = Path(tmp) / repo.split("/")[1]
            build(repo, folder)
            times = bench_one(folder, args, device)
            steps = statistics.median(times.pop("steps")[0])
            for op, (ours, theirs) in times.items():
                a, b = statistics.median(ours), statistics.median(theirs)
                print(f"{repo:24} {op:7} {a * 1e3:11.2f} {b * 1e3:10.2f} {a / b:7.3f} "
                      f"{min(ours) / min(theirs):10.3f}")
            direct = statistics.median(times["encode"][1])
            print(f"{repo:24} {'steps':7} {steps * 1e3:11.3f} {'':10} "
                  f"{1 + steps / direct:7.4f}  (wrapper-only work, median of 200)")


if __name__ == "__main__":
    main()
