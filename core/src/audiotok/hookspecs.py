"""The whole plugin contract of audiotok: two hooks.

A plugin is a module (named by an entry point in the ``audiotok.plugins`` group) holding
functions decorated with :data:`audiotok.hookimpl`. Keep that module light: import torch and
your backend only inside the factory that ``TokenizerSpec.factory`` names.

Example plugin module (the entry point ``mycodec = "audiotok_mycodec.plugin"``)::

    import audiotok

    @audiotok.hookimpl
    def register_tokenizers(register):
        register(audiotok.TokenizerSpec(
            name="mycodec_16khz", factory="audiotok_mycodec.model:load",
            sample_rate=16000, channels=1, frame_rate=50.0, cardinality=1024, num_codebooks=8,
            description="My codec, 16 kHz mono", install_hint="pip install audiotok-mycodec",
        ))

    @audiotok.hookimpl
    def claim_identifier(identifier):
        if identifier.endswith(".mycodec"):
            return audiotok.TokenizerSpec(
                name="mycodec_file", factory="audiotok_mycodec.model:load",
                sample_rate=16000, channels=1, frame_rate=50.0, cardinality=1024,
                num_codebooks=8, options={"path": identifier},
            )
        return None
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._spec import TokenizerSpec

PROJECT = "audiotok"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator marking a plugin function as an implementation of an audiotok hook."""


@hookspec
def register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """Register this plugin's tokenizers: call ``register(TokenizerSpec(...))`` once each.

    Called once per process, on the first listing or loading. Must not import torch or a backend.

    Example::

        @audiotok.hookimpl
        def register_tokenizers(register):
            register(audiotok.TokenizerSpec(name="mulaw_16khz",
                factory="audiotok.builtin.mulaw:load", sample_rate=16000, channels=1,
                frame_rate=16000.0, cardinality=256, num_codebooks=1))
    """


@hookspec
def claim_identifier(identifier: str) -> TokenizerSpec | None:
    """Claim an identifier that is not a registered name (path, Hub repo id, ``//pretrained/X``).

    Return a :class:`audiotok.TokenizerSpec` describing the tokenizer the identifier denotes
    (put what the factory needs, e.g. the path, in ``options``), or ``None`` if it is not yours.
    Be cheap and never raise for identifiers you do not recognise. If several plugins claim the
    same identifier, ``audiotok.load`` refuses and asks the user for ``plugin:identifier``.

    Example::

        @audiotok.hookimpl
        def claim_identifier(identifier):
            path = pathlib.Path(identifier)
            if path.suffix == ".pth" and path.is_file():
                return DAC_44KHZ.replace(name=path.name, options={"checkpoint": str(path)})
            return None
    """
