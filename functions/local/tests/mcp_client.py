"""The studio's MCP server as the official MCP Python SDK (PyPI `mcp`) sees it.

Driven by functions/local/tests/mcp_python.rs:

    python mcp_client.py BASE_URL PROJECT TOKEN PHASE

connects to BASE_URL/projects/PROJECT/mcp with the SDK's own Streamable HTTP client
and `ClientSession` (bearer TOKEN), runs one phase and prints one JSON line of what it
saw, for the Rust test to assert on:

- `first`: initialize; list the tools; call `clinic-mail.send_email` in sandbox; call
  `tickets.create_ticket` live, which must be refused (agents' live calls are off).
- `live`: initialize; call `tickets.create_ticket` live, which must be sent.

The SDK checks each structured result against the tool's outputSchema itself; any
exception, or a check below that fails, ends the script with a non-zero status and the
reason on stderr.
"""

import asyncio
import json
import sys

import httpx2
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client

REQUIRED_TOOLS = (
    "clinic-mail.send_email",
    "tickets.create_ticket",
    "describe_integration",
    "compile_step",
)


class CheckFailed(Exception):
    """What the server answered is not what the studio promises."""


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def text_of(result):
    """The text blocks of a tool result, joined."""
    return "\n".join(block.text for block in result.content if getattr(block, "type", None) == "text")


def outcome(result):
    """A tool result as JSON: isError, its text and its structured content."""
    return {
        "is_error": bool(result.is_error),
        "text": text_of(result),
        "structured": result.structured_content,
    }


async def first(session):
    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    sandbox = await session.call_tool(
        "clinic-mail.send_email",
        {"To": "pat@example.com", "Subject": "Your visit", "TextBody": "See you at 9."},
    )
    refused = await session.call_tool("tickets.create_ticket", {"title": "Printer", "mode": "live"})
    return {
        "tools": sorted(tools),
        "more_tools": listed.next_cursor is not None,
        "with_output_schema": sorted(name for name, tool in tools.items() if tool.output_schema is not None),
        "send_email_input_schema": tools["clinic-mail.send_email"].input_schema
        if "clinic-mail.send_email" in tools
        else None,
        "sandbox": outcome(sandbox),
        "refused": outcome(refused),
    }


async def live(session):
    await session.list_tools()
    sent = await session.call_tool("tickets.create_ticket", {"title": "Printer", "mode": "live"})
    return {"sent": outcome(sent)}


def check_first(seen):
    check(not seen["more_tools"], "tools/list is one page")
    for name in REQUIRED_TOOLS:
        check(name in seen["tools"], f"tools/list lacks {name}: {seen['tools']}")
    for name in seen["tools"]:
        if "." in name:
            check(name in seen["with_output_schema"], f"{name} has no outputSchema")
    sandbox = seen["sandbox"]
    check(not sandbox["is_error"], f"the sandbox call failed: {sandbox['text']}")
    out = sandbox["structured"]
    check(isinstance(out, dict), "the sandbox call has structuredContent")
    check(out.get("mode") == "sandbox", f"mode: {out.get('mode')}")
    check(out.get("effect") == "would_have_sent", f"effect: {out.get('effect')}")
    request = out.get("request") or {}
    check(request.get("url") == "https://api.postmarkapp.com/email", f"url: {request.get('url')}")
    body = request.get("body_json") or {}
    check(body.get("To") == "pat@example.com", f"To: {body.get('To')}")
    check(body.get("From") == "clinic@example.com", f"From: {body.get('From')}")
    refused = seen["refused"]
    check(refused["is_error"], "the live call was not refused")
    check("live calls by agents are off" in refused["text"], f"refused with: {refused['text']}")


def check_live(seen):
    sent = seen["sent"]
    check(not sent["is_error"], f"the live call failed: {sent['text']}")
    out = sent["structured"]
    check(isinstance(out, dict), "the live call has structuredContent")
    check(out.get("mode") == "live" and out.get("effect") == "sent", f"not sent: {out}")


PHASES = {"first": (first, check_first), "live": (live, check_live)}


async def run(base, project, token, phase):
    """Connects, initializes and runs the phase; returns what it saw."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
        async with streamable_http_client(f"{base}/projects/{project}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                initialized = await session.initialize()
                seen = {
                    "phase": phase,
                    "protocol_version": initialized.protocol_version,
                    "server": initialized.server_info.name,
                    "tools_capability": initialized.capabilities.tools is not None,
                }
                seen.update(await PHASES[phase][0](session))
    return seen


def main(base, project, token, phase):
    seen = asyncio.run(run(base, project, token, phase))
    # Printed before checking, so a failed check can be read against what was seen.
    print(json.dumps(seen, sort_keys=True), flush=True)
    try:
        PHASES[phase][1](seen)
    except CheckFailed as failed:
        sys.exit(f"check failed: {failed}")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[4] not in PHASES:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL PROJECT TOKEN {'|'.join(PHASES)}")
    main(*sys.argv[1:])
