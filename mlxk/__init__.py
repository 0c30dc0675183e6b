"""mlxk: manage and run MLX language models kept in the Hugging Face cache."""

__version__ = "0.1.0"
