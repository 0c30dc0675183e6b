"""Tiny scripted MLX models, built offline in seconds: the demo's and the test suite's.

Real models (a real byte-level BPE tokenizer, a real chat template, weights mlx-lm loads
like any download) whose weights are set by hand so that greedy decoding follows a
script. ``mlxk demo`` ships them; the suite asserts exact text with them.
"""
