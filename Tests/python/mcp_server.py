#!/usr/bin/env python3
"""A tiny MCP server over stdio, written with the official `mcp` Python SDK (2.x, MCPServer), for `forge agent --mcp`.
Tools: word_count(text) and add(a, b). Each call is appended to LOG as one JSON line {"tool", "arguments"}, so the
test can see what the agent sent.

Usage: python3 Tests/python/mcp_server.py LOG
"""
import json, sys

from mcp.server.mcpserver import MCPServer

log = sys.argv[1]
server = MCPServer("forge-test-tools")


def record(tool, arguments):
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@server.tool()
def word_count(text: str) -> str:
    """Counts the words in a text."""
    record("word_count", {"text": text})
    return f"{len(text.split())} words"


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    record("add", {"a": a, "b": b})
    return a + b


if __name__ == "__main__":
    server.run("stdio")
