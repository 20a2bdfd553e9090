#!/usr/bin/env python3
"""Counts activity records the way `transferd activity` should, for its test: an independent
reference. Usage: activity_count.py LOG TYPE SINCE BY [sum|where:FIELD~REGEXP]
Prints one JSON object: {"matched": N, "groups": {"v1\u0000v2": [count, bytes_in, bytes_out]}}."""
import json, re, sys
from datetime import datetime, timezone

log, typ, since, by = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
extra = sys.argv[5] if len(sys.argv) > 5 else ""
since_t = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
where = None
if extra.startswith("where:"):
    field, pattern = extra[len("where:"):].split("~", 1)
    where = (field, re.compile(pattern))
matched, groups = 0, {}
with open(log) as f:
    for line in f:
        r = json.loads(line)
        if r.get("activity-type") != typ:
            continue
        if since_t and datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) < since_t:
            continue
        if where and not where[1].search(str(r.get(where[0], ""))):
            continue
        matched += 1
        key = "\u0000".join(str(r.get(b, "")) for b in by)
        g = groups.setdefault(key, [0, 0, 0])
        g[0] += 1
        if extra == "sum":
            g[1] += int(r.get("bytes-in") or 0)
            g[2] += int(r.get("bytes-out") or 0)
print(json.dumps({"matched": matched, "groups": groups}))
