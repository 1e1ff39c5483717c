#!/usr/bin/env python3
"""Fails if any API key the test suite used appears in what the suite's gateways wrote.

    check-no-keys.py --sources tests/ OUTPUT [OUTPUT ...]

The keys are every `sk-...` literal in the test sources (at least 8 characters after
`sk-`), so a new test's key is covered without a list to keep. Each key is looked for
whole and without its `sk-` prefix. An OUTPUT is a file or a folder (all files in it,
recursively): gateway logs at debug level, /metrics scrapes, and every answer the test
clients read, kept there by the suite (OA_TEST_OUTPUT_DIR), and CTest's LastTest.log.
Exits 1 naming each file and key found, 0 otherwise; 2 when there was nothing to scan.
"""
import argparse
import pathlib
import re
import sys

KEY = re.compile(rb"sk-[A-Za-z0-9_-]{8,}")
SOURCE_SUFFIXES = {".cc", ".h", ".py", ".mjs", ".js", ".sh"}


def keys_in(sources: pathlib.Path) -> set[bytes]:
    keys = set()
    for path in sources.rglob("*"):
        if path.suffix in SOURCE_SUFFIXES and "node_modules" not in path.parts and path.is_file():
            keys.update(KEY.findall(path.read_bytes()))
    return keys


def files_in(outputs: list[str]) -> list[pathlib.Path]:
    files = []
    for name in outputs:
        path = pathlib.Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", required=True, help="folder of the test sources")
    parser.add_argument("outputs", nargs="+", help="files or folders to scan")
    args = parser.parse_args()

    keys = keys_in(pathlib.Path(args.sources))
    needles = {key: [key, key[len(b"sk-"):]] for key in keys}
    files = files_in(args.outputs)
    if not keys or not files:
        print(f"check-no-keys: nothing to scan ({len(keys)} keys, {len(files)} files)")
        return 2
    scanned = 0
    leaks = []
    for path in files:
        data = path.read_bytes()
        scanned += len(data)
        for key, forms in needles.items():
            if any(form in data for form in forms):
                leaks.append((path, key.decode()))
    for path, key in leaks:
        print(f"check-no-keys: {path} holds the test key {key[:6]}... (or its tail)")
    print(f"check-no-keys: {len(keys)} keys, {len(files)} files, {scanned} bytes scanned, "
          f"{len(leaks)} leaks")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
