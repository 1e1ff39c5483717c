"""Reads services, RPCs and their google.api.http rules from a compiled descriptor set.

Used by check-proto-covers-spec.py and gen-api-doc.py. Needs only Debian's
python3-protobuf: google.api.HttpRule is built from the descriptor set itself (it holds
google/api/http.proto, compiled with --include_imports) and the (google.api.http)
extension, field 72295728 of MethodOptions, is read from the options' raw bytes.
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

HTTP_EXTENSION = 72295728
VERBS = ("get", "put", "post", "delete", "patch")


def _varint(buf, pos):
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def _extension_bytes(options, number):
    """Concatenated payloads of length-delimited field `number` in serialized options."""
    buf, pos, out = options.SerializeToString(), 0, b""
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if field == number:
                out += buf[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"unexpected wire type {wire} in method options")
    return out


class Rpc:
    """One RPC: service, name, types, streaming and its http bindings [(verb, path, body)]."""

    def __init__(self, file, service, method, bindings, fields):
        self.file, self.service = file, service
        self.name = method.name
        self.input = method.input_type.lstrip(".")
        self.output = method.output_type.lstrip(".")
        self.server_streaming = method.server_streaming
        self.client_streaming = method.client_streaming
        self.bindings = bindings
        self.input_fields = fields  # {field name: FieldDescriptor} of the request


def pool_of(files):
    """A DescriptorPool holding `files` (FileDescriptorProtos, imports first)."""
    pool = descriptor_pool.DescriptorPool()
    for f in files:
        pool.Add(f)
    return pool


def load(path):
    """Returns (files, rpcs): the FileDescriptorProtos and every RPC in declaration order."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as fh:
        fds.ParseFromString(fh.read())
    pool = pool_of(fds.file)
    http_rule = message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("google.api.HttpRule"))
    rpcs = []
    for f in fds.file:
        for svc in f.service:
            for m in svc.method:
                rule = http_rule()
                rule.ParseFromString(_extension_bytes(m.options, HTTP_EXTENSION))
                bindings = []
                for r in [rule] + list(rule.additional_bindings):
                    kind = r.WhichOneof("pattern")
                    if kind is None:
                        continue
                    verb, p = (r.custom.kind, r.custom.path) if kind == "custom" \
                        else (kind, getattr(r, kind))
                    bindings.append((verb.upper(), p, r.body))
                msg = pool.FindMessageTypeByName(m.input_type.lstrip("."))
                fields = {fd.name: fd for fd in msg.fields}
                rpcs.append(Rpc(f.name, f"{f.package}.{svc.name}" if f.package else svc.name,
                                m, bindings, fields))
    return fds.file, rpcs
