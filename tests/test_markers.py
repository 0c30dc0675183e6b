"""Which models.toml table names a model: its cache name (any case), the part after the
organisation, or its folder's path written any way that resolves to it."""

from __future__ import annotations

import pytest

from mlxk.cache.markers import configured, user_config

TABLE = '["{key}"]\nreasoning_tokens = ["<reflect>", "</reflect>"]\n'


# spec: RSN-CUSTOM
@pytest.mark.parametrize(
    ("key", "name", "applies"),
    [
        ("acme/Reflect-7B", "acme/Reflect-7B", True),
        ("ACME/reflect-7b", "acme/Reflect-7B", True),
        ("Reflect-7B", "acme/Reflect-7B", True),
        ("acme/Reflect", "acme/Reflect-7B", False),
        ("~/models/reflect", "FOLDER", True),
        ("~/models/reflect/", "FOLDER", True),
        ("~/models/other", "FOLDER", False),
    ],
)
def test_a_table_applies_to_the_model_it_names(tmp_path, monkeypatch, key, name, applies):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "models" / "reflect"
    folder.mkdir(parents=True)
    (tmp_path / "models" / "other").mkdir()
    path = user_config(tmp_path / ".config")
    path.parent.mkdir(parents=True)
    path.write_text(TABLE.format(key=key), encoding="utf-8")
    model = str(folder.resolve()) if name == "FOLDER" else name
    found = configured(model, folder, config_home=tmp_path / ".config")
    assert (found is not None) == applies, found
    if applies:
        assert (found.start, found.end, found.source) == ("<reflect>", "</reflect>", "models.toml")
