#!/usr/bin/env python3
"""Writes the brief a blind writer gets: the product, the providers, each operation's
name and input fields, the webhook entities, the project's integrations and entities,
and the label format. It reads only the catalog's ids, names, descriptions and schemas:
never the phrases, aliases or capabilities the matchers use, nor the compiler's code
or the earlier labelled sets. Usage: python3 tests/data/blind/brief.py > BRIEF.md"""
import json
import pathlib
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURE = json.loads((ROOT / "tests/data/blind/fixture.json").read_text())


def fields(schema, prefix="", depth=0):
    out = []
    props = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    for name, sub in props.items():
        path = f"{prefix}{name}"
        kind = sub.get("type", "any")
        mark = " (required)" if name in required else ""
        out.append(f"{path}: {kind}{mark}")
        if depth < 2 and kind == "object":
            out.extend(fields(sub, path + ".", depth + 1))
        if depth < 2 and kind == "array" and isinstance(sub.get("items"), dict):
            out.extend(fields(sub["items"], path + ".0.", depth + 1))
    return out


print("# Brief for writing blind test sentences\n")
print(open(ROOT / "tests/data/blind/intro.md").read())
print("## Providers and their operations\n")
for f in sorted((ROOT / "shared/providers").glob("*.yaml")):
    p = yaml.safe_load(f.read_text())
    print(f"### {p['display_name']} (provider id `{p['id']}`, category {p['category']})\n")
    print(p.get("description", "").strip() + "\n")
    cfg = [c["name"] for c in p.get("config", [])]
    if cfg:
        print("Config fields an integration can hold: " + ", ".join(f"`{c}`" for c in cfg) + "\n")
    for o in p["operations"]:
        print(f"- operation `{o['id']}` ({o['name']}): {o.get('description', '').strip()}")
        defaults = o.get("defaults") or {}
        for line in fields(o.get("input_schema")):
            key = line.split(":")[0]
            note = f" — filled from config by default ({defaults[key]})" if key in defaults else ""
            print(f"    - `{line}`{note}")
    wh = p.get("webhooks") or {}
    ents = sorted({
        (e["entity_type"], c)
        for e in wh.get("entities", [])
        # A change read from the payload (`{from: /action}`) can be any of the three.
        for c in ([e["change"]] if isinstance(e["change"], str) else ["created", "updated", "deleted"])
    })
    if ents:
        print("\nWebhook data changes it reports (entity type, change): " + ", ".join(f"`{t}` {c}" for t, c in ents))
    print()
print("## Custom HTTP (provider id `custom_http`)\n")
print("Any REST API the user declares: base URL, auth, and endpoints (name, method, path, input schema).\n")
print("## The project's integrations (for compile sentences)\n")
print("```json\n" + json.dumps(FIXTURE["integrations"], indent=1) + "\n```\n")
print("## The project's entities (for compile sentences)\n")
print("```json\n" + json.dumps(FIXTURE["entities"], indent=1) + "\n```\n")
