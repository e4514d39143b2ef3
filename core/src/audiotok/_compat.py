"""Compatibility rules between a tokenizer and a language model (no torch needed for specs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from ._errors import IncompatibleTokenizerError
from ._spec import TokenizerSpec

if TYPE_CHECKING:
    from ._protocol import AudioTokenizer

TokenizerLike = Union["AudioTokenizer", TokenizerSpec]


def _same_rate(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-6 * max(abs(float(a)), abs(float(b)), 1.0)


def find_mismatches(tokenizer: TokenizerLike, *, card: int | None = None, n_q: int | None = None,
                    sample_rate: int | None = None, channels: int | None = None,
                    frame_rate: float | None = None) -> list[str]:
    """Every way ``tokenizer`` fails the LM's constraints, each with its fix (empty if it fits).

    For a loaded tokenizer ``n_q`` must equal the *active* K; for a spec it must be one of the
    K values the tokenizer can be set to.
    """
    problems: list[str] = []
    name = tokenizer.name
    if card is not None and card != tokenizer.cardinality:
        if card == tokenizer.cardinality + 1:
            problems.append(
                f"card: the LM has {card} entries but the tokenizer's codebooks have "
                f"{tokenizer.cardinality}; card counts codebook entries only (AudioCraft adds the "
                f"special token id {tokenizer.cardinality} itself): "
                f"set card={tokenizer.cardinality}")
        else:
            problems.append(f"card: LM card={card} but {name} has {tokenizer.cardinality} entries "
                            f"per codebook: set card={tokenizer.cardinality}")
    if n_q is not None:
        allowed = tokenizer.allowed_num_codebooks
        active = tokenizer.num_codebooks
        is_spec = isinstance(tokenizer, TokenizerSpec)
        if n_q not in allowed:
            suggested = active if not is_spec else allowed[-1]
            problems.append(f"n_q: LM n_q={n_q} but {name} offers K in {list(allowed)}: set "
                            f"n_q={suggested} (or another K it offers)")
        elif not is_spec and n_q != active:
            problems.append(f"n_q: LM n_q={n_q} but {name} has {active} active codebooks: call "
                            f"tokenizer.set_num_codebooks({n_q}) or set n_q={active}")
    if sample_rate is not None and sample_rate != tokenizer.sample_rate:
        problems.append(f"sample_rate: LM expects {sample_rate} Hz but {name} runs at "
                        f"{tokenizer.sample_rate} Hz: set sample_rate={tokenizer.sample_rate} "
                        f"(read_audio resamples input audio)")
    if channels is not None and channels != tokenizer.channels:
        fix = f"set channels={tokenizer.channels}"
        if channels == 2 and tokenizer.channels == 1:
            fix += (" or wrap it with audiotok.InterleaveStereo (interleaved codebooks, "
                    f"n_q={2 * tokenizer.num_codebooks})")
        problems.append(f"channels: LM expects {channels} but {name} has {tokenizer.channels}: "
                        f"{fix}")
    if frame_rate is not None and not _same_rate(frame_rate, tokenizer.frame_rate):
        problems.append(f"frame_rate: LM expects {frame_rate:g} frames/s but {name} produces "
                        f"{tokenizer.frame_rate:g}: set frame_rate={tokenizer.frame_rate:g}")
    return problems


def check_compatible(tokenizer: TokenizerLike, *, card: int | None = None, n_q: int | None = None,
                     sample_rate: int | None = None, channels: int | None = None,
                     frame_rate: float | None = None) -> None:
    """Raise :class:`audiotok.IncompatibleTokenizerError` listing *every* mismatch at once.

    Checks an :class:`audiotok.AudioTokenizer` or a :class:`audiotok.TokenizerSpec` against an
    LM's ``card`` (codebook entries, special tokens excluded), ``n_q`` (number of streams),
    ``sample_rate``, ``channels`` and ``frame_rate``; arguments left ``None`` are not checked.

    >>> import audiotok
    >>> audiotok.check_compatible(audiotok.resolve("mulaw_16khz"), card=256, n_q=1)
    """
    problems = find_mismatches(tokenizer, card=card, n_q=n_q, sample_rate=sample_rate,
                               channels=channels, frame_rate=frame_rate)
    if problems:
        label = tokenizer.qualified_name if isinstance(tokenizer, TokenizerSpec) else tokenizer.name
        raise IncompatibleTokenizerError(label, problems)
