"""The context length read from config.json: 1.x's keys, in its order, and the fallback."""

from __future__ import annotations

import pytest

from mlxk.configs import CONTEXT_KEYS, context_length_of
from mlxk.engine.limits import DEFAULT_CONTEXT, max_new_tokens


# spec: CACHE-DETECT-QUANT
@pytest.mark.parametrize(
    "key", ["max_position_embeddings", "n_positions", "context_length", "max_sequence_length",
            "seq_length", "seq_len", "n_ctx"],
)  # fmt: skip
def test_each_key_1x_read_names_the_context(key):
    assert key in CONTEXT_KEYS
    assert context_length_of({key: 2048}) == 2048
    assert context_length_of({"text_config": {key: 1024}}) == 1024  # multimodal configs


def test_the_first_key_present_wins_in_1x_order():
    config = {"seq_len": 111, "n_positions": 222, "max_position_embeddings": 333}
    assert context_length_of(config) == 333
    assert context_length_of({"seq_len": 111, "n_positions": 222}) == 222


@pytest.mark.parametrize("config", [None, {}, {"max_position_embeddings": 0}, {"seq_len": "x"}])
def test_without_a_usable_key_the_limits_fall_back_to_4096(config):
    assert context_length_of(config) is None
    assert DEFAULT_CONTEXT == 4096
    # a 100-token prompt on an unknown context: half of 4096 by default, the rest if asked
    assert max_new_tokens(100, context_length_of(config), None, default_fraction=0.5) == 2048
    assert max_new_tokens(100, context_length_of(config), 9999) == 3996


# spec: CACHE-NAME-ROUNDTRIP
@pytest.mark.parametrize("name", ["org/name", "mlx-community/Qwen3-0.6B-4bit", "simple-model"])
def test_a_repo_id_and_its_cache_folder_convert_both_ways(name):
    from mlxk.cache.scan import name_from_dir, repo_dir_name

    folder = repo_dir_name(name)
    assert folder.startswith("models--") and "/" not in folder
    assert name_from_dir(folder) == name


@pytest.mark.parametrize(
    "size,text",
    [(0, "0B"), (999, "999B"), (1000, "1.0KB"), (1_234_567, "1.2MB"), (5_300_000_000, "5.3GB")],
)
def test_file_sizes_read_as_mlx_knife_2_writes_them(size, text):
    from mlxk.cli.commands.show import decimal_size

    assert decimal_size(size) == text
