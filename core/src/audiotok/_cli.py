"""The ``audiotok`` command line. Listing commands never import torch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import AudiotokError

_ROW_FIELDS = ("name", "plugin", "sample_rate", "channels", "frame_rate", "cardinality",
               "num_codebooks")


def _table(rows: list[dict[str, Any]], fields: Sequence[str]) -> str:
    cells = [[str(f) for f in fields]] + [[_fmt(r.get(f)) for f in fields] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(fields))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _cmd_plugins(args: argparse.Namespace) -> int:
    from ._registry import list_plugins

    plugins = [p.to_dict() for p in list_plugins()]
    if args.json:
        _print_json(plugins)
    else:
        for p in plugins:
            p["status"] = "ok" if not p["error"] else f"ERROR {p['error']}"
        print(_table(plugins, ("name", "distribution", "version", "tokenizers", "status")))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from ._registry import list_tokenizers

    rows = [s.to_dict() for s in list_tokenizers(args.pattern)]
    if args.json:
        _print_json(rows)
    elif rows:
        print(_table(rows, (*_ROW_FIELDS, "description")))
    else:
        print(f"no tokenizer matches {args.pattern!r}" if args.pattern else "no tokenizers")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from ._registry import resolve

    spec = resolve(args.name)
    info = spec.to_dict()
    info.update(tokens_per_second=spec.tokens_per_second, lm_vocab_size=spec.lm_vocab_size(),
                special_token_id=spec.special_token_id,
                frames_per_30s=spec.frames_for_duration(30.0))
    if args.json:
        _print_json(info)
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key.ljust(width)}  {_fmt(value)}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from ._compat import find_mismatches
    from ._registry import resolve

    spec = resolve(args.name)
    problems = find_mismatches(spec, card=args.card, n_q=args.n_q, sample_rate=args.sample_rate,
                               channels=args.channels, frame_rate=args.frame_rate)
    if args.json:
        _print_json({"tokenizer": spec.qualified_name, "compatible": not problems,
                     "mismatches": problems})
    elif problems:
        print(f"{spec.qualified_name} is incompatible:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print(f"{spec.qualified_name} is compatible")
    return 1 if problems else 0


def _cmd_encode(args: argparse.Namespace) -> int:
    import torch

    from ._audio import read_audio
    from ._registry import load
    from ._tokens import save_tokens

    tok = load(args.name, device=args.device, checkpoint=args.checkpoint)
    if args.num_codebooks is not None:
        tok.set_num_codebooks(args.num_codebooks)
    wav = read_audio(args.input, sample_rate=tok.sample_rate, channels=tok.channels)
    with torch.inference_mode():
        codes, scale = tok.encode(wav[None].to(tok.device))
    save_tokens(args.output, codes[0], None if scale is None else scale[0], tokenizer=tok,
                num_samples=wav.shape[-1])
    print(f"{args.output}: {codes.shape[1]} codebooks x {codes.shape[2]} frames "
          f"({tok.name})",
          file=sys.stderr)
    return 0


def _read_codes(args: argparse.Namespace
                ) -> tuple[Any, Any, str, int, int | None, bool, str | None]:
    """codes, scale, tokenizer identifier, K, num_samples, interleave, checkpoint of a token
    file or a dataset item."""
    from pathlib import Path

    if Path(args.tokens).is_dir():
        from ._dataset import TokenDataset

        ds = TokenDataset(args.tokens)
        if args.item is None:
            raise AudiotokError(f"{args.tokens} is a token dataset: choose an item with --item "
                                f"ID or --item NUMBER (0..{len(ds) - 1})")
        try:
            index = ds.index_of(args.item) if args.item in ds._by_id else int(args.item)
            item = ds[index]
        except (ValueError, IndexError):
            raise AudiotokError(f"{args.tokens}: no item {args.item!r}") from None
        meta = ds.meta
        return (item["codes"], item["scale"], meta["tokenizer"], meta["num_codebooks"],
                item["num_samples"], False, meta.get("checkpoint"))
    from ._tokens import load_tokens

    tokens = load_tokens(args.tokens)
    meta = tokens.metadata
    return (tokens.codes, tokens.scale, meta.tokenizer, meta.num_codebooks, meta.num_samples,
            meta.interleave_stereo, meta.checkpoint)


def _cmd_decode(args: argparse.Namespace) -> int:
    import torch

    from ._audio import write_audio
    from ._registry import load
    from ._stereo import InterleaveStereo

    codes, scale, identifier, k, num_samples, interleave, recorded = _read_codes(args)
    checkpoint = args.checkpoint
    if checkpoint is None and recorded and os.path.isfile(recorded):
        checkpoint = recorded  # the weights the codes were made with, when still there
    tok = load(identifier, device=args.device, checkpoint=checkpoint)
    if interleave:
        tok = InterleaveStereo(tok)
    tok.set_num_codebooks(k)
    if codes.dim() == 2:
        codes = codes[None]
        scale = None if scale is None else scale[None]
    with torch.inference_mode():
        wav = tok.decode(codes.to(tok.device), None if scale is None else scale.to(tok.device))
    if num_samples is not None:
        wav = wav[..., :num_samples]
    if wav.shape[0] != 1:
        raise AudiotokError(f"{args.tokens}: holds a batch of {wav.shape[0]} items; "
                            "decode them with audiotok.load_tokens in Python")
    write_audio(args.output, wav[0], tok.sample_rate, subtype=args.subtype)
    print(f"{args.output}: {wav.shape[-1] / tok.sample_rate:.3f} s at {tok.sample_rate} Hz",
          file=sys.stderr)
    return 0


def _cmd_tokenize(args: argparse.Namespace) -> int:
    from ._tokenize import tokenize

    if args.ray:
        from ._tokenize_ray import tokenize_ray

        summary = tokenize_ray(args.input, args.tokenizer, args.out,
                               num_codebooks=args.num_codebooks, batch_size=args.batch_size,
                               shard_size=args.shard_size, checkpoint=args.checkpoint,
                               device=args.device, retry_failed=args.retry_failed,
                               num_workers=args.workers)
    else:
        summary = tokenize(args.input, args.tokenizer, args.out, num_codebooks=args.num_codebooks,
                           batch_size=args.batch_size, workers=args.workers, device=args.device,
                           shard_index=args.shard_index, num_shards=args.num_shards,
                           shard_size=args.shard_size, checkpoint=args.checkpoint,
                           retry_failed=args.retry_failed, chunk_seconds=args.chunk_seconds)
    print(summary, file=sys.stderr)
    return 0 if summary.ok else 1


def _cmd_compare(args: argparse.Namespace) -> int:
    from ._compare import compare

    ks = [int(k) for k in args.num_codebooks.split(",")] if args.num_codebooks else None
    report = compare(args.audio, [t for t in args.tokenizers.split(",") if t],
                     num_codebooks=ks, lm_card=args.lm_card, lm_n_q=args.lm_n_q,
                     context_frames=args.context_frames, out=args.out,
                     plots=not args.no_plots, device=args.device)
    if args.json:
        print(report.to_json())
    else:
        print(report.table())
        for row in report.rows:
            for problem in row.mismatches:
                print(f"  {row.tokenizer} K={row.num_codebooks}: {problem}")
        if args.out:
            print(f"report.json, report.csv{' and plots' if report.plots else ''} in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``audiotok`` command."""
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="audiotok", description=(
        "Neural audio codecs as discrete tokenizers: list, inspect, check, encode, decode."))
    parser.add_argument("--version", action="version", version=f"audiotok {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plugins", help="installed plugins, their tokenizers and load errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("list", help="registered tokenizers (PATTERN is a glob)")
    p.add_argument("pattern", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="static facts of one tokenizer (nothing is downloaded)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("check", help="does a tokenizer fit a language model? (exit 1 if not)")
    p.add_argument("name")
    p.add_argument("--card", type=int, help="LM codebook entries (special tokens excluded)")
    p.add_argument("--n-q", type=int, dest="n_q", help="LM number of codebook streams")
    p.add_argument("--sample-rate", type=int)
    p.add_argument("--channels", type=int)
    p.add_argument("--frame-rate", type=float)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("encode", help="audio file -> token file (.safetensors)")
    p.add_argument("name")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--num-codebooks", type=int)
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("tokenize", help="audio folder or manifest -> token dataset (resumable)")
    p.add_argument("input", help="folder (recursive) or manifest (.txt paths / .jsonl rows)")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--num-codebooks", type=int)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="decoding processes (0: in-process)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--shard-index", type=int, default=0)
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--shard-size", type=int, default=256, help="inputs per committed shard")
    p.add_argument("--chunk-seconds", type=float, default=60.0,
                   help="longer files use the tokenizer's exact chunked encoding, if it has one")
    p.add_argument("--checkpoint")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--ray", action="store_true", help="run on Ray Data (pip install audiotok[ray])")
    p.set_defaults(func=_cmd_tokenize)

    p = sub.add_parser("compare", help="measure tokenizers on your audio and LM constraints")
    p.add_argument("audio", nargs="+")
    p.add_argument("--tokenizers", required=True, help="comma-separated names")
    p.add_argument("--num-codebooks", help="comma-separated K values (default: all, thinned)")
    p.add_argument("--lm-card", type=int)
    p.add_argument("--lm-n-q", type=int)
    p.add_argument("--context-frames", type=int)
    p.add_argument("--out", help="folder for report.json, report.csv and PNG plots")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("decode", help="token file (or dataset item) -> audio file")
    p.add_argument("tokens", help="a token file, or a token dataset folder with --item")
    p.add_argument("--item", help="dataset item id or number")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--checkpoint", help="weights file (default: the one recorded, if present)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--subtype", help="soundfile subtype, e.g. PCM_16 (default) or FLOAT")
    p.set_defaults(func=_cmd_decode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Errors print one line, never a traceback
    (set ``AUDIOTOK_DEBUG=1`` to see it)."""
    args = build_parser().parse_args(argv)
    debug = bool(os.environ.get("AUDIOTOK_DEBUG"))
    if not debug:  # library warnings (torch, backends) would break the one-line error contract
        import warnings

        warnings.simplefilter("ignore")
    try:
        return int(args.func(args))
    except AudiotokError as exc:
        if debug:
            raise
        first, *rest = str(exc).splitlines() or [""]
        print(f"audiotok: error: {first}", file=sys.stderr)
        for line in rest:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"audiotok: internal error: {type(exc).__name__}: {exc} "
              "(set AUDIOTOK_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 1
