"""TokenizerSpec: what a plugin registers. Pure data, no torch, so listing stays cheap."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import PluginError
from ._facts import TokenizerFacts

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class TokenizerSpec(TokenizerFacts):
    """Static description of one tokenizer, registered by a plugin.

    ``factory`` is a ``"module:callable"`` string imported only when the tokenizer is loaded; it
    is called as ``factory(spec, checkpoint=..., **options)`` and must return an
    :class:`audiotok.AudioTokenizer`. The facts (``sample_rate`` ... ``num_codebooks``) let
    audiotok list tokenizers and check compatibility without importing torch or any backend;
    the conformance suite checks that they equal the loaded model's.

    Attributes:
        name: registry name, e.g. ``"encodec_32khz"``.
        factory: ``"package.module:function"``.
        sample_rate: samples per second the codec consumes and produces.
        channels: audio channels.
        frame_rate: code frames per second.
        cardinality: entries per codebook (C).
        num_codebooks: maximum number of codebooks (K).
        aliases: other bare names for this tokenizer.
        description: one line for ``audiotok list``.
        hop_length: samples per frame when integral (derived from the rates when omitted).
        codebook_choices: the K values ``set_num_codebooks`` accepts (default: 1..num_codebooks).
        default_num_codebooks: active K after loading (default: num_codebooks).
        requires: distributions the factory needs, as pip requirement strings.
        install_hint: the command that installs what is missing, used in error messages.
        options: keyword arguments always passed to the factory (claims put the path here).
        plugin, distribution, version: filled in by audiotok when the spec is registered.
    """

    name: str
    factory: str
    sample_rate: int
    channels: int
    frame_rate: float
    cardinality: int
    num_codebooks: int
    aliases: tuple[str, ...] = ()
    description: str = ""
    hop_length: int | None = None
    codebook_choices: tuple[int, ...] | None = None
    default_num_codebooks: int | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = ""
    distribution: str = ""
    version: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "aliases", tuple(self.aliases))
        set_(self, "requires", tuple(self.requires))
        set_(self, "frame_rate", float(self.frame_rate))
        set_(self, "options", dict(self.options))
        if self.hop_length is None:
            hop = self.sample_rate / self.frame_rate if self.frame_rate > 0 else 0
            if hop and abs(hop - round(hop)) < 1e-9:
                set_(self, "hop_length", int(round(hop)))
        if self.codebook_choices is not None:
            set_(self, "codebook_choices", tuple(sorted(int(k) for k in self.codebook_choices)))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`audiotok.PluginError` if a field is malformed."""
        problems: list[str] = []
        for label, value in [("name", self.name), *[("alias", a) for a in self.aliases]]:
            if not isinstance(value, str) or not _NAME_RE.match(value):
                problems.append(f"{label} {value!r} must match {_NAME_RE.pattern}")
        module, _, attr = str(self.factory).partition(":")
        if not module or not attr:
            problems.append(f"factory {self.factory!r} must be 'module:callable'")
        for label in ("sample_rate", "channels", "cardinality", "num_codebooks"):
            value = getattr(self, label)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{label} must be a positive int, got {value!r}")
        if not (math.isfinite(self.frame_rate) and self.frame_rate > 0):
            problems.append(f"frame_rate must be a positive number, got {self.frame_rate!r}")
        if isinstance(self.cardinality, int) and self.cardinality < 2:
            problems.append("cardinality must be >= 2")
        choices = self.codebook_choices
        if choices is not None and (
            not choices or choices[0] < 1 or choices[-1] > self.num_codebooks
        ):
            problems.append(f"codebook_choices {choices} must lie in 1..{self.num_codebooks}")
        default = self.default_num_codebooks
        if default is not None and default not in self.allowed_num_codebooks:
            problems.append(f"default_num_codebooks {default} not in {self.allowed_num_codebooks}")
        if problems:
            raise PluginError(f"invalid TokenizerSpec {self.name!r}: " + "; ".join(problems))

    @property
    def qualified_name(self) -> str:
        """``plugin:name``, always unambiguous."""
        return f"{self.plugin}:{self.name}" if self.plugin else self.name

    @property
    def total_codebooks(self) -> int:
        """Maximum K (same as ``num_codebooks`` for a spec)."""
        return self.num_codebooks

    @property
    def allowed_num_codebooks(self) -> tuple[int, ...]:
        """The K values the tokenizer accepts in ``set_num_codebooks``."""
        if self.codebook_choices is not None:
            return self.codebook_choices
        return tuple(range(1, self.num_codebooks + 1))

    def replace(self, **changes: Any) -> TokenizerSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row: name, plugin, facts, aliases, description."""
        return {
            "name": self.name,
            "qualified_name": self.qualified_name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frame_rate": self.frame_rate,
            "hop_length": self.hop_length,
            "cardinality": self.cardinality,
            "num_codebooks": self.num_codebooks,
            "codebook_choices": list(self.allowed_num_codebooks),
            "bitrate": self.bitrate,
            "aliases": list(self.aliases),
            "description": self.description,
            "requires": list(self.requires),
        }
