#!/usr/bin/env python3
"""Checks a blind batch's files against the brief: usage validate.py compile.json describe.tsv"""
import json, pathlib, sys, yaml
ROOT = pathlib.Path(__file__).resolve().parents[3]
fx = json.loads((ROOT / "tests/data/blind/fixture.json").read_text())
providers = {p["id"]: p for p in (yaml.safe_load(f.read_text()) for f in (ROOT / "shared/providers").glob("*.yaml"))}
ops = {}
for i in fx["integrations"]:
    if i["provider"] == "custom_http":
        ops[i["name"]] = {e["name"] for e in i["config"]["endpoints"]}
    else:
        ops[i["name"]] = {o["id"] for o in providers[i["provider"]]["operations"]}
errors = []
cases = json.loads(pathlib.Path(sys.argv[1]).read_text())["cases"]
for n, c in enumerate(cases):
    e = c.get("expect", {})
    where = f"case {n} {c.get('instruction','')[:50]!r}"
    if "instruction" not in c: errors.append(f"{where}: no instruction")
    if c.get("entity") and c["entity"] not in fx["entities"]: errors.append(f"{where}: unknown entity {c['entity']}")
    if "error" in e: continue
    if e.get("integration") not in ops: errors.append(f"{where}: unknown integration {e.get('integration')}")
    elif e.get("operation") not in ops[e["integration"]]: errors.append(f"{where}: {e['integration']} has no operation {e.get('operation')}")
    t = e.get("trigger", {})
    if t.get("kind") == "entity":
        names = {v["name"] for v in fx["entities"].values()}
        if t.get("entity") not in names: errors.append(f"{where}: trigger entity {t.get('entity')} not an entity name")
    elif t.get("kind") == "data_change":
        if t.get("integration") not in ops: errors.append(f"{where}: trigger integration unknown")
    else: errors.append(f"{where}: trigger kind")
allowed = set(providers) | {"custom_http", "none"}
lines = [l for l in pathlib.Path(sys.argv[2]).read_text().splitlines() if l.strip() and not l.startswith("#")]
for l in lines:
    if "\t" not in l: errors.append(f"describe line without a tab: {l!r}"); continue
    if l.split("\t")[0] not in allowed: errors.append(f"describe label {l.split(chr(9))[0]!r}")
print(f"{len(cases)} compile cases, {len(lines)} describe lines")
print("\n".join(errors) or "ok")
sys.exit(1 if errors else 0)
