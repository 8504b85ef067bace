"""The workflow's configuration checked against its schema (config/schema.yaml, JSON Schema 2020-12).

The schema closes every object (``additionalProperties: false``), so that a misspelt key stops the
run. :func:`check_config` reports every problem at once, each under its dotted key
(``models.alpah``), in a few lines rather than a dump of the schema and the config.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """The configuration does not follow config/schema.yaml."""


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def check_config(config: dict, schema: str | Path | dict) -> None:
    """Raise :class:`ConfigError` listing every way ``config`` breaks ``schema``.

    ``schema`` is the path of a YAML or JSON schema, or the schema itself. A key the schema does
    not declare is named with its full path and the keys its section takes, e.g. ``config key
    models.alpah is not allowed (misspelt?); models takes: alpha, binary_outcomes, ...``.
    """
    import jsonschema

    if not isinstance(schema, dict):
        schema = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = _where(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = err.schema.get("properties", {})
            section = where if err.absolute_path else "the config"
            for key in sorted(set(err.instance) - set(known), key=str):
                name = f"{where}.{key}" if err.absolute_path else str(key)
                problems.append(f"config key {name} is not allowed (misspelt?); {section} takes: "
                                f"{', '.join(sorted(known))}")
        else:
            problems.append(f"config {where}: {err.message}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in the config (config/schema.yaml):\n- " + "\n- ".join(problems))


def typed_values(node):
    """``node`` with text that YAML reads as a number or a boolean turned into one, and dates as ISO text.

    Nested ``--config`` values reach the Snakefile as text (Snakemake parses them with YAML's
    BaseLoader): ``synthetic={scale: 0.004}`` gives ``"0.004"``. The schema expects numbers and
    booleans, and dates as ISO text (``2022-06-30``), which is what this returns; other text is kept.
    """
    import datetime

    if isinstance(node, dict):
        return {k: typed_values(v) for k, v in node.items()}
    if isinstance(node, list):
        return [typed_values(v) for v in node]
    if isinstance(node, str):
        try:
            value = yaml.safe_load(node)
        except yaml.YAMLError:
            return node
        if isinstance(value, (bool, int, float)):
            return value
        return value.isoformat() if isinstance(value, datetime.date) else node
    return node.isoformat() if isinstance(node, datetime.date) else node
