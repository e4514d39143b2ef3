"""The audiotok error hierarchy: every error audiotok raises on purpose is an AudiotokError."""

from __future__ import annotations


class AudiotokError(Exception):
    """Base class of every error audiotok raises on purpose."""


class UnknownTokenizerError(AudiotokError, LookupError):
    """No registered tokenizer, alias or plugin claim matches the identifier."""


class AmbiguousTokenizerError(AudiotokError, LookupError):
    """A bare name matches tokenizers of several plugins; qualify it as ``plugin:name``."""


class IncompatibleTokenizerError(AudiotokError, ValueError):
    """A tokenizer does not fit the LM's constraints; ``mismatches`` lists every problem."""

    def __init__(self, tokenizer: str, mismatches: list[str]) -> None:
        self.tokenizer = tokenizer
        self.mismatches = list(mismatches)
        lines = "\n".join(f"  - {m}" for m in self.mismatches)
        super().__init__(f"{tokenizer} is incompatible with the language model:\n{lines}")


class InvalidAudioError(AudiotokError, ValueError):
    """Audio (tensor or file) that cannot be tokenized: shape, dtype, channels, NaN, unreadable."""


class InvalidCodesError(AudiotokError, ValueError):
    """Codes that cannot be decoded: wrong rank, dtype, number of codebooks, or out of range."""


class CheckpointError(AudiotokError):
    """A checkpoint or token file that is missing, corrupt, unsafe or of the wrong architecture."""


class MissingDependencyError(AudiotokError, ImportError):
    """A tokenizer needs a package that is not installed; the message names the ``pip install``."""


class PluginError(AudiotokError):
    """A plugin failed to import, raised in a hook, registered a bad spec or broke the protocol."""
