"""config/schema.yaml: JSON Schema 2020-12, closed at every level, so that a misspelt key stops the run
with a message naming it (mheval.config.check_config, called by the Snakefile before anything else)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mheval.config import ConfigError, check_config, typed_values
from mheval.subgroups.bayes import DEFAULT_BAYES
from mheval.subgroups.definitions import DEFAULT_SPEC
from mheval.synth.params import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
# mappings whose keys are labels the user names (so no key of them can be misspelt)
FREE_LABELS = {"properties.subgroups.properties.definitions.properties.race.properties.groups"}


def _resolve(node: dict) -> dict:
    """A property's schema with its $ref (local, #/$defs/...) merged under its own keywords."""
    if "$ref" not in node:
        return node
    target = SCHEMA
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def _objects(node, where=""):
    """Every object schema in the schema (with where it is)."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}.{key}".lstrip("."))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}.{i}")


def _config_paths(cfg: dict, prefix=()):
    """Every key path of a config (nested mappings included)."""
    for key, value in cfg.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _config_paths(value, (*prefix, key))


def _schema_at(path) -> tuple[dict, bool]:
    """The schema of a config key, and whether its name is a label (a key of a mapping)."""
    node, label = SCHEMA, False
    for key in path:
        node = _resolve(node)
        props = node.get("properties", {})
        label = key not in props
        node = node["additionalProperties"] if label else props[key]
    return _resolve(node), label


# sections of the config whose keys are names of things (outcomes, the user's labels), not settings
LABELLED = [p for p in {p[:-1] for p in _config_paths(CONFIG) if len(p) > 1} if _schema_at(p)[0]
            .get("additionalProperties") is not False]
SECTIONS = sorted({p[:-1] for p in _config_paths(CONFIG) if len(p) > 1} - set(LABELLED) | {()}, key=lambda s: (len(s), s))


def test_schema_is_2020_12_and_the_shipped_config_follows_it():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    check_config(CONFIG, ROOT / "config" / "schema.yaml")


def test_every_object_is_closed():
    for where, node in _objects(SCHEMA):
        extra = node.get("additionalProperties")
        if extra is False:
            continue
        # a mapping keyed by names from a fixed list (outcome -> direction), or by the user's labels
        assert isinstance(extra, dict) and ("propertyNames" in node or where in FREE_LABELS), where


def test_every_config_key_is_declared_with_type_and_description():
    paths = list(_config_paths(CONFIG))
    assert len(paths) > 100
    for path in paths:
        node, label = _schema_at(path)
        assert "type" in node, ".".join(path)
        assert label or node.get("description"), ".".join(path)


def _keys(node: dict) -> dict:
    """Nested key tree of a schema's object properties."""
    node = _resolve(node)
    return {k: _keys(v) if _resolve(v).get("type") == "object" and "properties" in _resolve(v) else None
            for k, v in node.get("properties", {}).items()}


def _tree(d: dict) -> dict:
    return {k: _tree(v) if isinstance(v, dict) and v else None for k, v in d.items()}


def test_schema_declares_the_library_keys():
    """The synthetic section takes any parameter of the generator, the subgroup blocks any setting
    of the subgroup code, and nothing else."""
    synthetic = _keys(SCHEMA["properties"]["synthetic"])
    defaults = _tree(DEFAULTS)
    assert set(synthetic["race_probs"]) >= set(defaults["race_probs"])  # every RACE code of the contract
    synthetic["race_probs"] = defaults["race_probs"] = None
    assert synthetic == defaults
    definitions = SCHEMA["properties"]["subgroups"]["properties"]["definitions"]["properties"]
    assert set(definitions) == set(DEFAULT_SPEC)
    for dim, spec in DEFAULT_SPEC.items():
        if isinstance(spec, dict):
            assert set(spec) <= set(_resolve(definitions[dim])["properties"]), dim
    bayes = SCHEMA["properties"]["subgroups"]["properties"]["bayes"]["properties"]
    assert set(bayes) == set(DEFAULT_BAYES)
    for key in ("sampler", "diagnostics"):
        assert set(bayes[key]["properties"]) == set(DEFAULT_BAYES[key]), key


def test_labelled_sections_are_the_expected_ones():
    assert sorted(LABELLED) == [("models", "reading", "directions"), ("models", "reading", "priors"),
                                ("subgroups", "bayes", "directions"), ("subgroups", "definitions", "race", "groups")]


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: ".".join(s) or "top")
def test_a_misspelt_key_is_named_at_every_level(section):
    cfg = copy.deepcopy(CONFIG)
    node = cfg
    for key in section:
        node = node[key]
    node["misspelt_key"] = 1
    with pytest.raises(ConfigError, match=r"config key " + r"\.".join([*section, "misspelt_key"]) + " is not allowed"):
        check_config(cfg, SCHEMA)


def test_an_unknown_outcome_name_and_a_wrong_type_are_named():
    cfg = copy.deepcopy(CONFIG)
    cfg["subgroups"]["bayes"]["directions"]["offce_mh"] = "increase"
    cfg["models"]["alpha"] = "ten percent"
    with pytest.raises(ConfigError) as err:
        check_config(cfg, SCHEMA)
    msg = str(err.value)
    assert msg.startswith("2 problem(s)")
    assert "config models.alpha: 'ten percent' is not of type 'number'" in msg
    assert "config subgroups.bayes.directions: 'offce_mh' is not one of" in msg


@pytest.mark.parametrize(("override", "name"), [("modles={alpha: 0.1}", "modles"),
                                                ("models={alpah: 0.1}", "models.alpah"),
                                                ("subgroups={bayes: {sampler: {draw: 100}}}",
                                                 "subgroups.bayes.sampler.draw")])
def test_snakemake_stops_on_a_misspelt_key(workflow_copy, override, name):
    wd = workflow_copy("misspelt")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--directory", str(wd),
                           "--snakefile", str(wd / "Snakefile"), "--config", override],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"config key {name} is not allowed (misspelt?)" in proc.stderr + proc.stdout
    assert not (wd / "results").exists()


def test_command_line_values_are_typed_as_the_schema_expects():
    # what Snakemake hands over for --config "synthetic={scale: 0.004}" "claims={runout_date: 2022-06-30}"
    raw = {"synthetic": {"scale": "0.004", "seed": "7", "n": ["1", "x"]}, "claims": {"runout_date": "2022-06-30"},
           "flag": "true", "name": "high_medium", "bad": "{a: [", "kept": 3}
    assert typed_values(raw) == {"synthetic": {"scale": 0.004, "seed": 7, "n": [1, "x"]},
                                 "claims": {"runout_date": "2022-06-30"}, "flag": True, "name": "high_medium",
                                 "bad": "{a: [", "kept": 3}
