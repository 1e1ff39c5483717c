#!/usr/bin/python3
"""Fails when an answer shown in OpenAI's OpenAPI description does not fit proto/.

Usage: check-proto-fits-examples.py SPEC.yaml DESCRIPTOR_SET
Each operation's example response (x-oaiMeta) is parsed as the JSON of its unary RPC's
response message by protobuf's strict JSON parser (unknown fields ignored): a value of
the wrong JSON type means the generated type is wrong, and the gateway's lenient reader
would drop that value for a gRPC caller. Examples known to contradict the spec's own
schema are listed in KNOWN with why. Exits 77 (skipped) when the spec is missing.
"""
import json
import os
import sys

import yaml
from google.protobuf import json_format, message_factory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_rules  # noqa: E402

# operationId -> why its example cannot parse; each is the spec disagreeing with itself.
KNOWN = {
    # metadata.token_usage is declared an integer, the example shows an object.
    "runGrader": "example contradicts schema",
    # search_query is declared an array of strings, the example shows one string.
    "searchVectorStore": "example contradicts schema",
}


def examples(op):
    meta = (op.get("x-oaiMeta") or {}).get("examples")
    for example in meta if isinstance(meta, list) else [meta] if meta else []:
        text = example.get("response") if isinstance(example, dict) else None
        if not text:
            continue
        try:
            yield json.loads(text)
        except ValueError:
            continue  # prose or a stream transcript, not one JSON answer


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(argv[1]):
        print(f"skipped: no spec at {argv[1]}")
        return 77
    spec = yaml.load(open(argv[1]), Loader=yaml.CSafeLoader)
    files, rpcs = proto_rules.load(argv[2])
    pool = proto_rules.pool_of(files)
    factory = message_factory.MessageFactory(pool)
    by_name = {rpc.name.lower(): rpc for rpc in rpcs}
    checked, failures = 0, []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            rpc = by_name.get(op["operationId"].replace("-", "").replace("_", "").lower())
            if rpc is None or rpc.server_streaming or rpc.output.endswith(".HttpBody"):
                continue
            for answer in examples(op):
                checked += 1
                message = factory.GetPrototype(pool.FindMessageTypeByName(rpc.output))()
                try:
                    json_format.ParseDict(answer, message, ignore_unknown_fields=True)
                except json_format.ParseError as e:
                    if op["operationId"] not in KNOWN:
                        failures.append(f"{op['operationId']} ({rpc.output}): {e}")
    for failure in failures:
        print(failure)
    print(f"{checked} example answers checked, {len(failures)} do not fit proto/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
