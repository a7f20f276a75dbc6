"""Write the Keras test files and expected.json, the names, dtypes, shapes and
bytes Keras (or h5py, for the layouts Keras does not write itself) reads back.

Run with the oracle venv (keras 3 with the TensorFlow backend, h5py):
    .oracles/venv/bin/python tests/data/keras/make_keras_files.py [OUT_DIR]
OUT_DIR defaults to this script's folder.

Files:
  functional.keras        functional model (Conv2D, BatchNormalization, Embedding, Dense,
                          a nested Sequential, a float16 Dense), compiled, one Adam step
  sequential.keras        Sequential model, never compiled: no optimizer state
  functional.weights.h5   model.save_weights of the functional model (with its optimizer)
  sequential.weights.h5   model.save_weights of the Sequential model
  functional.h5           legacy full-model HDF5 (model.save("x.h5")): model_weights + optimizer_weights
  legacy_weights.h5       legacy weights-only HDF5, written by Keras' own legacy writer
  tf_keras_style.h5       weights-only HDF5 in the tf.keras 2 layout (names with ":0"),
                          gzip+shuffle chunked datasets, float64/int/bool/big-endian datasets (h5py)
  deflated.keras          sequential.keras with its members deflated
  not_keras.h5            an HDF5 file that is not Keras weights (h5py)
  bad_no_weights.keras    a .keras archive without model.weights.h5
  bad_declared_shape.h5   a dataset declaring 4 MB with no bytes stored (h5py)
  bad_absurd_dims.h5      a dataset declaring 2^31 x 2^31 x 2^20 elements (h5py)
"""

import json
import os
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
DTYPES = {
    "float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16",
    "int32": "I32", "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32",
    "uint64": "U64", "bool": "BOOL", "bfloat16": "BF16",
}


def entry(name, array):
    array = np.asarray(array)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {
        "name": name,
        "dtype": DTYPES[array.dtype.name],
        "shape": list(array.shape),
        "hex": np.ascontiguousarray(little).tobytes().hex(),
    }


def keras_entries(model, with_optimizer):
    """What Keras itself lists: model.weights by path, optimizer variables as optimizer/<path>."""
    out = [entry(v.path, keras.ops.convert_to_numpy(v.value)) for v in model.weights]
    if with_optimizer:
        out += [
            entry("optimizer/" + v.path, keras.ops.convert_to_numpy(v.value))
            for v in model.optimizer.variables
        ]
    return out


def functional():
    img = keras.Input((4, 4, 1), name="image")
    tok = keras.Input((2,), dtype="int32", name="tokens")
    x = keras.layers.Conv2D(2, 3, name="conv")(img)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)
    e = keras.layers.Embedding(6, 2, name="embed")(tok)
    e = keras.layers.Flatten(name="flat_tokens")(e)
    h = keras.layers.Concatenate(name="join")([x, e])
    h = keras.layers.Dense(3, name="dense")(h)
    block = keras.Sequential(
        [keras.layers.Dense(2, name="inner_dense"), keras.layers.Dense(2, use_bias=False, name="inner_proj")],
        name="block",
    )
    h = block(h)
    half = keras.layers.Dense(2, dtype="float16", name="half")(h)
    return keras.Model([img, tok], [h, half], name="net")


def sequential(bf16=True):
    # Keras' legacy HDF5 loader cannot cast bfloat16, so the legacy file's model has no such layer.
    extra = [keras.layers.Dense(2, dtype="bfloat16", name="head_bf16")] if bf16 else []
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dense(2, use_bias=False, name="head"),
            *extra,
        ],
        name="seq",
    )


def train(model):
    rng = np.random.default_rng(1)
    x = [rng.random((4, 4, 4, 1), dtype=np.float32), rng.integers(0, 6, (4, 2)).astype("int32")]
    y = [rng.random((4, 2), dtype=np.float32), rng.random((4, 2)).astype("float16")]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)


def h5_entries(path, names):
    """Values as h5py reads them, for layouts Keras itself does not load by name."""
    with h5py.File(path, "r") as f:
        return [entry(name, f[h5path][()]) for name, h5path in names]


def write_tf_keras_style(path):
    """The layout tf.keras 2 save_weights writes: root layer_names, per-layer weight_names with ':0'."""
    rng = np.random.default_rng(2)
    layers = {
        "dense": [("dense/kernel:0", rng.standard_normal((3, 4)).astype("float32"), True),
                  ("dense/bias:0", rng.standard_normal(4).astype("float32"), True)],
        "wide": [("wide/kernel:0", rng.standard_normal((40, 30)).astype("float64"), True),
                 ("wide/bias:0", rng.standard_normal(30).astype(">f4"), False)],
        "counts": [("counts/steps:0", np.array(7, dtype="int64"), False),
                   ("counts/bins:0", np.arange(-5, 5, dtype="int8"), False),
                   ("counts/ids:0", np.arange(12, dtype="int32").reshape(3, 4), True),
                   ("counts/bytes:0", np.arange(250, 256, dtype="uint8"), False),
                   ("counts/mask:0", np.array([True, False, True]), False),
                   ("counts/half:0", rng.standard_normal(33).astype("float16"), True)],
        "flatten": [],
    }
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["layer_names"] = np.array([n.encode() for n in layers], dtype="S")
        names = []
        for layer, weights in layers.items():
            g = f.create_group(layer)
            g.attrs["weight_names"] = np.array([w[0].encode() for w in weights], dtype="S")
            for wname, value, gzip in weights:
                kwargs = {"compression": "gzip", "shuffle": True} if gzip and value.ndim else {}
                if gzip and value.ndim:
                    kwargs["chunks"] = tuple(max(1, s // 2) for s in value.shape)
                g.create_dataset(wname, data=value, **kwargs)
                names.append((wname[:-2], f"{layer}/{wname}"))
    return names


def write_deflated(src, dst):
    """The same archive with every member deflated (Keras itself stores them)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


def write_bad(out):
    with h5py.File(os.path.join(out, "not_keras.h5"), "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype="float32"))
    with zipfile.ZipFile(os.path.join(out, "bad_no_weights.keras"), "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        z.writestr("config.json", "{}")
    with h5py.File(os.path.join(out, "bad_declared_shape.h5"), "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"], dtype="S")
        g = f.create_group("dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"], dtype="S")
        g.create_dataset("dense/kernel:0", shape=(1000, 1000), dtype="float32")  # never written
    with h5py.File(os.path.join(out, "bad_absurd_dims.h5"), "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"], dtype="S")
        g = f.create_group("dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"], dtype="S")
        g.create_dataset("dense/kernel:0", shape=(2**31, 2**31, 2**20), dtype="float32", chunks=(1, 1, 16))


def main():
    os.makedirs(OUT, exist_ok=True)
    keras.utils.set_random_seed(0)
    expected = {"keras_version": keras.__version__, "files": {}}
    files = expected["files"]
    p = lambda name: os.path.join(OUT, name)  # noqa: E731

    net = functional()
    train(net)
    net.save(p("functional.keras"))
    net.save_weights(p("functional.weights.h5"))
    net.save(p("functional.h5"))
    seq = sequential()
    seq.save(p("sequential.keras"))
    seq.save_weights(p("sequential.weights.h5"))
    seq_legacy = sequential(bf16=False)
    with h5py.File(p("legacy_weights.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, seq_legacy)

    # What Keras reads back from each file, by its own loaders.
    loaded = keras.saving.load_model(p("functional.keras"))
    files["functional.keras"] = keras_entries(loaded, True)
    files["sequential.keras"] = keras_entries(keras.saving.load_model(p("sequential.keras")), False)


    # A .weights.h5 holds layer names, not variable paths: Keras names the variables of the model it
    # loads into, so the names recorded are those of the model Keras rebuilds from the .keras config.
    loaded.load_weights(p("functional.weights.h5"))
    files["functional.weights.h5"] = keras_entries(loaded, True)
    loaded_seq = keras.saving.load_model(p("sequential.keras"))
    loaded_seq.load_weights(p("sequential.weights.h5"))
    files["sequential.weights.h5"] = keras_entries(loaded_seq, False)

    # Legacy files: model weights as Keras loads them; optimizer_weights as h5py reads them
    # (Keras 3 does not restore a legacy optimizer).
    legacy = keras.saving.load_model(p("functional.h5"), compile=False)
    with h5py.File(p("functional.h5"), "r") as f:
        opt_names = [n if isinstance(n, str) else n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
    files["functional.h5"] = keras_entries(legacy, False) + h5_entries(
        p("functional.h5"), [("optimizer/" + n, "optimizer_weights/" + n) for n in opt_names]
    )
    legacy_seq = sequential(bf16=False)
    legacy_seq.load_weights(p("legacy_weights.h5"))
    files["legacy_weights.h5"] = keras_entries(legacy_seq, False)

    tf_names = write_tf_keras_style(p("tf_keras_style.h5"))
    files["tf_keras_style.h5"] = h5_entries(p("tf_keras_style.h5"), tf_names)
    write_deflated(p("sequential.keras"), p("deflated.keras"))
    files["deflated.keras"] = files["sequential.keras"]
    write_bad(OUT)

    with open(p("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


main()
