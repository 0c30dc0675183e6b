"""Hostfiles and the choice of sharding, checked before any rank of a group starts."""

from __future__ import annotations

import json

import pytest

from mlxk.engine.distributed import choose_sharding, sharding_support
from mlxk.errors import ModelNotRunnable, UsageError
from mlxk.server.hosts import read_hostfile

LLAMA = {"model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 2}


def _write(tmp_path, data) -> str:
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps(data))
    return str(path)


# spec: DIST-PREFLIGHT
def test_local_names_become_the_launchers_local_address_and_other_fields_stay(tmp_path):
    hosts = [{"ssh": "localhost"}, {"ssh": "127.0.0.1", "rdma": [None, "rdma_en2"]}]
    hostfile = read_hostfile(_write(tmp_path, hosts))
    launched = hostfile.for_launcher()
    assert hostfile.backend == "ring" and hostfile.size == 2
    assert [h["ssh"] for h in launched["hosts"]] == ["127.0.0.1", "127.0.0.1"]
    assert launched["hosts"][1]["rdma"] == [None, "rdma_en2"]
    assert all(h["ips"] == ["127.0.0.1"] for h in launched["hosts"])


# spec: DIST-PREFLIGHT
def test_the_hostfiles_backend_is_kept_unless_the_flag_names_one(tmp_path):
    data = {"backend": "mpi", "hosts": [{"ssh": "localhost"}]}
    assert read_hostfile(_write(tmp_path, data)).backend == "mpi"
    assert read_hostfile(_write(tmp_path, data), "ring").backend == "ring"


# spec: DIST-PREFLIGHT
@pytest.mark.parametrize(
    ("data", "named"),
    [
        ([], "expected a list of hosts"),
        ({"hosts": "a"}, "expected a list of hosts"),
        ([{"ips": ["10.0.0.1"]}], "needs an 'ssh' name"),
        ([{"ssh": "localhost", "ips": "10.0.0.1"}], "must be a list of strings"),
        ([{"ssh": "mac-2", "ips": ["10.0.0.2"]}], "rank 0 (mac-2) must be this machine"),
        ([{"ssh": "localhost"}, {"ssh": "mac-2", "ips": ["10.0.0.2"]}], "has no 'ips'"),
        ([{"ssh": "localhost"}, {"ssh": "-oProxyCommand=x", "ips": ["1.2.3.4"]}], "not a host"),
        ({"backend": "carrier-pigeon", "hosts": [{"ssh": "localhost"}]}, "not one of ring"),
        ({"envs": 5, "hosts": [{"ssh": "localhost"}]}, "'envs' must be a list"),
    ],
)
def test_a_hostfile_that_cannot_work_is_refused_with_the_reason(tmp_path, data, named):
    with pytest.raises(UsageError) as caught:
        read_hostfile(_write(tmp_path, data))
    assert named in caught.value.message


# spec: DIST-PREFLIGHT
def test_an_unreadable_hostfile_is_named(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    for path in (tmp_path / "bad.json", tmp_path / "missing.json"):
        with pytest.raises(UsageError, match="cannot read the hostfile"):
            read_hostfile(path)


# spec: DIST-SERVE
def test_sharding_follows_what_mlx_lms_class_for_the_type_implements():
    assert sharding_support(LLAMA) == ("tensor",)
    assert sharding_support({"model_type": "qwen2"}) == ("tensor", "pipeline")
    assert sharding_support({"model_type": "phi3"}) == ()
    assert sharding_support({"model_type": "no-such-type"}) == ()
    assert choose_sharding(LLAMA, None, 2) == "tensor"
    assert choose_sharding({"model_type": "qwen2", "num_hidden_layers": 4}, "pipeline", 4)


# spec: DIST-PREFLIGHT
@pytest.mark.parametrize(
    ("config", "wanted", "size", "error", "named"),
    [
        ({"model_type": "phi3"}, None, 2, ModelNotRunnable, "'phi3' cannot be sharded"),
        (LLAMA, "pipeline", 2, UsageError, "no pipeline sharding"),
        (LLAMA, None, 4, UsageError, "num_key_value_heads = 2 does not divide among 4"),
        ({"model_type": "qwen2", "num_hidden_layers": 2}, "pipeline", 4, UsageError, "2 layers"),
    ],
)
def test_a_sharding_that_cannot_work_is_refused_before_launch(config, wanted, size, error, named):
    with pytest.raises(error) as caught:
        choose_sharding(config, wanted, size)
    assert named in caught.value.message
