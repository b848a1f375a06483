"""Hypothesis strategies for protocol v1 client frames, driven by the JSON schemas in
`classroom.signaling.messages.SCHEMAS`, and an oracle that says what each frame deserves.

The strategies walk the schemas: every message type, every field, so that a field added to
a schema is fuzzed without anyone touching this file (a schema keyword the walker does not
know fails loudly instead of being skipped). Three families of frames come out:

- *valid* messages: each field drawn inside its schema, ids drawn from real ids of the
  session under test, of other sessions, or made up;
- *near-valid* ones: a valid message with one to three mutations (a field dropped, added,
  of the wrong JSON type, an integral float such as ``2.0`` for an integer, out of range, a
  string too long or too short, an id or enum value bent, a wrong ``v`` or ``type``), or with
  one value replaced by raw JSON text the server must refuse or read exactly (``NaN``,
  ``Infinity``, ``1e999``, a lone surrogate escape ``"\\ud800"``, ``1e-400``, ``-0``, deep
  nesting, a 5000-digit integer);
- odd *frames*: not JSON, not an object, empty, truncated, with a byte-order mark, binary,
  nested past any parser's limit, or close to and over the 256 KiB frame limit.

The oracle (`expect_value`, `expect_text`) is written from the protocol document and the
JSON Schema rules, independently of the server's own validator (`classroom.domain.inputs`):
it would be no test to ask the code under test what it should have answered. Where the
document leaves two answers open (a 5000-digit integer, a byte-order mark, ``"v": 1.0``),
it allows both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from classroom.signaling.interactions import CHAT_MAX_CHARS
from classroom.signaling.messages import MAX_FRAME_BYTES, SCHEMAS

#: The id pattern every id field of the schemas uses.
ID_PATTERN: str = SCHEMAS["round_open"]["properties"]["round_id"]["pattern"]
#: The prefix of each kind of id (classroom.domain.models, rounds, planner, interactions).
ID_PREFIX = {
    "participant": "p",
    "member": "m",
    "round": "r",
    "group": "g",
    "poll": "q",
    "plan": "l",
    "session": "s",
    "cohort": "c",
}
#: Which kind of id each id field of the schemas names (`groups` and `member_ids` items are
#: member ids).
ID_FIELD = {
    "participant_id": "participant",
    "member_id": "member",
    "groups": "member",
    "member_ids": "member",
    "round_id": "round",
    "from_round": "round",
    "group_id": "group",
    "poll_id": "poll",
    "plan_id": "plan",
}
#: The codes with which the server refuses a frame before any handler sees it.
PARSE_CODES = frozenset({"bad_json", "bad_message", "unknown_type", "unsupported_version"})

#: Characters that break naive text handling: bidi controls, zero-width ones, a BOM, NUL
#: and other controls, line and paragraph separators, combining marks, non-characters,
#: astral code points, a family emoji (a ZWJ sequence), right-to-left scripts.
ODD_CHARACTERS = (
    "\u200f\u200e\u202e\u202d\u2066\u2069\u061c\u200b\u200c\u200d\u2060\ufeff\u00ad"
    "\x00\x01\x07\x1b\x7f\x85\u2028\u2029\u0301\u0338\u20dd\ufffd\ufffe\uffff\U0010ffff"
    "\U0001f600\U0001f469\u200d\U0001f467 \t\n\r\u3000\u00a0åøÆ\u0627\u05d0\u0e01<>&'\"\\%{}"
)
#: Repeated to make long strings: one, two, four UTF-8 bytes; a zero-width character;
#: a space (trimmed away by the server); NUL; a letter plus a combining mark.
LONG_UNITS = ("a", "å", "\U0001f600", "\u200b", " ", "\x00", "e\u0301", "\u202e")


# --- the oracle ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What a frame deserves: `accept_ok` if it fits its schema (the server may act on it,
    or refuse it for a reason of the room); `codes` are the parse-level refusals that
    would be right. A frame the document leaves open has both."""

    accept_ok: bool
    codes: frozenset[str] = frozenset()

    def __or__(self, other: Expect) -> Expect:
        return Expect(self.accept_ok or other.accept_ok, self.codes | other.codes)


REFUSE_JSON = Expect(False, frozenset({"bad_json"}))


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: numbers by value, booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":  # the protocol's rule: a JSON integer; 2.0 is not one
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "string": str,
        "boolean": bool,
        "null": type(None),
        "array": list,
        "object": dict,
    }[kind] is type(value)


def _anchored(pattern: str) -> str:
    """The body of an ``^…$`` pattern. In JSON Schema (ECMA-262) ``$`` is the end of the
    text; Python's ``$`` also matches before a final newline, so the oracle uses
    `re.fullmatch` on the body instead."""
    if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")):
        raise NotImplementedError(f"the fuzz oracle reads only ^...$ patterns, not {pattern!r}")
    return pattern[1:-1]


_HANDLED = {
    "type", "const", "enum", "anyOf", "properties", "required", "additionalProperties",
    "minLength", "maxLength", "pattern", "minimum", "maximum", "items", "minItems", "maxItems",
    "maxProperties", "propertyNames",
}  # fmt: skip


def conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether `value` fits `schema`, for the JSON Schema keywords the protocol uses."""
    unknown = set(schema) - _HANDLED
    if unknown:
        raise NotImplementedError(f"the fuzz oracle does not know {sorted(unknown)}")
    if "const" in schema and not json_equal(value, schema["const"]):
        return False
    if "enum" in schema and not any(json_equal(value, e) for e in schema["enum"]):
        return False
    if "anyOf" in schema and not any(conforms(value, s) for s in schema["anyOf"]):
        return False
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, k) for k in kinds):
            return False
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return False
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return False
        if "pattern" in schema and re.fullmatch(_anchored(schema["pattern"]), value) is None:
            return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return False
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return False
        if "items" in schema and not all(conforms(v, schema["items"]) for v in value):
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", ())):
            return False
        if schema.get("additionalProperties") is False and set(value) - set(properties):
            return False
        if not all(conforms(v, properties[k]) for k, v in value.items() if k in properties):
            return False
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            return False
        names = schema.get("propertyNames")
        if names is not None and not all(conforms(k, names) for k in value):
            return False
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping) and not all(
            conforms(v, extra) for k, v in value.items() if k not in properties
        ):
            return False
    return True


def _text_ok(value: Any) -> bool:
    """Finite numbers and valid Unicode (no lone surrogate) all the way down."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def expect_value(value: Any) -> Expect:
    """What a decoded frame deserves (docs/protocol.md, "Client → server", and the error
    codes): not an object → `bad_json`; no string `type` → `bad_message`; a wrong `v` →
    `unsupported_version`; an unknown type → `unknown_type`; fields that do not fit →
    `bad_message`. The order of the last three is not documented, so any that applies is
    right."""
    if not _text_ok(value):
        return REFUSE_JSON
    if not isinstance(value, dict):
        return REFUSE_JSON
    kind = value.get("type")
    if not isinstance(kind, str):
        return Expect(False, frozenset({"bad_message"}))
    codes: set[str] = set()
    version = value.get("v", None)
    version_ok = "v" in value and json_equal(version, 1)
    if not version_ok:
        codes.add("unsupported_version")
        if version is True:  # not 1 in JSON, though equal to 1 in Python
            codes.add("bad_message")
    elif isinstance(version, float):  # 1.0: one in JSON Schema, not an "integer" in the doc
        codes |= {"unsupported_version", "bad_message"}
    schema = SCHEMAS.get(kind)
    if schema is None:
        codes.add("unknown_type")
        return Expect(False, frozenset(codes))
    fits = conforms(value, schema)
    if not fits:
        codes.add("bad_message")
    return Expect(version_ok and fits, frozenset(codes))


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def expect_text(text: str) -> Expect:
    """What a text frame deserves: JSON as RFC 8259 reads it (no NaN or Infinity, numbers
    a float can hold), then `expect_value`."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return REFUSE_JSON
    return expect_value(value)


# --- frames -------------------------------------------------------------------------------


@dataclass
class Frame:
    """One frame to send, with what it deserves."""

    payload: str | bytes
    #: valid, mutated, raw, frame (a whole-frame oddity) or oversize.
    family: str
    #: The type it names, if it names one of the protocol (a handler may see it).
    mtype: str | None
    expect: Expect
    #: The decoded message the server acts on, when it may act on one.
    message: dict[str, Any] | None = None
    #: A close code the protocol documents for this frame (1009: too large).
    closes: int | None = None
    #: What was done to it, for the failure report.
    note: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes on the wire (before compression): what the frame limit counts."""
        return len(self.payload.encode()) if isinstance(self.payload, str) else len(self.payload)

    def describe(self) -> str:
        text = self.payload if isinstance(self.payload, str) else repr(self.payload)
        shown = text if len(text) <= 600 else f"{text[:300]} …({len(text)} chars)… {text[-200:]}"
        return f"{self.family} {self.mtype} {self.note} {shown}"

    def __repr__(self) -> str:  # Hypothesis prints the draws of a failing example
        return f"Frame({self.describe()})"


@dataclass
class Pools:
    """Ids and tokens the strategies draw from: of the session under test (`here`), of
    other sessions and cohorts (`elsewhere`), and made up.

    The pools change as the session goes on, but Hypothesis needs the shape of what it
    draws to depend on earlier draws only: so a strategy draws an index, and the pool
    resolves it when the frame is built (`pick`)."""

    here: Mapping[str, Sequence[str]]
    elsewhere: Mapping[str, Sequence[str]]
    tokens: Sequence[str]

    def pick(self, where: str, kind: str | None, i: int) -> str:
        """The `i`-th id (modulo) of `kind` here or elsewhere (None: of any kind)."""
        pools = self.here if where == "here" else self.elsewhere
        if kind is None:
            pool: Sequence[str] = sorted({x for p in pools.values() for x in p})
        else:
            pool = sorted(pools.get(kind, ()))
        if not pool:  # nothing of that kind yet: a made-up id of the right shape
            return f"{ID_PREFIX.get(kind or 'round', 'r')}_{i:012x}"
        return pool[i % len(pool)]

    def token(self, i: int) -> str:
        return sorted(self.tokens)[i % len(self.tokens)] if self.tokens else "no-token"


def random_ids(kind: str | None = None) -> st.SearchStrategy[str]:
    """Ids of the right shape that name nothing (with the kind's prefix, or any)."""
    prefix = st.just(ID_PREFIX[kind]) if kind else st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    return st.builds(
        lambda p, h: f"{p}_{h}", prefix, st.text("0123456789abcdef", min_size=6, max_size=32)
    )


def ids(kind: str, pools: Pools) -> st.SearchStrategy[str]:
    """Real ids of the session, of elsewhere, of another kind, or made up."""
    index = st.integers(0, 1023)
    here = st.builds(lambda i: pools.pick("here", kind, i), index)
    elsewhere = st.builds(lambda i: pools.pick("elsewhere", kind, i), index)
    anything = st.builds(
        lambda w, i: pools.pick(w, None, i), st.sampled_from(["here", "elsewhere"]), index
    )
    return st.one_of(
        here, here, here, elsewhere, elsewhere, anything, random_ids(kind), random_ids()
    )


def texts(min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Text inside the length bounds: odd Unicode in short strings, and long ones at the
    bounds (counted in code points, as JSON Schema counts)."""
    short_max = 40 if max_size is None else min(max_size, 40)
    small = st.text(
        alphabet=st.one_of(
            st.characters(exclude_categories=["Cs"]), st.sampled_from(ODD_CHARACTERS)
        ),
        min_size=min_size,
        max_size=max(short_max, min_size),
    )
    limit = 3000 if max_size is None else max_size
    lengths = sorted({n for n in (min_size, min_size + 1, limit - 1, limit) if min_size <= n})
    long = st.builds(
        lambda unit, n: (unit * n)[:n], st.sampled_from(LONG_UNITS), st.sampled_from(lengths)
    )
    return st.one_of(small, small, long)


def _string(name: str, schema: Mapping[str, Any], pools: Pools) -> st.SearchStrategy[Any]:
    pattern = schema.get("pattern")
    if pattern == ID_PATTERN:
        return ids(ID_FIELD[name], pools)
    if pattern is not None:
        return st.from_regex(_anchored(pattern), fullmatch=True)
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if name == "token":  # a second join, with a real token or not
        return st.one_of(st.builds(pools.token, st.integers(0, 1023)), texts(low, high))
    if name == "text":  # the chat's documented limit is after trimming, below the schema's
        around = [CHAT_MAX_CHARS - 1, CHAT_MAX_CHARS, CHAT_MAX_CHARS + 1]
        at_limit = st.builds(
            lambda unit, n, pad: pad + (unit * n)[:n] + pad,
            st.sampled_from(LONG_UNITS),
            st.sampled_from(around),
            st.sampled_from(["", " ", "\n\t "]),
        )
        return st.one_of(texts(low, high), at_limit.filter(lambda t: len(t) <= (high or 0)))
    if name == "sdp":
        fake = st.sampled_from(
            ["v=0", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", "m=audio 9 RTP/AVP 0"]
        )
        return st.one_of(texts(low, high), fake)
    return texts(low, high)


def valid_value(name: str, schema: Mapping[str, Any], pools: Pools) -> st.SearchStrategy[Any]:
    """A value of field `name` that fits `schema`."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    if "anyOf" in schema:
        return st.one_of([valid_value(name, s, pools) for s in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([valid_value(name, {**schema, "type": k}, pools) for k in kind])
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        edges = [e for e in (low, high) if e is not None]
        ints = st.integers(low, high)
        return st.one_of(ints, st.sampled_from(edges)) if edges else ints
    if kind == "number":
        return st.one_of(
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0, -0.0, 2**53 + 1, -(2**63), 10**300, 1e308, 5e-324]),
        )
    if kind == "string":
        return _string(name, schema, pools)
    if kind == "array":
        items = valid_value(name, schema["items"], pools)
        low, high = schema.get("minItems", 0), schema.get("maxItems", 10)
        some = st.lists(items, min_size=low, max_size=max(low, min(high, 6)))
        full = st.builds(lambda item, n: [item] * n, items, st.sampled_from([low, high]))
        return st.one_of(some, some, full)
    if kind == "object" and "properties" in schema:
        fixed = {
            key: valid_value(key, sub, pools)
            for key, sub in schema["properties"].items()
            if key in schema.get("required", ())
        }
        return st.fixed_dictionaries(fixed)
    if kind == "object" and "propertyNames" in schema:  # a map (`view`'s slots by mid)
        keys = st.from_regex(_anchored(schema["propertyNames"]["pattern"]), fullmatch=True)
        values = valid_value(name, schema["additionalProperties"], pools)
        return st.dictionaries(keys, values, max_size=min(4, schema.get("maxProperties", 4)))
    raise NotImplementedError(f"the fuzz strategies do not know the schema {dict(schema)}")


@st.composite
def valid_message(draw: st.DrawFn, mtype: str, pools: Pools) -> dict[str, Any]:
    """A message of `mtype` that fits its schema: every required field, some optional ones."""
    schema = SCHEMAS[mtype]
    message: dict[str, Any] = {"v": 1, "type": mtype}
    for name, sub in schema["properties"].items():
        if name in ("v", "type"):
            continue
        if name in schema["required"] or draw(st.booleans()):
            message[name] = draw(valid_value(name, sub, pools))
    return message


#: Any JSON value (for wrong types and extra fields).
json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(0, 20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts(0, 8), children, max_size=4)
    ),
    max_leaves=8,
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", type(None): "null", list: "array", dict: "object"}[type(value)]


def _bent_strings(value: str) -> list[str]:
    """Near misses of an id or an enum value."""
    out = [
        value.upper(),
        value + "\n",  # `$` in a Python regex matches before a final newline
        value + " ",
        " " + value,
        value[:-1],
        value + "0" * 33,
        value.replace("_", "-", 1),
        value + "\u200b",
        value[:1].upper() + value[1:],
        value.replace("0", "\u0660"),  # ARABIC-INDIC DIGIT ZERO
        value.replace("a", "\uff41"),  # FULLWIDTH LATIN SMALL LETTER A
        value + ":members",
        "",
    ]
    return [s for s in out if s != value]


def _fields(mtype: str) -> list[str]:
    return [n for n in SCHEMAS[mtype]["properties"] if n not in ("v", "type")]


@st.composite
def mutation(draw: st.DrawFn, message: dict[str, Any], pools: Pools) -> str:
    """Bend `message` in place, once; returns what was done."""
    kind = message.get("type")
    mtype = kind if isinstance(kind, str) and kind in SCHEMAS else "ping"
    schema = SCHEMAS[mtype]
    props = schema["properties"]
    names = _fields(mtype)
    op = draw(
        st.sampled_from(
            ["drop", "extra", "retype", "retype", "float", "range", "length", "bend", "bend",
             "bend", "items", "v", "type"]
        )
    )  # fmt: skip
    if op == "bend":  # any string of the message: an id, an enum value, a text, the type
        strings = sorted(n for n, v in message.items() if isinstance(v, str) and v)
        if strings:
            name = draw(st.sampled_from(strings))
            message[name] = draw(st.sampled_from(_bent_strings(message[name])))
            return f"bend {name}"
    if op == "drop" and message:
        name = draw(st.sampled_from(sorted(message)))
        del message[name]
        return f"drop {name}"
    if op == "extra" or not names:
        others = sorted({n for s in SCHEMAS.values() for n in s["properties"]} - set(props))
        name = draw(
            st.one_of(
                st.sampled_from(["extra", "__proto__", "constructor", "V", "Type", "", "\x00"]),
                st.sampled_from(others),
                texts(0, 10),
            )
        )
        if name in props:
            return "extra (none)"
        message[name] = draw(json_values)
        return f"extra {name!r}"
    name = draw(st.sampled_from(names))
    sub = props[name]
    current = message.get(name)
    if op == "retype":
        message[name] = draw(
            json_values.filter(lambda v: current is None or _json_type(v) != _json_type(current))
        )
        return f"retype {name}"
    if op == "float":
        ints = [n for n in message if type(message[n]) is int and abs(message[n]) < 2**53]
        if not ints:
            message["v"] = 1.0
            return "float v"
        target = draw(st.sampled_from(ints))
        message[target] = float(message[target])
        return f"float {target}"
    if op == "range":
        low, high = sub.get("minimum", 0), sub.get("maximum", 0)
        message[name] = draw(
            st.sampled_from(
                [low - 1, high + 1, -1, 2**31, 2**31 + 1, 2**53 + 1, -(2**63), 10**30, -(10**30)]
            )
        )
        return f"range {name}"
    if op == "length":
        too_long = sub.get("maxLength", 4000) + draw(st.sampled_from([1, 2, 1000, 100_000]))
        unit = draw(st.sampled_from(LONG_UNITS))
        message[name] = draw(st.sampled_from(["", (unit * too_long)[:too_long]]))
        return f"length {name}"
    if op == "items":
        low, high = sub.get("minItems", 0), sub.get("maxItems", 3)
        item = draw(json_values)
        message[name] = draw(
            st.sampled_from([[item] * max(0, low - 1), [item] * (high + 1), [item], [[item]]])
        )
        return f"items {name}"
    if op == "v":
        message["v"] = draw(
            st.sampled_from([0, 2, -1, "1", 1.0, True, False, None, 10**20, [1], {"v": 1}, 1.5])
        )
        return "v"
    message["type"] = draw(
        st.sampled_from(
            [
                "", mtype.upper(), mtype + " ", " " + mtype, mtype + "\x00", mtype + "\u200b",
                mtype.replace("i", "\u0131"), 1, None, True, [mtype], {"type": mtype},
                "__proto__", "constructor", "hasOwnProperty", "x" * 10_000,
            ]
        )
        | st.sampled_from(sorted(SCHEMAS))
    )  # fmt: skip
    return "type"


#: Raw JSON text → the value the server must read from it, or None: it must refuse it
#: (`bad_json`). The flag: the server may refuse it although it is JSON (a number with
#: more digits than a parser need take).
RAW_TOKENS: list[tuple[str, Any, bool]] = [
    ("NaN", None, False),
    ("-NaN", None, False),
    ("Infinity", None, False),
    ("-Infinity", None, False),
    ("1e999", None, False),
    ("-1e999", None, False),
    ("1E400", None, False),
    ('"\\ud800"', None, False),
    ('"\\udfff"', None, False),
    ('"a\\ud83db"', None, False),
    ('"\\ude00\\ud83d"', None, False),
    ('["ok", "\\udbff"]', None, False),
    ('{"\\ud800": 1}', None, False),
    ('"\\ud83d\\ude00"', "\U0001f600", False),
    ('"\\u0000"', "\x00", False),
    ('"\\u202e\\u200b\\ufeff"', "\u202e\u200b\ufeff", False),
    ("1e-400", 0.0, False),
    ("-0", 0, False),
    ("-0.0", -0.0, False),
    ("2.0", 2.0, False),
    ("2e0", 2.0, False),
    ("1.0", 1.0, False),
    ("60.000", 60.0, False),
    ("123456789012345678901234567890", 123456789012345678901234567890, False),
    ("9" * 5000, 10**5000 - 1, True),
]
_SENTINEL = "\ue000fuzz-raw\ue000"


def _nested(depth: int, as_object: bool) -> tuple[str, Any]:
    if as_object:
        text = '{"a":' * depth + "0" + "}" * depth
        value: Any = 0
        for _ in range(depth):
            value = {"a": value}
        return text, value
    value = []
    for _ in range(depth - 1):
        value = [value]
    return "[" * depth + "]" * depth, value


@st.composite
def raw_value(draw: st.DrawFn, message: dict[str, Any]) -> tuple[str, Any, Expect | None, str]:
    """A raw JSON token and what it deserves, for one value of `message`."""
    if draw(st.integers(0, 4)) == 0:  # deep nesting, short of and past the parser's limit
        depth = draw(
            st.one_of(st.integers(1, 40), st.integers(900, 1100), st.sampled_from([5000, 60_000]))
        )
        as_object = draw(st.booleans())
        text, value = _nested(depth, as_object)
        if depth > 3000:
            return text, None, REFUSE_JSON, f"nesting {depth}"
        either = REFUSE_JSON if depth > 50 else None  # the limit depends on the stack
        return text, value, either, f"nesting {depth}"
    text, value, refusable = draw(st.sampled_from(RAW_TOKENS))
    if value is None:
        return text, None, REFUSE_JSON, text[:20]
    return text, value, REFUSE_JSON if refusable else None, text[:20]


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)


@st.composite
def typed_frame(draw: st.DrawFn, mtype: str, pools: Pools) -> Frame:
    """A valid, near-valid or raw-spliced message of `mtype`."""
    message = draw(valid_message(mtype, pools))
    family = draw(st.sampled_from(["valid", "valid", "mutated", "mutated", "mutated", "raw"]))
    ascii_only = draw(st.booleans())
    note: list[str] = []
    if family == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            note.append(draw(mutation(message, pools)))
    if family == "raw":
        target = draw(st.sampled_from([*sorted(message), "extra"]))
        text, value, either, what = draw(raw_value(message))
        note.append(f"raw {target}={what}")
        spliced = dict(message)
        spliced[target] = _SENTINEL
        payload = _dumps(spliced, ascii_only).replace(_dumps(_SENTINEL, ascii_only), text, 1)
        if value is None:
            expect = either or REFUSE_JSON
            return Frame(payload, family, mtype, expect, None, note=note)
        spliced[target] = value
        expect = expect_value(spliced)
        if either is not None:
            expect = expect | either
        kind = spliced.get("type")
        named = kind if isinstance(kind, str) and kind in SCHEMAS else None
        return Frame(payload, family, named, expect, spliced, note=note)
    payload = _dumps(message, ascii_only)
    kind = message.get("type")
    named = kind if isinstance(kind, str) and kind in SCHEMAS else None
    return Frame(payload, family, named, expect_value(message), message, note=note)


@st.composite
def odd_frame(draw: st.DrawFn, pools: Pools) -> Frame:
    """A whole frame that is odd as a frame."""
    shape = draw(
        st.sampled_from(
            ["text", "truncated", "non_object", "empty", "bom", "padded", "binary", "nesting",
             "near_limit", "oversize"]
        )
    )  # fmt: skip
    message = draw(valid_message(draw(st.sampled_from(sorted(SCHEMAS))), pools))
    text = json.dumps(message)
    if shape == "text":
        payload = draw(
            st.one_of(
                texts(0, 60),
                st.sampled_from(["{", "}", "[]", "null", "{}", '{"v":1}', '{"type":"ping"}']),
            )
        )
        return Frame(payload, "frame", None, expect_text(payload), note=[shape])
    if shape == "truncated":
        cut = draw(st.integers(0, max(0, len(text) - 1)))
        payload = text[:cut]
        return Frame(payload, "frame", None, expect_text(payload), note=[shape])
    if shape == "non_object":
        value = draw(json_values.filter(lambda v: not isinstance(v, dict)) | st.just([message]))
        return Frame(json.dumps(value), "frame", None, REFUSE_JSON, note=[shape])
    if shape == "empty":
        payload = draw(st.sampled_from(["", " ", "\n", "\t\r\n ", "\x00"]))
        return Frame(payload, "frame", None, REFUSE_JSON, note=[shape])
    if shape == "bom":  # RFC 8259: a parser may ignore a byte-order mark, or refuse it
        expect = expect_value(message) | REFUSE_JSON
        named = message["type"]
        return Frame("\ufeff" + text, "frame", named, expect, message, note=[shape])
    if shape == "padded":  # whitespace around a value is JSON
        payload = " \n\t" + text + "\r\n "
        named = message["type"]
        return Frame(payload, "frame", named, expect_value(message), message, note=[shape])
    if shape == "binary":  # docs/protocol.md: text frames only; binary is `bad_json`
        data = draw(st.one_of(st.binary(max_size=64), st.just(text.encode())))
        return Frame(data, "frame", None, REFUSE_JSON, note=[shape])
    if shape == "nesting":
        depth = draw(st.sampled_from([2000, 10_000, 100_000]))
        payload = "[" * depth + "]" * depth
        return Frame(payload, "frame", None, REFUSE_JSON, note=[f"{shape} {depth}"])
    # A ping whose `t` brings the frame near the 256 KiB limit, or over it (code 1009).
    over = shape == "oversize"
    size = MAX_FRAME_BYTES + (draw(st.sampled_from([64, 1024, 60_000])) if over else -256)
    envelope = '{"v":1,"type":"ping","t":""}'
    t = draw(st.sampled_from(["x", "å"]))
    t = t * ((size - len(envelope)) // len(t.encode()))
    ping = {"v": 1, "type": "ping", "t": t}
    payload = json.dumps(ping, ensure_ascii=False)
    if over:
        return Frame(payload, "oversize", "ping", REFUSE_JSON, None, 1009, [f"{size} bytes"])
    return Frame(payload, "frame", "ping", Expect(True), ping, note=[f"{size} bytes"])


def _sized(frame: Frame) -> Frame:
    """A frame over the limit is closed with 1009, whatever it holds (docs/protocol.md)."""
    if frame.size > MAX_FRAME_BYTES and frame.closes is None:
        frame.closes, frame.family, frame.expect = 1009, "oversize", REFUSE_JSON
        frame.note.append(f"{frame.size} bytes")
    return frame


def _clear_of_limit(frame: Frame) -> bool:
    """Not within a few bytes of the limit, where the two sides may count differently."""
    return not MAX_FRAME_BYTES - 64 <= frame.size <= MAX_FRAME_BYTES + 64


def frames(mtype: str, pools: Pools, allowed: Callable[[Frame], bool]) -> st.SearchStrategy[Frame]:
    """Frames mostly of `mtype`, sometimes odd as frames; `allowed` filters out what the
    run must not send (e.g. a valid `end_session`: the session would be over)."""
    return (
        st.one_of(typed_frame(mtype, pools), typed_frame(mtype, pools), odd_frame(pools))
        .filter(_clear_of_limit)
        .map(_sized)
        .filter(allowed)
    )
