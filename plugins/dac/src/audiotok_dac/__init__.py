"""audiotok-dac: the Descript Audio Codec (DAC) as audiotok tokenizers.

Registers ``dac_44khz``, ``dac_24khz``, ``dac_16khz`` and ``dac_44khz_16kbps`` and claims local
DAC release ``.pth`` files. The network is re-implemented natively (:mod:`audiotok_dac.model`),
so ``descript-audio-codec`` is not needed at run time. Load through :func:`audiotok.load`.
"""

__version__ = "0.1.0"
