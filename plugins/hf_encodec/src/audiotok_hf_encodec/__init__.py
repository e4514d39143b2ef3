"""audiotok plugin: transformers' EnCodec (``facebook/encodec_24khz``, ``_32khz``, ``_48khz``, any Hub EnCodec).

Load through audiotok (``audiotok.load("hf_encodec_24khz")`` or ``audiotok.load("facebook/encodec_48khz")``);
importing this package does not import torch or transformers.
"""
