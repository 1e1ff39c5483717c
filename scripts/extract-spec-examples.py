#!/usr/bin/python3
"""Writes the example answers and requests of OpenAI's OpenAPI description as JSON lines
for tests/proto/example_round_trip, each with the message type it must fit.

Usage: extract-spec-examples.py SPEC.yaml DESCRIPTOR_SET OUT.jsonl
Each line is {"op": operationId, "side": "response"|"request"|"event", "type": full
message name, "json": the example}. Operations are matched to RPCs by method and path (the
http rules in the descriptor set), so the RPCs' own names do not matter. Answers: each
example response (x-oaiMeta) of an RPC that answers one JSON message. Requests: the JSON
body of each example's curl command (`-d '{...}'`) of an RPC whose request is the body
(`body: "*"`) and that takes no path or query fields the example would leave out.
Events: the example (x-oaiMeta) of each variant of the WebSocket event unions, the
messages of the bidirectional RPCs (their request's `event` field and their answer),
which are named as the spec's union components; "op" is the variant's component name
(or its title, for an inline variant, whose example is that of the component it wraps).
Exits 77 (skipped) when the spec is missing.
"""
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_rules  # noqa: E402

CURL_BODY = re.compile(r"""(?:-d|--data(?:-raw)?)\s+'(\{.*?\})'\s*(?:$|\\|\n)""", re.S)


def examples(op):
    meta = (op.get("x-oaiMeta") or {}).get("examples")
    return meta if isinstance(meta, list) else [meta] if meta else []


def parsed(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None  # prose or a stream transcript, not one JSON value


def curl_body(example):
    request = example.get("request") if isinstance(example, dict) else None
    curl = request.get("curl") if isinstance(request, dict) else None
    match = CURL_BODY.search(curl or "")
    return parsed(match.group(1)) if match else None


def event_examples(spec, rpcs):
    """(lines, skipped): an "event" line for each variant example of the unions the
    bidirectional RPCs carry, and how many examples were no single JSON value."""
    comps = spec["components"]["schemas"]
    lines, skipped, seen = [], 0, set()
    for rpc in rpcs:
        if not (rpc.client_streaming and rpc.server_streaming):
            continue
        event = rpc.input_fields.get("event")
        for full in ([event.message_type.full_name] if event is not None else []) + [rpc.output]:
            union = comps.get(full.rsplit(".", 1)[-1])
            if union is None or full in seen:
                continue
            seen.add(full)
            for v in union.get("anyOf") or union.get("oneOf") or []:
                name = v.get("$ref", "").rsplit("/", 1)[-1] or v.get("title", "?")
                s = comps[name] if "$ref" in v else v
                text = (s.get("x-oaiMeta") or {}).get("example")
                for part in ([] if text else s.get("allOf", [])):
                    if "$ref" in part:
                        text = (comps[part["$ref"].rsplit("/", 1)[-1]].get("x-oaiMeta")
                                or {}).get("example")
                example = parsed(text)
                if example is None:
                    skipped += bool(text)
                    continue
                lines.append({"op": name, "side": "event", "type": full, "json": example})
    return lines, skipped


def template_key(verb, path):
    return verb.upper(), re.sub(r"\{[^}]*\}", "{}", path)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(argv[1]):
        print(f"skipped: no spec at {argv[1]}")
        return 77
    spec = yaml.load(open(argv[1]), Loader=yaml.CSafeLoader)
    _, rpcs = proto_rules.load(argv[2])
    by_route = {}
    for rpc in rpcs:
        if rpc.client_streaming:
            continue
        for verb, path, body in rpc.bindings:
            by_route.setdefault(template_key(verb, path), []).append((rpc, body))
    lines = []
    for path, item in spec["paths"].items():
        for verb, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            candidates = by_route.get(template_key(verb, "/v1" + path.partition("?")[0]), [])
            unary = [(r, b) for r, b in candidates if not r.server_streaming]
            if not unary:
                continue
            rpc, body = unary[0]
            path_vars = set(re.findall(r"\{([^}=]*)", path))
            for example in examples(op):
                answer = parsed(example.get("response")) if isinstance(example, dict) else None
                if answer is not None and not rpc.output.endswith(".HttpBody"):
                    lines.append({"op": op["operationId"], "side": "response",
                                  "type": rpc.output, "json": answer})
                request = curl_body(example)
                if request is not None and body == "*" and not path_vars:
                    lines.append({"op": op["operationId"], "side": "request",
                                  "type": rpc.input, "json": request})
    events, skipped = event_examples(spec, rpcs)
    lines += events
    with open(argv[3], "w") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    print(f"{sum(l['side'] == 'response' for l in lines)} answers, "
          f"{sum(l['side'] == 'request' for l in lines)} requests and {len(events)} WebSocket "
          f"events written to {argv[3]} ({skipped} event examples skipped: not one JSON value)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
