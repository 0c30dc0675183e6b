"""The only package that imports mlx and mlx_lm (always lazily, inside functions)."""
