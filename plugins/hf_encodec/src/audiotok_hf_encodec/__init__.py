"""audiotok plugin: transformers' EnCodec (``facebook/encodec_24khz``, ``_32khz``, ``_48khz``, ...).

Load through audiotok (``audiotok.load("hf_encodec_24khz")``, ``audiotok.load("facebook/
encodec_48khz")``); importing this package imports neither torch nor transformers.
"""
