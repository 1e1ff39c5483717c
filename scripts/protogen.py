#!/usr/bin/python3
"""Generates proto/openai/v1/*.proto from OpenAI's OpenAPI description.

Usage: scripts/protogen.py SPEC.yaml OUT_DIR    (OUT_DIR is e.g. proto/openai/v1)

The output is deterministic: the same spec always gives the same bytes. It carries
names and types only, never the spec's descriptions. proto/openai/v1/common.proto is
hand-written (FileUpload, HttpBody) and is never touched; generated files start with
HEADER, and a generated file that the spec no longer produces is deleted.

Mapping rules
-------------
Operations
  * Every operation is one RPC named after its operationId in PascalCase (or the name
    scripts/protogen-curation.yaml gives it, where the operationId gives none an SDK
    user would say), commented with what it does and its HTTP call, with a
    google.api.http rule: its method and "/v1" + its path ({param} = request field).
    A spec path carrying a fixed query (`/responses?beta=true`) maps to the bare path
    and a query field (`beta`, a bool when the value is true/false) in the request.
  * Services group operations by their first tag; an untagged operation takes the tag
    that most operations sharing its longest path prefix have (at least one segment,
    two under /organization and /projects), else a name made from that prefix.
    Operations under /organization or /projects go to files named admin_*.proto.
  * Request message <Rpc>Request: path params, then query params, then the body:
    - JSON or multipart object body and no query params: body properties are fields
      of the request and the rule has `body: "*"` (a path param named like a body
      property is one field). When the body is a component already named
      <Rpc>Request and nothing else is needed, that component is the request.
    - body and query params: a field `body` of the body's type, `body: "body"`.
    - no body: no `body` in the rule; the non-path fields are the query.
    - header params (openai-beta) are not fields: they travel as metadata/headers.
    - an op taking multipart and JSON: the multipart properties, then the JSON-only
      ones (multipart wins a name clash, so FileUpload fields stay FileUpload).
  * Response: the lowest 2xx with content. application/json $ref -> that component's
    message; inline object -> <Rpc>Response; no content -> google.protobuf.Empty;
    binary (octet-stream, zip, video, image, a JSON "string", or BINARY_OPS) ->
    `stream HttpBody`; application/sdp -> unary HttpBody.
  * SSE: an op whose 2xx offers text/event-stream, or listed in SSE_EVENTS, gets a
    twin <Rpc>Stream with the same request and rule returning `stream <Event>`.
  * Uploads: an op whose body "*" request has a singular FileUpload field gets a
    client-streaming twin <Rpc>Upload(stream <Rpc>Request) with the same rule, for
    files too large for one message (the first message sets the fields, the rest carry
    more bytes of the file).
  * WebSockets: the spec describes OpenAI's WebSocket APIs by their event unions only,
    so the curation file's `websockets` names each one's service, path, upgrade query
    parameters and client/server unions. Each is a bidirectional RPC in that service,
    `rpc Connect(stream <Request>) returns (stream <ServerUnion>)` ruled
    `get: "/v1<path>" body: "event"`, whose request holds the query parameters
    (optional strings), `<ClientUnion> event` and extra_fields. Both unions are unions by
    tag even with one variant; variant components named <Union><Rest> take the curated
    variant_names pattern (RealtimeClientEventSessionUpdate ->
    RealtimeSessionUpdateEvent). Their messages are built after the dedup of everything
    else and join those messages as they are (see dedup), so they rename, move or
    renumber nothing released.
Schemas
  * object with properties, allOf of objects -> one message with the union of the
    properties in spec order; it ends with `google.protobuf.Struct extra_fields = 2047
    [(openai.v1.extra) = true]`, where the gateway keeps keys the protos do not know.
    Components -> top-level PascalCase messages (suffix "Body" when the name is taken by
    an RPC request); inline objects -> nested messages named after the field.
  * oneOf/anyOf whose variants all name themselves by one key (the spec's discriminator,
    else "type", else "role": a const or enum in each variant; variants that are unions
    on the same key are opened up) -> a union message: `option (openai.v1.json) =
    {union_key: "type"}` and `oneof variant` with one field per tag, named after it,
    `[(openai.v1.union_tag) = "<tag>"]`, of the variant's message (several schemas for
    one tag are merged into one nested message), then `google.protobuf.Value other`.
  * oneOf/anyOf whose variants differ in JSON kind (a string or a list, say) -> a union
    message with `{union_by_kind: true}` and one field per kind: text, integer, number,
    flag, a list message (`{list: true}`, `repeated <item> items = 1`, named after its
    item: StringList, IntegerList, <Message>List), or the object's message; then
    `other`. Unions of objects that share no key -> one merged message, as objects.
  * A union variant that is a component plus properties beside it (allOf [$ref, object]:
    the Responses WebSocket's events, SSE events plus stream_id) is the component's
    message with those properties added (after its released fields), unless a curated
    bytes field is in it: then it is a message of its own named by its title.
  * string/enum/const -> string; integer -> int32, or int64 [jstype = JS_NUMBER] for
    times, sizes, limits and declared int64 (Schemas.int_type); number -> double; boolean ->
    bool; all scalars are `optional` (explicit presence). format: binary ->
    openai.v1.FileUpload (binary or a list of binaries -> repeated FileUpload, binary
    or a reference object -> FileUpload). array -> repeated (arrays of arrays -> ListValue, arrays of
    mixed things -> Value, of free-form objects -> Struct). nullable -> the non-null
    type. object without properties -> Struct, with only string additionalProperties
    -> map<string, string>. Anything else (string-or-array, ...) -> Value.
  * The curation file's `bytes` properties (base64 in OpenAI's JSON: WebSocket audio)
    -> bytes, which the gateway's JSON reader and writer decode and encode.
  * Field names that are not lower_snake identifiers are sanitized and keep the
    original as json_name (`include[]` -> include [json_name = "include[]"]).
  * One message per concept: messages with the same name (a "Beta" prefix aside) and the
    same structure are merged wherever they were generated (dedup): a nested copy found
    under several parents becomes one top-level message. RPC requests stay their own.
    Messages added later (the WebSocket events) join an existing one of their class where
    it is, nested or not (a nested one is then referred to by its full name).
  * An operation whose `response_format` can be "text" (transcriptions, translations)
    answers plain text then: its response's string field `text` carries
    `[(openai.v1.text_answer) = true]` and receives that text.
  * Field numbers: in spec order for a message never released; a message in the last
    release (gen/released.binpb) keeps every field's number, new fields take numbers
    never used, and released fields that are gone stay reserved (number and name).
  * Comments: services and the core messages from the curation file; RPCs from their
    name (`Creates a chat completion: POST /v1/chat/completions.`).
Files
  * A component message reachable from the RPCs of one service lives in that
    service's file; one reachable from several lives in types.proto. Shared types
    only reach shared types, so there are no import cycles. A released message stays in
    the file it was released in.
  * Comments on fields come from the curation file's `fields` ("Message.field").
"""
import collections
import json
import os
import re
import sys

import yaml

CURATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protogen-curation.yaml")
SERVICE_COMMENTS = {}
# The last released protos (scripts/buf.sh release): their field numbers are kept.
RELEASED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gen",
                        "released.binpb")
HEADER = "// Generated by scripts/protogen.py from OpenAI's OpenAPI description; do not edit.\n"
PACKAGE = "openai.v1"
PROTO_DIR = "openai/v1"
METHODS = ("get", "put", "post", "delete", "patch")

# SSE event message of operations whose 2xx content does not name a text/event-stream
# schema although they stream with `stream: true` (names only).
SSE_EVENTS = {
    "createCompletion": "CreateCompletionResponse",
    "createRun": "AssistantStreamEvent",
    "createThreadAndRun": "AssistantStreamEvent",
    "submitToolOuputsToRun": "AssistantStreamEvent",
    "getResponse": "ResponseStreamEvent",
    "beta_getResponse": "BetaResponseStreamEvent",
}
# Binary downloads whose 2xx declares no content type at all.
BINARY_OPS = {"RetrieveContainerFileContent"}

WKT_IMPORTS = {
    "google.protobuf.Value": "google/protobuf/struct.proto",
    "google.protobuf.Struct": "google/protobuf/struct.proto",
    "google.protobuf.ListValue": "google/protobuf/struct.proto",
    "google.protobuf.Empty": "google/protobuf/empty.proto",
    "FileUpload": f"{PROTO_DIR}/common.proto",
    "json": f"{PROTO_DIR}/json.proto",
    "HttpBody": f"{PROTO_DIR}/common.proto",
}
# Every object message ends with this Struct field for keys the protos do not know yet.
EXTRA_NAME, EXTRA_NUMBER = "extra_fields", 2047
# Keys that OpenAI's unions of objects are told apart by, tried in this order when the
# spec names no discriminator.
TAG_KEYS = ("type", "role")
FILE_OPTIONS = [
    'option csharp_namespace = "OpenAI.V1";',
    'option go_package = "github.com/oa-bypass/oa-bypass/gen/go/openai/v1;openaiv1";',
    'option java_multiple_files = true;',
    'option java_package = "dev.oabypass.openai.v1";',
    'option php_namespace = "OpenAI\\\\V1";',
]
SCALARS = {"string": "string", "integer": "int64", "number": "double", "boolean": "bool"}
# The field of a union by kind holding each kind of scalar.
KIND_FIELD = {"string": "text", "int64": "integer", "double": "number", "bool": "flag"}
# Names of lists of scalars (list messages of messages are named after the message).
LIST_NAMES = {"string": "String", "int32": "Integer", "int64": "Integer64", "double": "Number", "bool": "Bool",
              "google.protobuf.Struct": "Object", "google.protobuf.Value": "Value",
              "google.protobuf.ListValue": "Array"}
# Integer fields that are int64 whatever their schema says: sizes, limits, amounts, seeds.
WIDE_NAMES = re.compile(r"bytes|per_1_|_1_day|threshold|amount|seed|limit_tokens|_at$|^created$")
IDENT = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


# ---- names ------------------------------------------------------------------------------
def pascal(name):
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s if s and not s[0].isdigit() else "f_" + s


# ---- the proto model --------------------------------------------------------------------
class Field:
    def __init__(self, name, label, type_, number, json_name):
        self.name, self.label, self.type, self.number = name, label, type_, number
        self.json_name = json_name
        self.options = []  # proto text of field options besides json_name
        self.comment = None


class Message:
    def __init__(self, name, parent=None):
        self.name, self.parent = name, parent
        self.fields, self.nested = [], []
        self.file = None
        self.form = None   # json.proto's JsonForm as proto text, e.g. 'union_key: "type"'
        self.comment = None
        self.reserved, self.reserved_names = [], []  # released numbers and names now gone
        self.oneof = None  # a union's oneof name; all its fields are in it

    def top(self):
        return self.parent.top() if self.parent else self

    def add_field(self, spec_name, label, type_, number=None, json_name=True):
        name = spec_name if IDENT.fullmatch(spec_name) else snake(spec_name)
        used = {f.name for f in self.fields}
        base, n = name, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        number = number or len(self.fields) + 1
        assert number < 19000, self.name
        field = Field(name, label, type_, number,
                      None if name == spec_name or not json_name else spec_name)
        self.fields.append(field)
        return field

    def add_extra(self):
        """The google.protobuf.Struct that keeps keys the protos do not know."""
        if not self.form and not any(f.number == EXTRA_NUMBER for f in self.fields):
            f = self.add_field(EXTRA_NAME, "", "google.protobuf.Struct", EXTRA_NUMBER)
            f.options.append("(openai.v1.extra) = true")

    def add_nested(self, base):
        # Nor the name of this message or an enclosing one: C++ forbids a nested class
        # named as the class around it.
        taken = {m.name for m in self.nested}
        scope = self
        while scope is not None:
            taken.add(scope.name)
            scope = scope.parent
        name, n = base, 2
        if name in taken and name not in {m.name for m in self.nested}:
            name = base = base + "Details"  # `User` inside `User`: `User.UserDetails`
        while name in taken:
            name, n = f"{base}{n}", n + 1
        m = Message(name, self)
        self.nested.append(m)
        return m


# ---- schemas ----------------------------------------------------------------------------
class Schemas:
    """Resolves $refs, classifies schemas and turns them into messages and field types."""

    def __init__(self, spec, reserved, curation=None):
        self.comp = spec["components"]["schemas"]
        self.messages = {}  # component name -> Message
        self.lists = {}     # item type -> list message
        self.building = []  # components being built, innermost last
        self.names = {}     # component name -> proto name
        taken = set(reserved)
        for cname in sorted(self.comp):
            name = pascal(cname)
            while name in taken:
                name += "Body"
            taken.add(name)
            self.names[cname] = name
        curation = curation or {}
        for ws in (curation.get("websockets") or {}).values():
            for union in (ws["client"], ws["server"]):
                self.name_variants(union, ws.get("variant_names", "{}"), taken)
        # Properties that are bytes (base64 in OpenAI's JSON): id of the property's
        # schema -> its curated path; those of inline variants named by their title
        # apply to that variant's own message only (self.titled_bytes).
        self.bytes_ids, self.titled_bytes, self.bytes_used = {}, {}, set()
        titled = {v["title"]: v for ws in (curation.get("websockets") or {}).values()
                  for union in (ws["client"], ws["server"])
                  for v in self.comp[union].get("anyOf") or self.comp[union].get("oneOf") or []
                  if "title" in v}
        for path in curation.get("bytes") or []:
            owner, *names = path.split(".")
            s = self.comp.get(owner, titled.get(owner))
            for n in names:
                s = self.find_prop(s, n) if s is not None else None
            if s is None or not names:
                sys.exit(f"protogen: curated bytes field {path} is not in the spec")
            if owner in self.comp:
                self.bytes_ids[id(s)] = path
            else:
                self.titled_bytes.setdefault(owner, {})[id(s)] = path

    def name_variants(self, union, pattern, taken):
        """Names the variant components of `union` that are called <union><Rest> in the
        spec `pattern` with Rest in it (RealtimeClientEventSessionUpdate ->
        RealtimeSessionUpdateEvent for "Realtime{}Event")."""
        for v in self.comp[union].get("anyOf") or self.comp[union].get("oneOf") or []:
            cname = v.get("$ref", "").rsplit("/", 1)[-1]
            if not cname.startswith(union) or cname == union:
                continue
            name = pattern.format(pascal(cname[len(union):]))
            if name in taken:
                sys.exit(f"protogen: {cname} would be named {name}, a name already taken")
            taken.discard(self.names[cname])
            taken.add(name)
            self.names[cname] = name

    def find_prop(self, s, name, depth=0):
        """The schema of property `name` of object (or list of objects) s, looking
        through $refs, allOf parts and union variants; None if it has none."""
        if depth > 10:
            return None
        _, s = self.deref(s)
        if "items" in s:
            s = self.deref(s["items"])[1]
        if name in (s.get("properties") or {}):
            return s["properties"][name]
        for key in ("allOf", "anyOf", "oneOf"):
            for part in s.get(key) or []:
                found = self.find_prop(part, name, depth + 1)
                if found is not None:
                    return found
        return None

    def deref(self, s):
        ref = None
        while "$ref" in s or ("$recursiveRef" in s and self.building):
            # $recursiveRef "#": the component being built refers to itself (a filter of
            # filters).
            ref = s["$ref"].rsplit("/", 1)[1] if "$ref" in s else self.building[-1]
            s = self.comp[ref]
        return ref, s

    @staticmethod
    def is_null(s):
        return s.get("type") == "null" or s == {"not": {}}

    STRUCTURAL = {"type", "properties", "$ref", "oneOf", "anyOf", "allOf", "items", "enum",
                  "const", "additionalProperties", "format"}

    @classmethod
    def is_annotation(cls, s):
        """An allOf part that only annotates ({nullable: true}, a description, a default)."""
        return not (cls.STRUCTURAL & set(s))

    def unwrap(self, s):
        """Follows $refs, drops null variants and collapses one-variant wrappers."""
        ref = None
        while True:
            r, s = self.deref(s)
            ref = r or ref
            t = s.get("type")
            if isinstance(t, list):
                rest = [x for x in t if x != "null"]
                s = dict(s, type=rest[0] if len(rest) == 1 else rest)
            if "properties" in s:
                return ref, s
            for key in ("oneOf", "anyOf", "allOf"):
                if key in s:
                    rest = [v for v in s[key] if not self.is_null(self.deref(v)[1])
                            and not (key == "allOf" and self.is_annotation(v))]
                    if len(rest) == 1:
                        s = rest[0]
                        break
                    if len(rest) != len(s[key]):
                        s = {key: rest}
            else:
                return ref, s

    def kind(self, s, depth=0):
        """object, map, struct, array, value, binary(ies), null, or a scalar type."""
        if depth > 30:
            return "value"
        variants = s.get("oneOf") or s.get("anyOf")
        if variants and "properties" not in s:
            kinds = {self.kind(self.unwrap(v)[1], depth + 1) for v in variants} - {"null"}
            if "binary" in kinds:  # an upload, or a list of them, or a reference to one
                return "binaries" if "array" in kinds else "binary"
            if kinds <= {"object", "struct", "map"} and "object" in kinds:
                return "object"
            if kinds <= {"struct", "map"}:
                return "struct"
            if kinds == {"int64", "double"}:
                return "double"
            if len(kinds) == 1 and next(iter(kinds)) in (
                    "string", "int64", "double", "bool", "array"):
                return next(iter(kinds))
            return "value"
        t = s.get("type")
        if "allOf" in s and not s.get("properties"):
            # Parts that are not all objects (a string-or-object union, say) make a Value.
            kinds = {self.kind(self.unwrap(v)[1], depth + 1) for v in s["allOf"]
                     if not self.is_annotation(v)}
            return "object" if kinds <= {"object", "struct", "map"} else "value"
        if s.get("properties"):
            return "object"
        if isinstance(t, list):
            return "double" if set(t) <= {"integer", "number"} else "value"
        if t == "object" or "additionalProperties" in s or "properties" in s:
            ap = s.get("additionalProperties")
            if isinstance(ap, dict):
                _, apu = self.unwrap(ap)
                ak = self.kind(apu, depth + 1)
                if ak in ("string", "int64", "double", "bool", "object", "array") or (
                        ak == "value" and self.kind_variants(apu)):
                    return "map"
            return "struct"
        if t == "array" or (t is None and "items" in s):
            return "array"
        if t == "string":
            return "binary" if s.get("format") == "binary" else "string"
        if t in SCALARS:
            return SCALARS[t]
        if t == "null":
            return "null"
        if t is None and ("enum" in s or "const" in s):
            vals = s.get("enum", [s.get("const")])
            if all(isinstance(v, str) for v in vals):
                return "string"
            if all(isinstance(v, bool) for v in vals):
                return "bool"
        return "value"

    def props(self, s, acc=None, seen=frozenset()):
        """Ordered {property name: [schemas]} of an object, allOf, or union of objects."""
        acc = collections.OrderedDict() if acc is None else acc
        ref, s = self.unwrap(s)
        if ref in seen:
            return acc
        seen = seen | {ref} if ref else seen
        for name, ps in (s.get("properties") or {}).items():
            acc.setdefault(name, []).append(ps)
        for part in s.get("allOf", []):
            self.props(part, acc, seen)
        for v in s.get("oneOf", []) + s.get("anyOf", []):
            if self.kind(self.unwrap(v)[1]) == "object":
                self.props(v, acc, seen)
        return acc

    @staticmethod
    def merge(schemas):
        unique, keys = [], set()
        for s in schemas:
            key = s.get("$ref") or json.dumps(s, sort_keys=True, default=str)
            if key not in keys:
                keys.add(key)
                unique.append(s)
        return unique[0] if len(unique) == 1 else {"anyOf": unique}

    def fill(self, msg, props, scoped=None):
        """Fields of msg from {property: [schemas]}; the curated bytes fields (and those
        in `scoped`, {schema id: path}, for this message only) are `bytes`."""
        for name, schemas in props.items():
            label, type_ = self.field_type(self.merge(schemas), msg, name)
            marked = [self.bytes_ids.get(id(s)) or (scoped or {}).get(id(s)) for s in schemas]
            if any(marked):
                if not all(marked) or type_ != "string":
                    sys.exit(f"protogen: curated bytes field {[m for m in marked if m]} is "
                             f"{type_} in {msg.name}, or merged with a field that is not bytes")
                type_ = "bytes"
                self.bytes_used.update(marked)
            msg.add_field(name, label, type_)
        msg.add_extra()

    def extend(self, msg, props):
        """Adds the properties msg lacks, before its extra_fields (numbered after its
        other fields)."""
        for name, s in props.items():
            if any(name in (f.name, f.json_name) for f in msg.fields):
                continue
            label, type_ = self.field_type(s, msg, name)
            number = max([f.number for f in msg.fields if f.number != EXTRA_NUMBER] + [0]) + 1
            f = msg.add_field(name, label, type_, number)
            msg.fields.remove(f)
            at = next((i for i, g in enumerate(msg.fields) if g.number == EXTRA_NUMBER),
                      len(msg.fields))
            msg.fields.insert(at, f)

    def envelope(self, v, key):
        """(component, {property: schema}) when union variant v is a component with
        properties added beside it (allOf [$ref, object]: the Responses WebSocket's events
        are its SSE events plus `stream_id`), else None."""
        if "$ref" in v or "allOf" not in v:
            return None
        refs = [p for p in v["allOf"] if "$ref" in p]
        rest = [p for p in v["allOf"] if "$ref" not in p and not self.is_annotation(p)]
        if len(refs) != 1 or any(set(p) - {"type", "properties", "required", "description"}
                                  or p.get("type", "object") != "object" for p in rest):
            return None
        added = collections.OrderedDict()
        for p in rest:
            added.update(p.get("properties") or {})
        if key in added:
            return None
        return refs[0]["$ref"].rsplit("/", 1)[1], added

    # ---- unions ----
    def variants_of(self, s):
        """The non-null variants of a oneOf/anyOf schema, or None."""
        vs = s.get("oneOf") or s.get("anyOf")
        if not vs or "properties" in s:
            return None
        return [v for v in vs if not self.is_null(self.deref(v)[1])]

    def tag_values(self, s, key, seen=frozenset()):
        """The strings that property `key` of object schema s can hold (const or enum)."""
        ref, s = self.unwrap(s)
        if ref in seen:
            return None
        seen = seen | {ref} if ref else seen
        p = (s.get("properties") or {}).get(key)
        if p is not None:
            _, p = self.unwrap(p)
            vals = [p["const"]] if "const" in p else p.get("enum")
            return list(vals) if vals and all(isinstance(v, str) for v in vals) else None
        for part in s.get("allOf", []):
            vals = self.tag_values(part, key, seen)
            if vals:
                return vals
        return None

    def tagged(self, s, keys=None, depth=0):
        """(key, [(tag, schema)]) when every variant of union s names itself by one key
        (variants that are unions on the same key are opened up), else None."""
        vs = self.variants_of(s)
        if not vs or depth > 5:
            return None
        if keys is None:
            d = s.get("discriminator", {}).get("propertyName")
            keys = (d,) if d else TAG_KEYS
        for key in keys:
            out = []
            for v in vs:
                _, vu = self.unwrap(v)
                if self.variants_of(vu):
                    inner = self.tagged(vu, (key,), depth + 1)
                    if inner is None:
                        break
                    out += inner[1]
                    continue
                if self.kind(vu) != "object":
                    break
                tags = self.tag_values(v, key)
                if not tags:
                    break
                out += [(t, v) for t in tags]
            else:
                if out:
                    return key, out
        return None

    def kind_variants(self, s):
        """[(kind, [schemas])] of a union whose variants differ in JSON kind, else None."""
        vs = self.variants_of(s)
        if not vs:
            return None
        groups = collections.OrderedDict()
        for v in vs:
            _, vu = self.unwrap(v)
            k = self.kind(vu)
            if k == "value" and self.kind_variants(vu):  # a union inside a union: open it
                for kk, ss in self.kind_variants(vu):
                    groups.setdefault(kk, []).extend(ss)
                continue
            k = {"struct": "object", "map": "object"}.get(k, k)
            if k == "array":  # lists told apart by their items' kind
                _, it = self.unwrap(vu.get("items", {}))
                ik = self.kind(it)
                if ik == "value" and self.kind_variants(it):
                    ik = "union"
                k = "array:" + {"struct": "object", "map": "object"}.get(ik, ik)
            groups.setdefault(k, []).append(v)
        if "int64" in groups and "double" in groups:
            groups["double"] = groups.pop("int64") + groups["double"]
        if len(groups) < 2 or any(k in ("value", "array:value", "binary", "binaries", "null",
                                        "array:null", "array:binary") for k in groups):
            return None
        return list(groups.items())

    def union_message(self, msg, key, variants):
        """Fills msg as a union told apart by `key`, one oneof field per tag."""
        msg.form, msg.oneof = f'union_key: "{key}"', "variant"
        by_tag = collections.OrderedDict()
        for tag, v in variants:
            by_tag.setdefault(tag, []).append(v)
        for tag, vs in by_tag.items():
            unique = self.merge(vs)
            ref, vs_schema = self.unwrap(unique)
            env = self.envelope(unique, key)
            if env and unique.get("title") in self.titled_bytes:
                # Its own message, named by its title: a bytes field must not retype the
                # component's (released) message.
                type_ = Message(pascal(unique["title"]))
                if type_.name in self.names.values():
                    sys.exit(f"protogen: variant title {type_.name} is a component's name")
                self.fill(type_, self.props(unique), self.titled_bytes[unique["title"]])
            elif env:  # the component's message, with the added properties
                type_ = self.component(env[0])
                self.extend(type_, env[1])
            elif ref and "anyOf" not in unique:
                type_ = self.component(ref)
            else:  # an inline variant, or several schemas for one tag: merged
                type_ = msg.add_nested(pascal(tag) or "Variant")
                self.fill(type_, self.props(unique))
            f = msg.add_field(snake(tag), "", type_, json_name=False)
            f.options.append(f'(openai.v1.union_tag) = "{tag}"')
        msg.add_field("unknown_variant" if any(f.name == "other" for f in msg.fields) else "other",
                      "", "google.protobuf.Value")
        if any(f.name == msg.oneof for f in msg.fields):
            msg.oneof = "variant_case"

    def kind_union_message(self, msg, groups, fname):
        """Fills msg as a union told apart by JSON kind."""
        msg.form, msg.oneof = "union_by_kind: true", "variant"
        for k, vs in groups:
            schema = self.merge(vs)
            if k.startswith("array"):
                items = self.merge([self.unwrap(v)[1].get("items", {}) for v in vs])
                wrapper = self.list_message(self.item_type(items, msg, f"{fname}_item"), msg)
                name = list_field_name(wrapper, msg, fname)
                if any(f.name == name for f in msg.fields):  # two lists of objects
                    name = snake(wrapper.name)
                msg.add_field(name, "", wrapper, json_name=False)
            elif k == "object":  # an inline object is the nested message Object
                label, type_ = self.field_type(schema, msg, "object")
                name = snake(base_name(type_)) if isinstance(type_, Message) else "object"
                msg.add_field(name, "", type_, json_name=False)
            elif k == "int64":
                msg.add_field(KIND_FIELD[k], "", self.int_type(self.merge(vs), fname),
                              json_name=False)
            else:
                msg.add_field(KIND_FIELD[k], "", k, json_name=False)
        msg.add_field("unknown_variant" if any(f.name == "other" for f in msg.fields) else "other",
                      "", "google.protobuf.Value")
        if any(f.name == msg.oneof for f in msg.fields):
            msg.oneof = "variant_case"

    def item_type(self, items, scope, fname):
        """The element type of a list of `items`; a list of lists is a list of list messages."""
        _, it = self.unwrap(items)
        if self.kind(it) == "array":
            return self.list_message(self.item_type(it.get("items", {}), scope, fname), scope)
        return self.field_type({"type": "array", "items": items}, scope, fname)[1]

    def list_message(self, item_type, scope):
        """A message whose JSON is a list of item_type (so that a oneof can hold it)."""
        key = item_type.name if isinstance(item_type, Message) else item_type
        if isinstance(item_type, Message) and item_type.parent:
            key = id(item_type)
        if key not in self.lists:
            base = item_type.name if isinstance(item_type, Message) else LIST_NAMES.get(
                item_type, pascal(item_type.split(".")[-1]))
            wrapper = Message(base + "List", item_type.parent if isinstance(item_type, Message)
                              else None)
            if wrapper.parent:
                wrapper.parent.nested.append(wrapper)
            wrapper.form = "list: true"
            wrapper.add_field("items", "repeated", item_type)
            self.lists[key] = wrapper
        return self.lists[key]

    @staticmethod
    def int_type(s, fname):
        """int32 for counts that fit (a JavaScript number in every generator); int64 for
        times, sizes in bytes, limits and anything the spec declares wider. Files of
        admin calls, whose counts are sums over an organization, widen every int32."""
        wide = (s.get("format") in ("int64", "unixtime") or WIDE_NAMES.search(fname or "")
                or any(abs(s.get(b) or 0) > 2**31 - 1 for b in ("minimum", "maximum")))
        return "int64" if wide else "int32"

    def event_union(self, cname):
        """The message of a union of WebSocket events, by the key its variants name
        themselves by, even with a single variant (which unwrap() would open up)."""
        if cname not in self.messages:
            tagged = self.tagged(self.comp[cname])
            if not tagged:
                sys.exit(f"protogen: {cname} is no union whose variants have a tag")
            msg = Message(self.names[cname])
            self.messages[cname] = msg
            self.building.append(cname)
            self.union_message(msg, *tagged)
            self.building.pop()
        return self.messages[cname]

    def component(self, cname):
        if cname not in self.messages:
            msg = Message(self.names[cname])
            self.messages[cname] = msg
            self.building.append(cname)
            self.build(msg, self.unwrap({"$ref": "#/components/schemas/" + cname})[1], "value")
            self.building.pop()
        return self.messages[cname]

    def build(self, msg, s, fname):
        """Fills msg from schema s: a union by tag or by kind, or an object."""
        tagged = self.tagged(s)
        if tagged:
            self.union_message(msg, *tagged)
            return
        groups = self.kind_variants(s)
        if groups:
            self.kind_union_message(msg, groups, fname)
            return
        self.fill(msg, self.props(s))

    def message_for(self, ref, s, scope, fname):
        if ref:
            return self.component(ref)
        msg = scope.add_nested(pascal(fname) or "Item")
        self.build(msg, s, fname)
        return msg

    def field_type(self, schema, scope, fname):
        """(label, type) of a field; type is a proto type name or a Message."""
        ref, s = self.unwrap(schema)
        k = self.kind(s)
        if k == "object" or (k == "value" and self.kind_variants(s)):
            return "", self.message_for(ref, s, scope, fname)
        if k == "array":
            variants = s.get("oneOf") or s.get("anyOf")
            items = self.merge([self.unwrap(v)[1].get("items", {}) for v in variants]) \
                if variants else s.get("items", {})
            iref, it = self.unwrap(items)
            ik = self.kind(it)
            if ik == "object" or (ik == "value" and self.kind_variants(it)):
                return "repeated", self.message_for(iref, it, scope, fname)
            if ik == "int64":
                return "repeated", self.int_type(it, fname)
            return "repeated", {"array": "google.protobuf.ListValue", "binary": "FileUpload",
                                "map": "google.protobuf.Struct", "struct": "google.protobuf.Struct",
                                "value": "google.protobuf.Value", "null": "google.protobuf.Value",
                                }.get(ik, ik)
        if k == "int64":
            return "optional", self.int_type(s, fname)
        if k in ("string", "double", "bool"):
            return "optional", k
        if k == "binaries":
            return "repeated", "FileUpload"
        if k == "map":  # string keys; values of one type (a list: a list message)
            ap = s["additionalProperties"]
            if self.kind(self.unwrap(ap)[1]) == "array":
                value = self.list_message(self.item_type(self.unwrap(ap)[1].get("items", {}),
                                                         scope, fname), scope)
            else:
                value = self.field_type(ap, scope, fname)[1]
            return "", ("map", value)
        return "", {"binary": "FileUpload", "struct": "google.protobuf.Struct",
                    }.get(k, "google.protobuf.Value")


def list_field_name(wrapper, union, fname):
    """The variant of a union by kind that holds a list, named for what it holds: texts,
    integers, numbers (integer_lists for lists of lists), and for objects `parts` in a
    content field, else `items`."""
    item = wrapper.fields[0].type
    if isinstance(item, Message) and item.form == "list: true":
        return list_field_name(item, union, fname).rstrip("s") + "_lists"
    if isinstance(item, Message) or item.startswith("google.protobuf."):
        content = fname == "content" or union.name.endswith("Content")
        return "parts" if content else "items"
    return {"string": "texts", "int32": "integers", "int64": "integers",
            "double": "numbers", "bool": "flags"}.get(item, "items")


def wrap(text, width):
    """Lines of at most `width` characters (no line for no text)."""
    lines, line = [], ""
    for word in (text or "").split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([line] if line else [])


VERBS = {"Create": "Creates", "Get": "Returns", "Retrieve": "Returns", "List": "Lists",
         "Delete": "Deletes", "Update": "Updates", "Modify": "Updates", "Cancel": "Cancels",
         "Count": "Counts", "Compact": "Compacts", "Add": "Adds", "Complete": "Completes",
         "Archive": "Archives", "Unarchive": "Unarchives", "Activate": "Activates",
         "Deactivate": "Deactivates", "Pause": "Pauses", "Resume": "Resumes",
         "Run": "Runs", "Validate": "Validates", "Search": "Searches", "Submit": "Submits",
         "Accept": "Accepts", "Reject": "Rejects", "Hangup": "Hangs up", "Refer": "Refers",
         "Remove": "Removes", "Assign": "Assigns", "Unassign": "Unassigns",
         "Download": "Downloads", "Upload": "Uploads", "Remix": "Remixes", "Edit": "Edits",
         "Restore": "Restores", "Set": "Sets", "Send": "Sends", "Check": "Checks",
         "Extend": "Extends", "Generate": "Generates", "Replace": "Replaces",
         "Invite": "Invites"}


def rpc_comment(op):
    """`Creates a chat completion: POST /v1/chat/completions.` from the RPC's name."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+", op.rpc)
    http = f"{op.method.upper()} /v1{op.base_path}"
    if words[:1] == ["Usage"]:
        rest = " ".join(w.lower() for w in words[1:])
        return (f"Returns the organization's {rest}: {http}." if rest == "costs" else
                f"Returns the organization's usage of {rest}, by time bucket: {http}.")
    if words and words[0] in VERBS:
        rest = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words[1:])
        if rest and not rest.endswith("s") and words[0] not in ("List", "Count", "Search"):
            rest = ("an " if rest[0] in "aeiouAEIOU" else "a ") + rest
        return f"{VERBS[words[0]]} {rest}: {http}." if rest else f"{VERBS[words[0]]}: {http}."
    return f"{http}."


# ---- operations -------------------------------------------------------------------------
class Op:
    pass


def load_ops(spec):
    ops = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            raw = item[method]
            op = Op()
            op.method, op.spec_path, op.raw = method, path, raw
            op.op_id = raw["operationId"]
            op.base_path, _, query = path.partition("?")
            op.fixed_query = [q.split("=", 1) for q in query.split("&") if q]
            params = item.get("parameters", []) + raw.get("parameters", [])
            op.path_params = [p for p in params if p["in"] == "path"]
            op.query_params = [p for p in params if p["in"] == "query"]
            op.tag = (raw.get("tags") or [None])[0]
            ops.append(op)
    return ops


def assign_groups(ops):
    def segs(op):
        return [s for s in op.base_path.split("/") if s]

    tagged = [op for op in ops if op.tag]
    for op in ops:
        if op.tag:
            op.group = op.tag
            continue
        mine = segs(op)
        need = 2 if mine[0] in ("organization", "projects") else 1
        best, votes = 0, collections.Counter()
        for other in tagged:
            theirs = segs(other)
            n = 0
            while n < min(len(mine), len(theirs)) and mine[n] == theirs[n]:
                n += 1
            if n >= need and n >= best:
                if n > best:
                    best, votes = n, collections.Counter()
                votes[other.tag] += 1
        op.group = (sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if votes
                    else mine[need - 1].replace("_", " "))
    for op in ops:
        admin = all(o.base_path.startswith(("/organization", "/projects"))
                    for o in ops if o.group == op.group)
        base = snake(op.group)
        op.file = ("admin_" if admin and not base.startswith("admin_") else "") + base + ".proto"
        op.service = pascal(op.group) + "Service"
        op.rpc = pascal(op.op_id)


def plan_body(schemas, op):
    """Sets op.body_props (or None), op.body_ref and op.body_mode ('*', 'body' or None)."""
    op.body_props, op.body_ref, op.body_mode = None, None, None
    content = (op.raw.get("requestBody") or {}).get("content") or {}
    usable = [ct for ct in ("multipart/form-data", "application/json") if ct in content]
    if not usable:
        return
    primary = content[usable[0]]["schema"]
    op.body_props = schemas.props(primary)
    for ct in usable[1:]:
        for name, ss in schemas.props(content[ct]["schema"]).items():
            op.body_props.setdefault(name, ss)
    op.body_ref = schemas.unwrap(primary)[0] if len(usable) == 1 or all(
        content[ct]["schema"] == primary for ct in usable) else None
    resolved = schemas.unwrap(primary)[1]
    plain = schemas.kind(resolved) == "object" and not (
        resolved.get("oneOf") or resolved.get("anyOf"))  # an object, not a union
    op.body_mode = "*" if plain and not op.query_params and not op.fixed_query else "body"
    op.body_schema = primary


def build_request(schemas, op):
    name = op.rpc + "Request"
    path_names = [p["name"] for p in op.path_params]
    if (op.body_mode == "*" and op.body_ref and schemas.names[op.body_ref] == name
            and all(n in op.body_props for n in path_names)):
        return schemas.component(op.body_ref)
    msg = Message(name)
    for p in op.path_params:
        label, type_ = schemas.field_type(p.get("schema", {"type": "string"}), msg, p["name"])
        msg.add_field(p["name"], "" if label == "optional" else label, type_)
    for key, value in op.fixed_query:
        msg.add_field(key, "optional", "bool" if value in ("true", "false") else "string")
    for p in op.query_params:
        msg.add_field(p["name"], *schemas.field_type(p.get("schema", {}), msg, p["name"]))
    if op.body_mode == "*":
        schemas.fill(msg, {k: v for k, v in op.body_props.items() if k not in path_names})
    elif op.body_mode == "body":
        if op.body_ref and schemas.kind(schemas.unwrap(op.body_schema)[1]) == "object":
            type_ = schemas.component(op.body_ref)
        else:
            type_ = msg.add_nested("Body")
            schemas.fill(type_, op.body_props)
        op.body_field = msg.add_field("body", "", type_).name
    return msg


def build_response(schemas, op):
    """Sets op.response (type), op.binary (bool) and op.event (type or None)."""
    codes = sorted(c for c in op.raw.get("responses", {}) if str(c).startswith("2"))
    resp = next((op.raw["responses"][c] for c in codes if op.raw["responses"][c].get("content")),
                op.raw["responses"][codes[0]] if codes else {})
    content = resp.get("content") or {}
    js = content.get("application/json", {}).get("schema")
    other = set(content) - {"application/json", "text/event-stream", "application/sdp"}
    op.binary = op.op_id in BINARY_OPS or bool(other) or (
        js is not None and schemas.kind(schemas.unwrap(js)[1]) in ("string", "binary"))
    if op.binary or "application/sdp" in content:
        op.response = "HttpBody"
    elif js is not None:
        ref, s = schemas.unwrap(js)
        kind = schemas.kind(s)
        if kind == "object" and ref:
            op.response = schemas.component(ref)
        elif kind == "object":
            op.response = Message(op.rpc + "Response")
            schemas.fill(op.response, schemas.props(s))
        else:
            op.response = schemas.field_type(js, None, "")[1]
    else:
        op.response = "google.protobuf.Empty"
    sse = content.get("text/event-stream", {}).get("schema")
    event = sse and schemas.unwrap(sse)[0] or SSE_EVENTS.get(op.op_id)
    op.event = schemas.component(event) if event else None
    streamy = "stream" in (op.body_props or {}) or any(
        p["name"] == "stream" for p in op.query_params)
    if streamy and not op.event:
        sys.exit(f"protogen: {op.op_id} can stream but has no event type: add it to SSE_EVENTS")


def websocket_ops(schemas, ops, websockets):
    """The bidirectional RPCs of OpenAI's WebSocket APIs (curation `websockets`), as ops
    of their services: `rpc Connect(stream <request>) returns (stream <server union>)`,
    ruled `get: "/v1<path>" body: "event"`. The request has the upgrade's query
    parameters, then `event` (the client union), then extra_fields."""
    out = []
    for service, ws in (websockets or {}).items():
        like = next((op for op in ops if op.service == service), None)
        if like is None:
            sys.exit(f"protogen: curated websocket of a service that does not exist: {service}")
        op = Op()
        op.method, op.spec_path, op.raw = "get", ws["path"], {}
        op.op_id = f"websocket {ws['path']}"
        op.base_path, op.fixed_query, op.path_params, op.query_params = ws["path"], [], [], []
        op.tag, op.group, op.file, op.service = None, like.group, like.file, service
        op.rpc = ws.get("rpc", "Connect")
        op.bidi, op.comment = True, ws.get("comment")
        op.body_props, op.body_ref, op.body_mode = None, None, "body"
        msg = Message(ws["request"])
        for q in ws.get("query") or []:
            msg.add_field(q, "optional", "string")
        op.body_field = msg.add_field("event", "", schemas.event_union(ws["client"])).name
        msg.add_extra()
        op.request = msg
        op.response, op.binary, op.event = schemas.event_union(ws["server"]), False, None
        out.append(op)
    return out


def mark_text_answers(schemas, ops):
    """An operation that can be asked for a text answer (`response_format: "text"`, as
    transcriptions are) answers text/plain then: its response's `text` field takes it."""
    for op in ops:
        fmt = (op.body_props or {}).get("response_format")
        if not fmt or not isinstance(op.response, Message):
            continue
        _, s = schemas.unwrap(Schemas.merge(fmt))
        if "text" not in (s.get("enum") or []):
            continue
        for f in op.response.fields:
            if f.name == "text" and f.type == "string" and \
                    "(openai.v1.text_answer) = true" not in f.options:
                f.options.append("(openai.v1.text_answer) = true")


def field_messages(t):
    """The messages a field type refers to: itself, or a map's values."""
    if isinstance(t, Message):
        return [t]
    if isinstance(t, tuple) and isinstance(t[1], Message):
        return [t[1]]
    return []


# ---- one message per concept --------------------------------------------------------------
def base_name(m):
    """A message's (or a name's) concept name: OpenAI's beta twins (BetaResponse) and the
    request forms of its resources (InputTextContentParam, AgentTagResource) are the same
    concept."""
    name = m if isinstance(m, str) else m.name
    name = name[4:] if re.match(r"Beta[A-Z]", name) else name
    return re.sub(r"(?<=[a-z])(Param|Resource)$", "", name)


def path_of(m):
    """"Parent.Child" of a nested message."""
    return f"{path_of(m.parent)}.{m.name}" if m.parent else m.name


def dedup(ops, old=None):
    """Merges messages that are one concept (the same name, beta prefix aside) with the
    same structure, wherever they were generated: nested copies under many parents become
    one top-level message. RPC requests keep their own (each RPC names its request).
    With `old` (ids of messages deduplicated before), a group holding an old message
    keeps that one where and as it is and only the new members join it, so messages
    added later (the WebSocket events) never rename or move what was released.
    Returns {id of a merged message: the message it became}."""
    msgs = seen_messages(t for op in ops for t in (op.request, op.response, op.event)
                         if isinstance(t, Message))
    requests = {id(op.request) for op in ops}

    def shallow(m):
        if id(m) in requests:
            return ("request", id(m))
        # A message hoisted before (dedup's `old`) is compared by the name it was made with.
        return (base_name(getattr(m, "born", m.name)), m.form, m.oneof, tuple(
            (f.name, f.label, f.number, f.json_name, tuple(f.options),
             None if isinstance(f.type, Message) else f.type) for f in m.fields))

    def classes(key):
        ids = {}
        return {id(m): ids.setdefault(key(m), len(ids)) for m in msgs}

    cls = classes(shallow)
    while True:  # refine by the classes of the messages fields refer to, until stable
        refined = classes(lambda m: (cls[id(m)], tuple(
            cls[id(f.type)] if isinstance(f.type, Message) else None for f in m.fields)))
        if len(set(refined.values())) == len(set(cls.values())):
            break
        cls = refined
    members = collections.defaultdict(list)
    for m in msgs:
        members[cls[id(m)]].append(m)
    top_names = {m.name for m in msgs if m.parent is None}
    rep = {}
    for group in members.values():
        if len(group) == 1:
            continue
        olds = [m for m in group if old is not None and id(m) in old]
        keep = min(olds or group, key=lambda m: (m.parent is not None, m.name.startswith("Beta"),
                                                 len(m.name), m.name, path_of(m)))
        if olds:
            for m in group:
                if id(m) not in old:
                    rep[id(m)] = keep
                    if m.parent is not None:
                        m.parent.nested.remove(m)
            continue
        for m in group:
            rep[id(m)] = keep
        for m in group:
            if m is not keep and m.parent is not None:
                m.parent.nested.remove(m)
        if keep.parent is not None:  # shared by several parents: a top-level message now
            name = keep.name
            if name in top_names:
                name = base_name(keep.parent) + keep.name
            if name in top_names:
                name = path_of(keep).replace(".", "")
            base, n = name, 2
            while name in top_names:  # a parent hoisted before it may share its name
                name, n = f"{base}{n}", n + 1
            keep.parent.nested.remove(keep)
            keep.born = keep.name
            keep.parent, keep.name = None, name
            top_names.add(name)
    for m in msgs:
        for f in m.fields:
            if isinstance(f.type, Message) and id(f.type) in rep:
                f.type = rep[id(f.type)]
            elif isinstance(f.type, tuple) and id(f.type[1]) in rep:
                f.type = (f.type[0], rep[id(f.type[1])])
    for op in ops:
        op.response = rep.get(id(op.response), op.response)
        op.event = rep.get(id(op.event), op.event)
    return rep


def merge_concepts(ops, merges):
    """Merges the messages the curation file names as one concept into one top-level
    message (DeletedObject: what every delete call answers). Members may differ in field
    order and in which fields they have; a field they share must have one type."""
    roots = [t for op in ops for t in (op.request, op.response, op.event)
             if isinstance(t, Message)]
    tops = {m.name: m for m in seen_messages(roots) if m.parent is None}
    rep = {}
    for name, member_names in merges.items():
        missing = [n for n in member_names if n not in tops]
        if missing:
            sys.exit(f"protogen: curated merge {name}: no top-level messages {missing}")
        members = [tops[n] for n in member_names]
        merged = Message(name)
        for m in members:
            for f in m.fields:
                same = next((g for g in merged.fields if g.name == f.name), None)
                if same is None:
                    g = merged.add_field(f.name, f.label, f.type, f.number
                                         if f.number == EXTRA_NUMBER else None)
                    g.json_name, g.options = f.json_name, list(f.options)
                elif (same.label, type_name(same.type, None)) != (f.label,
                                                                   type_name(f.type, None)):
                    sys.exit(f"protogen: curated merge {name}: {m.name}.{f.name} is "
                             f"{type_name(f.type, None)}, elsewhere {type_name(same.type, None)}")
        merged.fields.sort(key=lambda f: f.number)
        for m in members:
            rep[id(m)] = merged
    for m in seen_messages(roots):
        for f in m.fields:
            if isinstance(f.type, Message) and id(f.type) in rep:
                f.type = rep[id(f.type)]
            elif isinstance(f.type, tuple) and id(f.type[1]) in rep:
                f.type = (f.type[0], rep[id(f.type[1])])
    for op in ops:
        op.response = rep.get(id(op.response), op.response)
        op.event = rep.get(id(op.event), op.event)


def seen_messages(roots):
    """Every message reachable from `roots`, nested ones included."""
    seen, out, stack = set(), [], list(roots)
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        out.append(m)
        stack.extend(x for f in m.fields for x in field_messages(f.type))
        stack.extend(m.nested)
    return out


# ---- stable field numbers -----------------------------------------------------------------
def load_released(path):
    """{message path ("Response.Instructions"): {field name: number}} of the last release
    (gen/released.binpb, a buf image), with each message's reserved numbers under "" and
    reserved names under "-".
    Empty when there is no release yet."""
    if not os.path.exists(path):
        return {}
    from google.protobuf import descriptor_pb2
    image = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as fh:
        image.ParseFromString(fh.read())
    out = {}

    def walk(m, prefix):
        name = prefix + m.name
        fields = {f.name: f.number for f in m.field}
        fields[""] = [n for r in m.reserved_range for n in range(r.start, r.end)]
        fields["-"] = list(m.reserved_name)
        out[name] = fields
        for n in m.nested_type:
            walk(n, name + ".")

    for f in image.file:
        if f.package == PACKAGE:
            for m in f.message_type:
                walk(m, "")
    return out


def released_files(path, cache={}):
    """{top-level message name: its file ("audio.proto")} in the last release."""
    if path not in cache:
        cache[path] = {}
        if os.path.exists(path):
            from google.protobuf import descriptor_pb2
            image = descriptor_pb2.FileDescriptorSet()
            with open(path, "rb") as fh:
                image.ParseFromString(fh.read())
            cache[path] = {m.name: f.name.rsplit("/", 1)[-1] for f in image.file
                           if f.package == PACKAGE for m in f.message_type}
    return cache[path]


def stabilize_numbers(tops, released):
    """Keeps the field numbers of the last release: a field released before keeps its
    number, a new one takes the next number never used, and a released field that is
    gone leaves its number and name reserved. Without a release, numbers stay in spec
    order."""
    def visit(m, prefix):
        path = prefix + m.name
        old = released.get(path)
        if old is not None:
            used = {n for k, n in old.items() if k not in ("", "-")} | set(old[""])
            next_number = max(used - {EXTRA_NUMBER} | {0}) + 1
            for f in m.fields:
                if f.number == EXTRA_NUMBER:
                    continue
                if f.name in old:
                    f.number = old[f.name]
                else:
                    while next_number in used or next_number == EXTRA_NUMBER:
                        next_number += 1
                    f.number = next_number
                    used.add(next_number)
            names = {f.name for f in m.fields}
            gone = [k for k in old if k not in ("", "-") and k not in names]
            m.reserved = sorted(set(old[""]) | {old[k] for k in gone})
            m.reserved_names = sorted(set(old["-"]) | set(gone))
        for n in m.nested:
            visit(n, path + ".")

    for m in tops:
        visit(m, "")


# ---- files ------------------------------------------------------------------------------
def message_refs(msg):
    for f in msg.fields:
        for t in field_messages(f.type):
            yield t.top()
    for n in msg.nested:
        yield from message_refs(n)


def assign_files(ops):
    """Puts each top-level message in its service's file or in types.proto."""
    reach = collections.defaultdict(set)  # top-level message -> files reaching it
    for op in ops:
        stack = [t for t in (op.request, op.response, op.event) if isinstance(t, Message)]
        while stack:
            m = stack.pop()
            if op.file in reach[m]:
                continue
            reach[m].add(op.file)
            stack.extend(message_refs(m))
    for m, files in reach.items():
        m.file = next(iter(files)) if len(files) == 1 else "types.proto"
    return reach


# ---- rendering --------------------------------------------------------------------------
def type_name(type_, scope):
    if isinstance(type_, tuple):
        return f"map<string, {type_name(type_[1], scope)}>"
    if not isinstance(type_, Message):
        return type_
    if type_.parent:
        s = scope
        while s is not None and s is not type_.parent:
            s = s.parent
        if s is not None:
            return type_.name  # an inline message, a child of the field's scope
        return f"{PACKAGE}.{path_of(type_)}"  # one a later message joined (dedup's `old`)
    s = scope
    while s is not None:  # a nested or enclosing name would shadow the top-level one
        if s.name == type_.name or any(n.name == type_.name for n in s.nested):
            return f"{PACKAGE}.{type_.name}"
        s = s.parent
    return type_.name


def field_line(f, msg, pad):
    label = f"{f.label} " if f.label else ""
    opts = ([f'json_name = "{f.json_name}"'] if f.json_name else []) + f.options
    if f.type == "int32" and msg.top().file and msg.top().file.startswith("admin_"):
        f.type = "int64"
    if f.type == "int64":  # for JavaScript generators that honour it (protobuf-es does not)
        opts = opts + ["jstype = JS_NUMBER"]
    opt = f" [{', '.join(opts)}]" if opts else ""
    return f"{pad}{label}{type_name(f.type, msg)} {f.name} = {f.number}{opt};"


def render_message(msg, indent):
    pad = "  " * indent
    out = [f"{pad}// {line}" for line in wrap(msg.comment, 88 - len(pad))]
    if not msg.fields and not msg.nested and not msg.form:
        return out + [f"{pad}message {msg.name} {{}}"]
    out.append(f"{pad}message {msg.name} {{")
    if msg.form:
        out.append(f"{pad}  option (openai.v1.json) = {{{msg.form}}};")
        out.append("")
    if msg.reserved:
        out.append(f"{pad}  reserved {', '.join(str(n) for n in msg.reserved)};")
        if msg.reserved_names:
            names = ", ".join('"%s"' % n for n in msg.reserved_names)
            out.append(f"{pad}  reserved {names};")

    def lines(f, fpad):  # a field, after its curated comment
        return [f"{fpad}// {line}" for line in wrap(f.comment, 88 - len(fpad))] + [
            field_line(f, msg, fpad)]

    if msg.oneof:
        out.append(f"{pad}  oneof {msg.oneof} {{")
        out += [x for f in msg.fields for x in lines(f, pad + "    ")]
        out.append(f"{pad}  }}")
    else:
        out += [x for f in msg.fields for x in lines(f, pad + "  ")]
    for n in msg.nested:
        if msg.fields or n is not msg.nested[0]:
            out.append("")
        out.extend(render_message(n, indent + 1))
    out.append(f"{pad}}}")
    return out


def http_rule(op):
    path = "/v1" + op.base_path
    for p in op.path_params:
        name = p["name"] if IDENT.fullmatch(p["name"]) else snake(p["name"])
        path = path.replace("{%s}" % p["name"], "{%s}" % name)
    entries = [f'{op.method}: "{path}"']
    if op.body_mode:
        entries.append(f'body: "{op.body_mode if op.body_mode == "*" else op.body_field}"')
    if len(entries) == 1:
        return [f"    option (google.api.http) = {{{entries[0]}}};"]
    return ["    option (google.api.http) = {"] + [f"      {e}" for e in entries] + ["    };"]


def render_rpc(name, op, response, stream, comment, twin=False, client_stream=False):
    out = [f"  // {line}" for line in wrap(comment, 86)]
    if twin:  # a twin shares its request message with the unary RPC; a WebSocket
        # Connect's is named for what it carries (RealtimeClientMessage)
        out.append("  // buf:lint:ignore RPC_REQUEST_STANDARD_NAME")
    ret = f"stream {type_name(response, None)}" if stream else type_name(response, None)
    arg = ("stream " if client_stream else "") + type_name(op.request, None)
    head = f"  rpc {name}({arg}) returns ({ret}) {{"  # as buf format
    return out + [head] + http_rule(op) + ["  }"]


def imports_of(messages, file, extra):
    deps = set(extra)
    for m in messages:
        stack = [m]
        while stack:
            cur = stack.pop()
            stack.extend(cur.nested)
            if cur.form:
                deps.add(WKT_IMPORTS["json"])
            for f in cur.fields:
                if any(o.startswith("(openai.v1.") for o in f.options):
                    deps.add(WKT_IMPORTS["json"])
                t = f.type[1] if isinstance(f.type, tuple) else f.type
                if isinstance(t, Message):
                    if t.top().file != file:
                        deps.add(f"{PROTO_DIR}/{t.top().file}")
                elif t in WKT_IMPORTS:
                    deps.add(WKT_IMPORTS[t])
    return sorted(deps)


def uploads_file(op):
    """True when the request takes a whole file in a singular FileUpload field."""
    return op.body_mode == "*" and isinstance(op.request, Message) and any(
        f.type == "FileUpload" and f.label != "repeated" for f in op.request.fields)


def render_file(file, ops, messages):
    out = [HEADER.rstrip("\n"), 'syntax = "proto3";', "", f"package {PACKAGE};", ""]
    extra = set()
    if ops:
        extra.add("google/api/annotations.proto")
        for op in ops:
            for t in (op.request, op.response, op.event):
                if isinstance(t, Message) and t.top().file != file:
                    extra.add(f"{PROTO_DIR}/{t.top().file}")
                elif t in WKT_IMPORTS:
                    extra.add(WKT_IMPORTS[t])
    out += [f'import "{i}";' for i in imports_of(messages, file, extra)]
    out += [""] + FILE_OPTIONS
    if ops:
        out.append("")
        out += [f"// {line}" for line in wrap(SERVICE_COMMENTS.get(
            ops[0].service, f"The {ops[0].group} calls of OpenAI's API."), 88)]
        out += [f"service {ops[0].service} {{"]
        for i, op in enumerate(ops):
            if i:
                out.append("")
            if getattr(op, "bidi", False):
                out += render_rpc(op.rpc, op, op.response, True, op.comment or rpc_comment(op),
                                  True, client_stream=True)
                continue
            comment = rpc_comment(op) + (" The body comes in chunks." if op.binary else "")
            out += render_rpc(op.rpc, op, op.response, op.binary, comment)
            if op.event:
                out += [""] + render_rpc(op.rpc + "Stream", op, op.event, True,
                                         "The same call with streaming on: one message per event.", True)
            if uploads_file(op):
                out += [""] + render_rpc(
                    op.rpc + "Upload", op, op.response, op.binary,
                    "The same call with the file sent in a stream of messages: the first sets "
                    "the fields, the rest only more file data.", True, client_stream=True)
        out.append("}")
    for m in messages:
        out += [""] + render_message(m, 0)
    return "\n".join(out) + "\n"


def generate(spec, out_dir, curation):
    ops = load_ops(spec)
    assign_groups(ops)
    unknown = set(curation.get("rpcs", {})) - {op.op_id for op in ops}
    if unknown:
        sys.exit(f"protogen: curated operationIds not in the spec: {sorted(unknown)}")
    for op in ops:
        op.rpc = curation.get("rpcs", {}).get(op.op_id, op.rpc)
    SERVICE_COMMENTS.update(curation.get("services", {}))
    unknown = set(SERVICE_COMMENTS) - {op.service for op in ops}
    if unknown:
        sys.exit(f"protogen: curated services that do not exist: {sorted(unknown)}")
    names = collections.Counter(op.rpc for op in ops)
    dup = [n for n, c in names.items() if c > 1]
    for op in ops:  # unique RPC names within the whole package
        if op.rpc in dup:
            op.rpc += pascal(op.method)
    websockets = curation.get("websockets") or {}
    schemas = Schemas(spec, {op.rpc + "Request" for op in ops}
                      | {ws["request"] for ws in websockets.values()}, curation)
    for op in ops:
        plan_body(schemas, op)
    for op in ops:  # a body component named <Rpc>Request is that RPC's request
        if (op.body_mode == "*" and op.body_ref and pascal(op.body_ref) == op.rpc + "Request"
                and all(p["name"] in op.body_props for p in op.path_params)):
            schemas.names[op.body_ref] = op.rpc + "Request"
    for op in ops:
        op.request = build_request(schemas, op)
        build_response(schemas, op)
    mark_text_answers(schemas, ops)
    rep = dedup(ops)
    # The WebSocket RPCs come after: what they add joins the messages above as they are.
    schemas.messages = {k: rep.get(id(m), m) for k, m in schemas.messages.items()}
    schemas.lists = {k: rep.get(id(m), m) for k, m in schemas.lists.items()}
    old = {id(m) for m in seen_messages(t for op in ops
                                        for t in (op.request, op.response, op.event)
                                        if isinstance(t, Message))}
    ops += websocket_ops(schemas, ops, websockets)
    unused = set(schemas.bytes_ids.values()) | {
        p for paths in schemas.titled_bytes.values() for p in paths.values()}
    unused -= schemas.bytes_used
    if unused:
        sys.exit(f"protogen: curated bytes fields that no message has: {sorted(unused)}")
    dedup(ops, old)
    merge_concepts(ops, curation.get("merge", {}))
    assign_files(ops)
    files = collections.defaultdict(list)
    tops = set()
    for op in ops:
        for t in (op.request, op.response, op.event):
            if isinstance(t, Message):
                tops.add(t)
    stack = list(tops)
    while stack:
        m = stack.pop()
        for r in message_refs(m):
            if r not in tops:
                tops.add(r)
                stack.append(r)
    renames = curation.get("rename", {})
    unknown = set(renames) - {m.name for m in tops}
    if unknown:
        sys.exit(f"protogen: curated renames of messages that do not exist: {sorted(unknown)}")
    for m in tops:
        m.name = renames.get(m.name, m.name)
    for m in tops:  # a released message stays in its file, whoever else uses it now
        m.file = released_files(RELEASED).get(m.name, m.file)
    comments = curation.get("messages", {})
    unknown = set(comments) - {m.name for m in tops}
    if unknown:
        sys.exit(f"protogen: curated messages that do not exist: {sorted(unknown)}")
    for m in tops:
        m.comment = comments.get(m.name)
    field_comments = curation.get("fields") or {}
    for m in tops:
        for f in m.fields:
            f.comment = field_comments.pop(f"{m.name}.{f.name}", None)
    if field_comments:
        sys.exit(f"protogen: curated fields that do not exist: {sorted(field_comments)}")
    stabilize_numbers(tops, load_released(RELEASED))
    clash = [n for n, c in collections.Counter(m.name for m in tops).items() if c > 1]
    if clash:
        sys.exit(f"protogen: top-level message names used twice: {sorted(clash)}")
    for m in tops:
        files[m.file].append(m)
    by_file = collections.defaultdict(list)
    for op in ops:
        by_file[op.file].append(op)
    os.makedirs(out_dir, exist_ok=True)
    written = set()
    for file in sorted(set(files) | set(by_file)):
        group_ops = by_file.get(file, [])
        req_order = {id(op.request): i for i, op in enumerate(group_ops)}
        msgs = sorted(files.get(file, []),
                      key=lambda m: (id(m) not in req_order, req_order.get(id(m), 0), m.name))
        text = render_file(file, group_ops, msgs)
        with open(os.path.join(out_dir, file), "w") as fh:
            fh.write(text)
        written.add(file)
    for old in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, old)
        if old.endswith(".proto") and old not in written:
            with open(path) as fh:
                if fh.readline() == HEADER:
                    os.remove(path)
    return ops, tops


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    with open(argv[1]) as fh:
        spec = yaml.load(fh, Loader=yaml.CSafeLoader)
    with open(CURATION) as fh:
        curation = yaml.safe_load(fh)
    ops, tops = generate(spec, argv[2], curation)
    twins = sum(1 for op in ops if op.event)
    uploads = sum(1 for op in ops if uploads_file(op))
    sockets = sum(1 for op in ops if getattr(op, "bidi", False))
    print(f"protogen: {len({op.service for op in ops})} services, "
          f"{len(ops) + twins + uploads} RPCs ({len(ops) - sockets} operations, "
          f"{twins} streaming twins, {uploads} upload twins, {sockets} WebSocket streams, "
          f"{sum(op.binary for op in ops)} binary), {len(tops)} top-level messages",
          file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
