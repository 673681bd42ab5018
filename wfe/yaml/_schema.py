"""The JSON Schema of the YAML workflow format, for editors (``wfe schema`` prints it).

It describes what :mod:`wfe.yaml._spec` accepts; the checks there go further (unique names,
``when`` fields that name something, references and their cycles) and place each problem at
its line and column. ``tests/yaml/test_schema.py`` checks that the examples satisfy it.
"""

from __future__ import annotations

import copy
from typing import Any

from ._conditions import OPERATORS
from ._durations import DURATION_PATTERN
from ._spec import BEHAVIORS, INPUT_TYPES, PERMISSION_FLAGS, PERMISSION_LISTS

__all__ = ["json_schema"]

_DURATION = {
    "description": 'seconds, or text such as "250ms", "30s", "5m", "1h30m"',
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}],
}
_NAMES = {
    "anyOf": [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ]
}
_TYPE_NAMES = [*INPUT_TYPES, *(f"{t}?" for t in INPUT_TYPES)]


def _comparison() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["field"],
        "properties": {
            "field": {"type": "string", "description": "a data path: an input or a step output"},
            **{op: {"const": True} if op.startswith("is_") else {} for op in OPERATORS},
        },
        "additionalProperties": False,
        "minProperties": 2,
        "maxProperties": 2,
    }


_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://wfe.dev/schemas/workflow.yaml.json",
    "title": "wfe YAML workflows",
    "type": "object",
    "oneOf": [{"required": ["workflow"]}, {"required": ["workflows"]}],
    "properties": {
        "workflow": {"$ref": "#/$defs/workflow"},
        "workflows": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/workflow"}},
    },
    "additionalProperties": True,
    "$defs": {
        "duration": _DURATION,
        "errorBehavior": {
            "anyOf": [
                {"enum": list(BEHAVIORS)},
                {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": list(BEHAVIORS)},
                        "interval": {"$ref": "#/$defs/duration"},
                        "max_interval": {"$ref": "#/$defs/duration"},
                        "backoff": {"type": "number", "minimum": 1},
                        "max_retries": {"type": ["integer", "null"], "minimum": 0},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "condition": {
            "anyOf": [
                _comparison(),
                *(
                    {
                        "type": "object",
                        "required": [kind],
                        "properties": {
                            kind: {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
                        },
                        "additionalProperties": False,
                    }
                    for kind in ("all", "any", "none")
                ),
                {
                    "type": "object",
                    "required": ["not"],
                    "properties": {"not": {"$ref": "#/$defs/condition"}},
                    "additionalProperties": False,
                },
            ]
        },
        "hook": {
            "anyOf": [
                {"$ref": "#/$defs/step"},
                {"type": "array", "items": {"$ref": "#/$defs/step"}},
            ]
        },
        "workflow": {
            "type": "object",
            "required": ["id", "steps"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "version": {"type": "integer", "minimum": 1, "default": 1},
                "description": {"type": "string"},
                "inputs": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [
                            {"enum": _TYPE_NAMES},
                            {
                                "type": "object",
                                "properties": {
                                    "type": {"enum": list(INPUT_TYPES)},
                                    "default": {},
                                    "required": {"type": "boolean"},
                                    "description": {"type": "string"},
                                },
                            },
                        ]
                    },
                },
                "outputs": _NAMES,
                "error_behavior": {"$ref": "#/$defs/errorBehavior"},
                "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            },
            "patternProperties": {"^_": {}},
            "additionalProperties": False,
        },
        "step": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "type": {"enum": ["shell", "deno", "workflow"], "default": "shell"},
                "config": {"type": "object"},
                "inputs": {"type": "object", "additionalProperties": {"type": "string"}},
                "outputs": _NAMES,
                "parallel": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
                "when": {"$ref": "#/$defs/condition"},
                "error_behavior": {"$ref": "#/$defs/errorBehavior"},
                "on_success": {"$ref": "#/$defs/hook"},
                "on_failure": {"$ref": "#/$defs/hook"},
                "ensure": {"$ref": "#/$defs/hook"},
            },
            "patternProperties": {"^_": {}},
            "additionalProperties": False,
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "deno"}}, "required": ["type"]},
                    "then": {"properties": {"config": {"$ref": "#/$defs/denoConfig"}}},
                },
                {
                    "if": {"properties": {"type": {"const": "workflow"}}, "required": ["type"]},
                    "then": {"properties": {"config": {"$ref": "#/$defs/workflowConfig"}},
                             "required": ["config"]},
                },
                {
                    "if": {"not": {"anyOf": [{"required": ["type"]}, {"required": ["parallel"]}]}},
                    "then": {"properties": {"config": {"$ref": "#/$defs/shellConfig"}},
                             "required": ["config"]},
                },
                {
                    "if": {"properties": {"type": {"const": "shell"}}, "required": ["type"]},
                    "then": {"properties": {"config": {"$ref": "#/$defs/shellConfig"}},
                             "required": ["config"]},
                },
            ],
        },
        "shellConfig": {
            "type": "object",
            "oneOf": [{"required": ["run"]}, {"required": ["file"]}],
            "properties": {
                "run": {"type": "string", "description": "the command text, run by `shell -c`"},
                "file": {"type": "string", "description": "a script file to run"},
                "shell": {"type": "string", "default": "bash"},
                "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
                "working_dir": {"type": "string"},
                "timeout": {"$ref": "#/$defs/duration"},
            },
            "additionalProperties": False,
        },
        "denoConfig": {
            "type": "object",
            "oneOf": [{"required": ["script"]}, {"required": ["file"]}],
            "properties": {
                "script": {"type": "string"},
                "file": {"type": "string"},
                "permissions": {
                    "type": "object",
                    "properties": {
                        **{k: {"type": "array", "items": {"type": "string"}} for k in PERMISSION_LISTS},
                        **{k: {"type": "boolean"} for k in PERMISSION_FLAGS},
                    },
                    "additionalProperties": False,
                },
                "timeout": {"$ref": "#/$defs/duration"},
            },
            "additionalProperties": False,
        },
        "workflowConfig": {
            "type": "object",
            "required": ["workflow"],
            "properties": {
                "workflow": {"type": "string", "description": "the id of the workflow to start"},
                "version": {"type": "integer", "minimum": 1},
            },
            "additionalProperties": False,
        },
    },
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of YAML workflow files; a fresh copy each call."""
    return copy.deepcopy(_SCHEMA)
