#!/usr/bin/python3
"""scripts/protogen.py keeps the field numbers of the last release (gen/released.binpb)
when OpenAI's description changes: a spec with a property added before the others and
one removed must give the same numbers to the fields that stay, a new number to the new
field, and reserve the removed one's number and name.

Usage: protogen_numbers_test.py SPEC.yaml     (exits 77, skipped, without the spec)
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fields(proto_text, message):
    body = re.search(r"^message %s \{\n(.*?)^\}" % message, proto_text, re.S | re.M).group(1)
    numbers = dict((name, int(n)) for name, n in
                   re.findall(r"^  (?:optional |repeated )?\S+ (\w+) = (\d+)", body, re.M))
    reserved = re.findall(r"^  reserved (.*);", body, re.M)
    return numbers, reserved


def main(argv):
    if not os.path.exists(argv[1]):
        print(f"skipped: no spec at {argv[1]}")
        return 77
    with open(argv[1]) as fh:
        spec = yaml.load(fh, Loader=yaml.CSafeLoader)
    with open(os.path.join(ROOT, "proto/openai/v1/embeddings.proto")) as fh:
        before, _ = fields(fh.read(), "CreateEmbeddingRequest")
    props = spec["components"]["schemas"]["CreateEmbeddingRequest"]["properties"]
    assert "user" in props and "model" in props, "the spec changed: pick other fields"
    del props["user"]
    spec["components"]["schemas"]["CreateEmbeddingRequest"]["properties"] = dict(
        [("aaa_new", {"type": "string"})] + list(props.items()))
    with tempfile.TemporaryDirectory() as work:
        changed = os.path.join(work, "openapi.yaml")
        with open(changed, "w") as fh:
            yaml.dump(spec, fh, Dumper=yaml.CSafeDumper)
        out = os.path.join(work, "v1")
        os.makedirs(out)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts/protogen.py"), changed,
                        out], check=True, capture_output=True)
        with open(os.path.join(out, "embeddings.proto")) as fh:
            after, reserved = fields(fh.read(), "CreateEmbeddingRequest")
    problems = []
    for name, number in before.items():
        if name != "user" and after.get(name) != number:
            problems.append(f"{name} was {number}, now {after.get(name)}")
    if after.get("aaa_new", 0) <= max(n for n in before.values() if n != 2047) or \
            after.get("aaa_new") == 2047:
        problems.append(f"the new field took number {after.get('aaa_new')}, one already used")
    if reserved != [str(before["user"]), '"user"']:
        problems.append(f"the removed field is not reserved by number and name: {reserved}")
    for p in problems:
        print(p)
    print(f"{len(before)} released fields checked: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
