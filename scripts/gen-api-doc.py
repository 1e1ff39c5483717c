#!/usr/bin/python3
"""Writes the API reference (Markdown) of every service and RPC in a descriptor set.

Usage: gen-api-doc.py DESCRIPTOR_SET > gen/API.md
Reads only the compiled descriptors (services, RPCs, google.api.http rules, the
options of openai/v1/json.proto), so the page always matches what the gateway routes
and how it writes JSON. Output is deterministic.
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_rules  # noqa: E402

BINARY_CHUNK_TYPES = {"openai.v1.HttpBody", "google.api.HttpBody"}


def short(type_name, package):
    return type_name[len(package) + 1:] if type_name.startswith(package + ".") else type_name


def kind(rpc):
    if rpc.client_streaming and rpc.server_streaming:
        return "bidirectional WebSocket events"
    if rpc.client_streaming:
        return "client-streaming"
    if not rpc.server_streaming:
        return "unary"
    if rpc.output in BINARY_CHUNK_TYPES:
        return "server-streaming binary chunks"
    return "server-streaming SSE events"


JSON_OPTION = 51000   # (openai.v1.json) on messages, (openai.v1.union_tag) on fields
FREE = {".google.protobuf.Value", ".google.protobuf.Struct", ".google.protobuf.ListValue"}


def messages_of(files):
    """({full name: (file, DescriptorProto)} of every message in our files, nested too;
    {full name of a map entry: the full name of its value's message, or None})."""
    out, entries = {}, {}

    def walk(f, m, prefix):
        name = f"{prefix}.{m.name}"
        out[name] = (f, m)
        for n in m.nested_type:
            if n.options.map_entry:
                entries[f"{name}.{n.name}"] = n.field[1].type_name.lstrip(".") or None
            else:
                walk(f, n, name)

    for f in files:
        if not f.name.startswith("google/"):
            for m in f.message_type:
                walk(f, m, f.package)
    return out, entries


def reached(messages, entries, rpc):
    """The messages an RPC's request and response reach, through fields and map values."""
    stack, seen = [rpc.input, rpc.output], set()
    while stack:
        n = stack.pop()
        n = entries.get(n, n)  # a map entry stands for its value's message
        if n is None or n in seen or n not in messages:
            continue
        seen.add(n)
        stack += [f.type_name.lstrip(".") for f in messages[n][1].field if f.type_name]
    return seen


def json_form(m, form_class):
    raw = proto_rules._extension_bytes(m.options, JSON_OPTION)
    if not raw:
        return None
    form = form_class()
    form.ParseFromString(raw)
    return form


def union_tag(field):
    return proto_rules._extension_bytes(field.options, JSON_OPTION).decode()


def structural_groups(messages, requests):
    """Groups of messages (RPC requests aside) with the same fields (names, numbers,
    labels, scalar types) whose message fields are again of one group: the same
    structure under several names."""
    def shallow(name):
        m = messages[name][1]
        return tuple((f.name, f.number, f.label, f.type, f.type_name if f.type_name in FREE
                      or f.type_name.lstrip(".") not in messages else "")
                     for f in m.field)
    names = [n for n in messages if n not in requests]
    cls = {}
    keys = {}
    for n in names:
        cls[n] = keys.setdefault(shallow(n), len(keys))
    while True:
        keys, refined = {}, {}
        for n in names:
            refs = tuple(cls.get(f.type_name.lstrip("."), -1)
                         for f in messages[n][1].field)
            refined[n] = keys.setdefault((cls[n], refs), len(keys))
        if len(set(refined.values())) == len(set(cls.values())):
            break
        cls = refined
    groups = collections.defaultdict(list)
    for n in names:
        groups[cls[n]].append(n)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))


def shapes_section(files, rpcs, package):
    """The shared types, the unions, and the counts that measure the typed API."""
    messages, entries = messages_of(files)
    pool = proto_rules.pool_of(files)
    from google.protobuf import message_factory
    form_class = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("openai.v1.JsonForm"))
    requests = {r.input for r in rpcs}
    reach = {r: reached(messages, entries, r) for r in rpcs}
    users = collections.defaultdict(set)  # message -> services whose RPCs reach it
    for r, names in reach.items():
        for n in names:
            users[n].add(r.service.split(".")[-1])
    out = ["", "## Shared types", "",
           "Top-level messages of `types.proto`: one message per concept, used by the RPCs of",
           "several services.", "",
           "| Message | Form | Used by |", "| --- | --- | --- |"]
    unions = []
    for name, (f, m) in sorted(messages.items()):
        form = json_form(m, form_class)
        kind = ("union by `%s`" % form.union_key if form and form.union_key else
                "union by JSON kind" if form and form.union_by_kind else
                "list" if form and form.list else "object")
        if form and (form.union_key or form.union_by_kind):
            unions.append((name, form, m))
        if f.name.endswith("/types.proto") and name.count(".") == 2:
            out.append(f"| {short(name, package)} | {kind} | "
                       f"{', '.join(sorted(users[name])) or '—'} |")
    out += ["", "## Unions", "",
            "Each is a message with one `oneof variant`; the gateway writes the set variant as",
            "OpenAI's JSON: by key, the variant's object with `key: tag` in it; by JSON kind, the",
            "variant's value. `other` (a `google.protobuf.Value`) takes a tag or kind that no",
            "variant takes.", "",
            "| Union | By | Variants (tag → type, or field: type) |", "| --- | --- | --- |"]
    for name, form, m in unions:
        by = f"`{form.union_key}`" if form.union_key else "kind"
        variants = []
        for fld in m.field:
            t = short(fld.type_name.lstrip("."), package) if fld.type_name else \
                proto_rules_type(fld)
            tag = union_tag(fld)
            variants.append(f"{tag} → {t}" if tag else f"{fld.name}: {t}")
        out.append(f"| {short(name, package)} | {by} | {'; '.join(variants)} |")
    free = collections.Counter()
    for name, (f, m) in messages.items():
        for fld in m.field:
            if fld.type_name in FREE and fld.name not in ("extra_fields", "other",
                                                           "unknown_variant"):
                free[f.name.rsplit("/", 1)[-1]] += 1
    groups = structural_groups(messages, requests)
    free_reached = collections.defaultdict(set)  # service -> free fields its RPCs reach
    for r, names in reach.items():
        for n in names:
            for fld in messages[n][1].field:
                if fld.type_name in FREE and fld.name not in ("extra_fields", "other",
                                                               "unknown_variant"):
                    free_reached[r.service.split(".")[-1]].add(f"{short(n, package)}.{fld.name}")
    out += ["", "## Counts", "",
            f"- {len(messages)} messages ({sum(1 for n in messages if n.count('.') == 2)} "
            f"top-level), {len(unions)} unions.",
            "- `google.protobuf.Value`, `Struct` and `ListValue` fields, by file (free JSON; "
            "`extra_fields` and the unions' `other` are not counted): "
            + ", ".join(f"{k} {v}" for k, v in sorted(free.items())) + ".",
            "- Free JSON fields the RPCs of the core services reach, wherever the message is "
            "defined: " + "; ".join(
                f"{svc} {len(free_reached[svc])} ({', '.join(sorted(free_reached[svc]))})"
                for svc in ("ChatService", "ResponsesService", "RealtimeService")) + ".",
            f"- {len(groups)} groups of structurally identical messages under different "
            f"names ({sum(len(g) for g in groups)} messages; RPC requests, each named for its "
            "RPC, are not counted):", ""]
    for g in groups:
        out.append(f"  - {', '.join(short(n, package) for n in g)}")
    return out


def proto_rules_type(fld):
    from google.protobuf import descriptor_pb2
    names = {v: k[len("TYPE_"):].lower() for k, v in
             descriptor_pb2.FieldDescriptorProto.Type.items()}
    return names.get(fld.type, "?")


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.strip().split("\n\n")[1])
    files, rpcs = proto_rules.load(argv[1])
    ours = {f.name: f.package for f in files if not f.name.startswith("google/")}
    services = collections.OrderedDict()
    for rpc in rpcs:
        if rpc.file in ours:
            services.setdefault(rpc.service, []).append(rpc)
    kinds = collections.Counter(kind(r) for rs in services.values() for r in rs)
    out = [
        "# API reference",
        "",
        "Generated by `scripts/gen-api-doc.py` from `gen/openai_v1.binpb` (the compiled",
        "`proto/`); do not edit: run `scripts/update-gen.sh`.",
        "",
        f"{len(services)} services, {sum(kinds.values())} RPCs: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ".",
        "",
        "Each RPC's HTTP rule is the REST call it stands for (gRPC requests are sent to",
        "OpenAI as that call). Body `*`: the request message is the JSON (or multipart)",
        "body, less the path fields; body `body`: the `body` field is the body and the",
        "other non-path fields are query parameters; no body: every non-path field is a",
        "query parameter. RPCs ending in `Stream` share their request with the unary RPC",
        "and answer one message per server-sent event. RPCs ending in `Upload` take",
        "the request as a client stream, for large files: the first message sets the",
        "fields, each later one only more bytes of the file (sent on as one multipart body).",
        "RPCs named `Connect` are OpenAI's WebSocket APIs as bidirectional streams: their",
        "GET rule is the upgrade, whose query string the first message's other fields give;",
        "each message's `event` is one client event (one text frame), each answer one",
        "server event.",
        "",
    ]
    out += ["## Services", ""]
    for name, rs in sorted(services.items()):
        anchor = name.lower().replace(".", "")
        rpc_s = "RPC" if len(rs) == 1 else "RPCs"
        out.append(f"- [{name}](#{anchor}) ({len(rs)} {rpc_s}, `{rs[0].file}`)")
    for name, rs in sorted(services.items()):
        package = ours[rs[0].file]
        out += ["", f"## {name}", "", f"Defined in `proto/{rs[0].file}`.", "",
                "| RPC | HTTP | Body | Request | Response | Kind |",
                "| --- | --- | --- | --- | --- | --- |"]
        for r in rs:
            http = "<br>".join(f"`{verb} {path}`" for verb, path, _ in r.bindings) or "—"
            body = "<br>".join(f"`{b}`" if b else "—" for _, _, b in r.bindings) or "—"
            stream = "stream " if r.server_streaming else ""
            upload = "stream " if r.client_streaming else ""
            out.append(f"| {r.name} | {http} | {body} | {upload}{short(r.input, package)} | "
                       f"{stream}{short(r.output, package)} | {kind(r)} |")
    out += shapes_section(files, [r for rs in services.values() for r in rs],
                          next(iter(ours.values())))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
