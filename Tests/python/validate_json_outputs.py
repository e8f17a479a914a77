#!/usr/bin/env python3
"""Checks generated JSON texts against their schemas with the `jsonschema` package (Draft 2020-12).

Usage: python3 Tests/python/validate_json_outputs.py FILE.jsonl
Each line: {"schema": {...}, "output": "generated text"}. Prints one JSON object:
{"total": n, "valid": k, "failures": ["line i: why", ...]} (exit 0 either way: the caller judges).
"""
import json
import sys

import jsonschema

total, valid, failures = 0, 0, []
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f):
        if not line.strip():
            continue
        total += 1
        record = json.loads(line)
        try:
            instance = json.loads(record["output"])
        except json.JSONDecodeError as e:
            failures.append(f"line {i}: not JSON ({e}): {record['output']!r}")
            continue
        try:
            jsonschema.Draft202012Validator(record["schema"]).validate(instance)
            valid += 1
        except jsonschema.ValidationError as e:
            failures.append(f"line {i}: {e.message}: {record['output']!r}")
print(json.dumps({"total": total, "valid": valid, "failures": failures}))
