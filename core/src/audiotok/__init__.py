"""audiotok: neural audio codecs as discrete tokenizers, behind one protocol and a plugin registry.

Importing audiotok is cheap (no torch): the torch-based names below are imported on first use.

>>> import audiotok
>>> tok = audiotok.load("mulaw_16khz")
>>> codes, scale = tok.encode(wav)          # doctest: +SKIP
>>> audiotok.check_compatible(tok, card=256, n_q=1, sample_rate=16000)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._compat import check_compatible
from ._errors import (
    AmbiguousTokenizerError,
    AudiotokError,
    CheckpointError,
    IncompatibleTokenizerError,
    InvalidAudioError,
    InvalidCodesError,
    MissingDependencyError,
    PluginError,
    UnknownTokenizerError,
)
from ._registry import (
    PluginInfo,
    list_plugins,
    list_tokenizers,
    load,
    offline,
    register,
    resolve,
)
from ._spec import TokenizerSpec
from ._version import __version__
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from ._audio import read_audio, write_audio
    from ._compare import CompareReport, compare
    from ._dataset import TokenDataset
    from ._protocol import AudioTokenizer
    from ._stereo import InterleaveStereo
    from ._tokenize import TokenizeSummary, tokenize
    from ._tokens import TokenMetadata, Tokens, load_tokens, save_tokens

_LAZY = {
    "AudioTokenizer": "._protocol",
    "InterleaveStereo": "._stereo",
    "read_audio": "._audio",
    "write_audio": "._audio",
    "save_tokens": "._tokens",
    "load_tokens": "._tokens",
    "Tokens": "._tokens",
    "TokenMetadata": "._tokens",
    "TokenDataset": "._dataset",
    "tokenize": "._tokenize",
    "TokenizeSummary": "._tokenize",
    "compare": "._compare",
    "CompareReport": "._compare",
}

__all__ = [
    "AmbiguousTokenizerError",
    "AudioTokenizer",
    "AudiotokError",
    "CompareReport",
    "CheckpointError",
    "IncompatibleTokenizerError",
    "InterleaveStereo",
    "InvalidAudioError",
    "InvalidCodesError",
    "MissingDependencyError",
    "PluginError",
    "PluginInfo",
    "TokenDataset",
    "TokenMetadata",
    "TokenizeSummary",
    "TokenizerSpec",
    "Tokens",
    "UnknownTokenizerError",
    "__version__",
    "check_compatible",
    "compare",
    "hookimpl",
    "list_plugins",
    "list_tokenizers",
    "load",
    "load_tokens",
    "offline",
    "read_audio",
    "register",
    "resolve",
    "save_tokens",
    "tokenize",
    "write_audio",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audiotok' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
