# A corpus of small checkpoints where torch itself decides what is safe, for
# tests/scan_verdicts_test.ts.
#
#   python make_verdict_corpus.py OUT        write the corpus into OUT (torch 2.x), then judge it
#   python make_verdict_corpus.py --judge OUT    only judge OUT's files with this python's torch
#
# Judging prints {file: {"accepted": bool, "why": str}}: whether
# torch.load(file, weights_only=True) loads it. Benign files are made by
# torch.save; crafted ones are raw pickle bytes written here as data.pkl of a
# torch zip and never unpickled by anything but torch.load(weights_only=True).
import collections
import io
import json
import os
import sys
import warnings
import zipfile

warnings.simplefilter("ignore")


def judge(folder):
    import torch

    verdicts = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".pt"):
            continue
        try:
            torch.load(os.path.join(folder, name), weights_only=True)
            verdicts[name] = {"accepted": True, "why": ""}
        except Exception as error:  # noqa: BLE001 - any refusal counts
            lines = str(error).splitlines()
            why = next((line for line in lines if "WeightsUnpickler error" in line), lines[0] if lines else "")
            verdicts[name] = {"accepted": False, "why": f"{type(error).__name__}: {why.strip()[:200]}"}
    return verdicts


def torch_zip(path, pickle, members=()):
    """A torch zip checkpoint whose data.pkl is `pickle` (bytes), plus extra members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        for name, data in members:
            z.writestr(name, data)
        z.writestr("archive/version", b"3\n")


def write(folder):
    import torch

    torch.manual_seed(0)
    save = lambda name, obj, **kw: torch.save(obj, os.path.join(folder, name), **kw)  # noqa: E731
    x = torch.randn(2, 3)
    # Benign, by torch.save.
    for dtype in ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"]:
        save(f"benign_{dtype}.pt", {"w": x.abs().to(getattr(torch, dtype))})
    for dtype in ["uint16", "uint32", "uint64"]:
        save(f"benign_{dtype}.pt", {"w": torch.tensor([1, 2, 3], dtype=torch.int32).to(getattr(torch, dtype))})
    for dtype in ["complex32", "complex64", "complex128"]:
        save(f"benign_{dtype}.pt", {"w": torch.randn(3, dtype=torch.complex64).to(getattr(torch, dtype))})
    save("benign_bfloat16_half_bool.pt", {"a": x.bfloat16(), "b": x.half(), "c": x > 0, "d": x.double()})
    save("benign_qint8_per_tensor.pt", {"q": torch.quantize_per_tensor(x, 0.1, 0, torch.qint8)})
    save("benign_quint8_per_tensor.pt", {"q": torch.quantize_per_tensor(x, 0.1, 5, torch.quint8)})
    save(
        "benign_qint8_per_channel.pt",
        {"q": torch.quantize_per_channel(x, torch.tensor([0.1, 0.2], dtype=torch.float64), torch.zeros(2, dtype=torch.long), 0, torch.qint8)},
    )
    save("benign_qint32.pt", {"q": torch.quantize_per_tensor(x, 0.1, 0, torch.qint32)})
    save("benign_set.pt", {"s": {1, 2, 3}, "w": x})
    save("benign_counter.pt", {"c": collections.Counter({"a": 2, "b": 1})})
    save("benign_ordered_dict.pt", collections.OrderedDict([("w", x), ("b", torch.zeros(2))]))
    save("benign_nested.pt", {"layers": [{"w": x, "meta": (1, 2.5, "s", None, True)}, [x[0], {"k": b"bytes"}]], "step": 7})
    save("benign_scalars.pt", {"i": 3, "f": 0.5, "c": 1 + 2j, "b": bytearray(b"ab"), "dev": torch.device("cpu"), "size": torch.Size([2, 3])})
    save("benign_parameter.pt", {"p": torch.nn.Parameter(x)})
    save("benign_sparse.pt", {"s": x.to_sparse()})
    save("benign_legacy_format.pt", {"w": x, "n": torch.arange(4)}, _use_new_zipfile_serialization=False)
    # Refused by torch, made by torch.save.
    save("refused_frozenset.pt", {"s": frozenset([1, 2])})
    save("refused_module.pt", torch.nn.Linear(2, 2))
    save("refused_slice.pt", {"s": slice(1, 2)})

    # Crafted data.pkl streams (protocol 2 unless said otherwise).
    def g(module, name):
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def u(text):
        data = text.encode()
        return b"X" + len(data).to_bytes(4, "little") + data

    empty_od = g("collections", "OrderedDict") + b")R"
    crafted = {
        "crafted_ok_ordered_dict.pt": b"\x80\x02" + empty_od + b"(" + u("a") + b"K\x01u.",
        "crafted_ok_builtin_set_py2_name.pt": b"\x80\x02}(" + u("s") + g("__builtin__", "set") + b"]K\x01a\x85Ru.",
        # torch stops at STOP: what follows is never read (a global in it would still be reported).
        "crafted_ok_trailing_bytes.pt": b"\x80\x02}.\x00\x01garbage",
        "crafted_ok_counter.pt": b"\x80\x02" + g("collections", "Counter") + b")R(" + u("a") + b"K\x02u.",
        "crafted_os_system.pt": b"\x80\x02" + g("os", "system") + u("true") + b"\x85R.",
        "crafted_posix_system.pt": b"\x80\x02" + g("posix", "system") + u("true") + b"\x85R.",
        "crafted_builtins_eval.pt": b"\x80\x02" + g("builtins", "eval") + u("1") + b"\x85R.",
        "crafted_subprocess.pt": b"\x80\x02" + g("subprocess", "check_output") + b"]" + u("true") + b"a\x85R.",
        "crafted_getattr.pt": b"\x80\x02" + g("builtins", "getattr") + g("collections", "OrderedDict") + u("fromkeys") + b"\x86R.",
        "crafted_stack_global_allowed_name.pt": b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R.",
        "crafted_frame_memoize.pt": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94N.",
        "crafted_protocol0_text_opcodes.pt": b"(dp0\nVa\np1\nI1\ns.",
        "crafted_build_on_dict.pt": b"\x80\x02}}b.",
        "crafted_build_on_ordered_dict.pt": b"\x80\x02" + empty_od + b"}b.",
        "crafted_append_to_dict.pt": b"\x80\x02}K\x01a.",
        "crafted_setitem_on_list.pt": b"\x80\x02]K\x01K\x02s.",
        "crafted_setitems_on_set.pt": b"\x80\x02" + g("builtins", "set") + b")R(K\x01K\x02u.",
        "crafted_reduce_on_tuple.pt": b"\x80\x02)))R.",
        "crafted_frozenset_global.pt": b"\x80\x02" + g("builtins", "frozenset") + b")R.",
        "crafted_exceptions_set.pt": b"\x80\x02" + g("exceptions", "set") + b")R.",
        "crafted_float8_storage_class.pt": b"\x80\x02" + g("torch", "Float8_e4m3fnStorage") + b".",
        "crafted_torch_untypedstorage.pt": b"\x80\x02" + g("torch", "UntypedStorage") + b".",
        "crafted_numpy_reconstruct.pt": b"\x80\x02" + g("numpy.core.multiarray", "_reconstruct") + b".",
        "crafted_persid_not_storage.pt": b"\x80\x02(" + u("evil") + b"tQ.",
        "crafted_persid_int.pt": b"\x80\x02K\x07Q.",
        "crafted_newobj_unknown_class.pt": b"\x80\x02" + g("mymodel", "Net") + b")\x81.",
        "crafted_sys_modules.pt": b"\x80\x02" + g("sys", "modules") + b".",
        "crafted_corrupt_after_global.pt": b"\x80\x02" + g("os", "system") + b"\xff\xfe",
        "crafted_protocol0_corrupt_after_global.pt": g("os", "system") + b"(S'true'\n\xff",
        # ckpt flags these though torch loads them: a pickle torch never reads
        # would run under pickle.load (listed in the test as the exceptions).
        "stricter_second_pickle_after_stop.pt": b"\x80\x02}." + b"\x80\x02" + g("os", "system") + u("true") + b"\x85R.",
    }
    for name, data in crafted.items():
        torch_zip(os.path.join(folder, name), data)
    torch_zip(
        os.path.join(folder, "stricter_hidden_member.pt"),
        b"\x80\x02}.",
        [("archive/data.txt", g("os", "system") + b"(S'true'\ntR.")],
    )


if __name__ == "__main__":
    if sys.argv[1] == "--judge":
        print(json.dumps(judge(sys.argv[2])))
    else:
        write(sys.argv[1])
        print(json.dumps(judge(sys.argv[1])))
