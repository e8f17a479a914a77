#!/usr/bin/env python3
"""schemathesis against a running `forge serve`'s /openapi.json: every check except positive_data_acceptance.

Usage: python3 Tests/python/schemathesis_check.py BASE_URL API_KEY [MAX_EXAMPLES [PATH_REGEX]]
PATH_REGEX limits the run to the operations whose path matches it.
positive_data_acceptance is left out because some schema-valid requests are refused for reasons a schema cannot state:
a prompt whose text has no tokens in the model's vocabulary (llama.cpp drops such bytes too), or prompts x n above the
server's choices limit. Every other check runs: no 5xx, status codes, content types and bodies as documented,
invalid data rejected, 401 without the key, 405 for other methods.
Prints one JSON object: {"status": exit status of schemathesis, "output": the end of its report} (exit 0 either way).
"""
import json, subprocess, sys, tempfile

base, key = sys.argv[1], sys.argv[2]
examples = sys.argv[3] if len(sys.argv) > 3 else "60"
only = ["--include-path-regex", sys.argv[4]] if len(sys.argv) > 4 else []
with tempfile.TemporaryDirectory() as cwd:
    p = subprocess.run([sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; "
                        "sys.exit(schemathesis())", "run", base + "/openapi.json", "-H", f"Authorization: Bearer {key}",
                        "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", examples,
                        "--workers", "1", "--seed", "20261204", "--no-color",
                        # A request for n=15 completions can take longer than schemathesis's 10 s on two busy cores.
                        "--request-timeout", "120", "--max-response-time", "120"] + only,
                       cwd=cwd, capture_output=True, text=True, timeout=1800)
print(json.dumps({"status": p.returncode, "output": (p.stdout + p.stderr)[-6000:]}))
