"""cluster.yaml passes Ray's own cluster-launcher validation, offline."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def test_cluster_yaml_is_valid_for_ray_up() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)  # raises on an invalid config
    assert prepared["provider"]["type"] == "aws"
    assert set(prepared["available_node_types"]) == {"head", "collectors", "analyzers"}
    assert prepared["head_node_type"] == "head"
    setup = " ".join(prepared["setup_commands"])
    assert "pip install -e ~/stockteacher" in setup  # the project is installed on every node
    assert any("ray start --head" in c for c in prepared["head_start_ray_commands"])


def test_an_invalid_cluster_yaml_is_refused() -> None:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    config["available_node_types"]["analyzers"]["max_workers"] = "many"
    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except Exception as exc:  # jsonschema's ValidationError
        assert "many" in str(exc)
    else:
        raise AssertionError("an invalid config passed validation")
