"""Local tooling around the runtime library: the `tradebot` CLI and the in-process AWS emulator.

Nothing here ships to AWS (the layer is layers/tradebot only).
"""
