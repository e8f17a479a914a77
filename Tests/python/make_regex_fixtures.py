#!/usr/bin/env python3
"""Writes Tests/ForgeTests/Fixtures/tricky_texts.json (the texts) and regex_cases.json: matches of the pre-tokenizer patterns of
byte-level BPE tokenizers on tricky texts, found by Python's `regex` module (the reference for
Forge's SplitRegex). Usage: python3 Tests/python/make_regex_fixtures.py"""
import json, os, sys
import regex

sys.path.insert(0, os.path.dirname(__file__))
from tricky_texts import TEXTS

PATTERNS = [
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"\p{N}",
    r"[\p{P}\$\+<=>\^~\|]+",
    r"\s?\p{L}+",
    r"\s?\p{P}+",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\s+$",
    r"[0-9][0-9][0-9]",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r" ?[^(\s|.,!?…。，、।۔،)]+",
    r"\d{1,3}(?=(?:\d{3})*\b)",
    r"a{2,3}?|b*?c",
]

cases = []
for p in PATTERNS:
    rx = regex.compile(p)
    for t in TEXTS:
        cases.append({"pattern": p, "text": t, "matches": [m.group(0) for m in rx.finditer(t) if m.end() > m.start()]})
out = os.path.join(os.path.dirname(__file__), "..", "ForgeTests", "Fixtures", "regex_cases.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"generator": "Tests/python/make_regex_fixtures.py", "regex_version": regex.__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
print(f"{len(cases)} cases -> {out}")
with open(os.path.join(os.path.dirname(out), "tricky_texts.json"), "w", encoding="utf-8") as f:
    json.dump(TEXTS, f, ensure_ascii=False, indent=0)
