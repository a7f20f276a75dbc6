# Makes tests/data/pickle/values_p{0..5}.pkl (one value pickled with each
# protocol by CPython's own pickler) and values.expected.json (the value in
# the JSON form formats/pickle pickleToJson() gives) for tests/pickle_vm_test.ts:
#   /usr/bin/python3 tests/data/pickle/make_pickles.py
import base64
import collections
import json
import os
import pickle

here = os.path.dirname(os.path.abspath(__file__))

shared = [1, 2]
value = {
    "none": None, "true": True, "false": False,
    "ints": [0, 1, 255, 256, 65535, 65536, -1, -129, 2**31 - 1, -2**31, 2**31, 2**53 - 1, -2**53 + 1],
    "bigints": [2**53, -2**53, 2**64 + 7, -(2**100) - 3, 10**40],
    "floats": [0.5, -1.25, 1e300, 3.141592653589793, -0.0],
    "strings": ["", "ascii", "unicode é ∑ 😀", "x" * 300, "line\nbreak\\back"],
    "bytes": [b"", b"\x00\xff\x80abc", bytes(range(256))],
    "bytearray": bytearray(b"\x01\x02\xfe"),
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4, 5)],
    "nested": {"list": [[1, [2, [3]]], {"k": (4, 5)}], 7: "int key", -3: "negative key"},
    "set": {1, 2, 3},
    "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
    "complex": complex(1.5, -2.0),
    "shared": [shared, shared],
}


def to_json(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 - 1 else str(v)
    if isinstance(v, float):
        return v
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, complex):
        return {"$object": "builtins.complex", "args": [v.real, v.imag]}
    raise TypeError(type(v))


for protocol in range(6):
    with open(os.path.join(here, f"values_p{protocol}.pkl"), "wb") as f:
        pickle.dump(value, f, protocol=protocol)
with open(os.path.join(here, "values.expected.json"), "w") as f:
    json.dump(to_json(value), f)
