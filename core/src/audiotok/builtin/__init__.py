"""Core's built-in plugin: registers ``mulaw_16khz`` through the same hook third parties use."""
