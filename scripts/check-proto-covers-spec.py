#!/usr/bin/python3
"""Fails when an operation of OpenAI's OpenAPI description has no RPC in proto/.

Usage: check-proto-covers-spec.py SPEC.yaml DESCRIPTOR_SET
Every operation (method + "/v1" + path) needs an RPC whose google.api.http rule (or one
of its additional_bindings) has that method and path template, with a `body` exactly
when the operation takes a request body. A spec path with a fixed query
(`/responses?beta=true`) needs the bare path and a request field named after each
query key. Exits 77 (skipped) when the spec file is missing, 1 listing every operation
not covered, 0 otherwise.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_rules  # noqa: E402

METHODS = ("get", "put", "post", "delete", "patch")


def check_rule(rpc, path, body):
    """Why a rule cannot work with the RPC's request message (google.api.http semantics)."""
    problems = []
    for var in re.findall(r"\{([^}=]+)", path):
        fd = rpc.input_fields.get(var)
        if fd is None:
            problems.append(f"path variable {{{var}}} is no field of {rpc.input}")
        elif fd.label == fd.LABEL_REPEATED or fd.type == fd.TYPE_MESSAGE:
            problems.append(f"path variable {{{var}}} is not a singular scalar field")
    if body and body != "*" and body not in rpc.input_fields:
        problems.append(f'body "{body}" is no field of {rpc.input}')
    return problems


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1])
    spec_path, descriptor_set = argv[1], argv[2]
    if not os.path.exists(spec_path):
        print(f"skipped: no OpenAPI description at {spec_path}")
        return 77
    import yaml
    with open(spec_path) as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    prefix = "/v1"  # the spec's server URL is https://api.openai.com/v1
    server = spec.get("servers", [{}])[0].get("url", "")
    if not server.endswith(prefix):
        print(f"unexpected server URL in the spec: {server}")
        return 1
    _, rpcs = proto_rules.load(descriptor_set)
    rules, malformed = {}, []
    for rpc in rpcs:
        for verb, path, body in rpc.bindings:
            rules.setdefault((verb, path), []).append((rpc, body))
            malformed += [f"  {rpc.service}/{rpc.name}: {why}" for why in check_rule(rpc, path, body)]
    missing, total = [], 0
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            total += 1
            op = item[method]
            base, _, query = path.partition("?")
            keys = [q.split("=", 1)[0] for q in query.split("&") if q]
            has_body = "requestBody" in op
            want = (method.upper(), prefix + base)
            ok = any(bool(body) == has_body and all(k in rpc.input_fields for k in keys)
                     for rpc, body in rules.get(want, []))
            if not ok:
                missing.append(f"  {want[0]} {prefix}{path} ({op.get('operationId')})"
                               + (" [with a body]" if has_body else ""))
    if malformed:
        print("RPCs whose google.api.http rule does not fit their request message:")
        print("\n".join(malformed))
    if missing:
        print(f"{len(missing)} of {total} operations in {spec_path} have no RPC in the "
              "protos with that google.api.http rule:")
        print("\n".join(missing))
        return 1
    if malformed:
        return 1
    print(f"all {total} operations of the spec have an RPC ({len(rpcs)} RPCs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
