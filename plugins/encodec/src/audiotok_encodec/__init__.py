"""audiotok-encodec: native PyTorch EnCodec (SEANet + RVQ) for audiotok.

Loads AudioCraft exports (``compression_state_dict.bin``) and Meta's ``encodec_24khz`` /
``encodec_48khz`` release weights, with codes bit-identical to the reference implementations.
Use it through ``audiotok.load("encodec_24khz")`` or
``audiotok.load("path/to/compression_state_dict.bin")``.
"""

__version__ = "0.1.0"
