"""Write the TensorFlow test checkpoints in this folder with real TensorFlow.

Run with the oracle venv (tensorflow-cpu 2.21):

    .oracles/venv/bin/python tests/data/tensorflow/make_checkpoints.py

It writes:
- tf1/model.ckpt.{index,data-00000-of-00001} and tf1/checkpoint: a TF1 Saver
  checkpoint of a small MLP (64-32-10) trained a few steps with Adam, so the
  data file holds the weights, Adam's two slots per variable and beta powers.
- slots/model.ckpt.*: TF1 Momentum and centered RMSProp slots on two variables.
- tf2/ckpt-1.*: a TF2 object checkpoint (tf.train.Checkpoint) of a Keras
  model and its Adam optimizer, with the _CHECKPOINTABLE_OBJECT_GRAPH.
- sharded/ckpt-1.*: a TF2 checkpoint split into several data shards by
  tf.train.experimental.MaxShardSizePolicy.
- dtypes/dtypes.*: one tensor of every numeric dtype plus a string tensor,
  written by the SaveV2 op.
- complex128/c128.*: a complex128 tensor beside a float32 one.
- partitioned/model.ckpt.*: a TF1 partitioned variable saved as two slices.
- snappy.rec: a TFRecord file with SNAPPY compression (TensorFlow's own Snappy
  compressor), whose chunks test the Snappy decompressor; its payload is
  snappy_payload.bin.
- expected.json: for every checkpoint, each tensor's dtype, shape and the
  SHA-256 of its bytes as tf.train.load_checkpoint reads it back.
"""

import hashlib
import json
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def fresh(name):
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def tf1_adam():
    out = fresh("tf1")
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.set_random_seed(1)
        rng = np.random.default_rng(1)
        x = tf.compat.v1.placeholder(tf.float32, [None, 64])
        y = tf.compat.v1.placeholder(tf.int64, [None])
        w1 = tf.Variable(tf.random.normal([64, 32], stddev=0.1, seed=1))
        b1 = tf.Variable(tf.zeros([32]))
        w2 = tf.Variable(tf.random.normal([32, 10], stddev=0.1, seed=2))
        b2 = tf.Variable(tf.zeros([10]))
        logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2) + b2
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss)
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(5):
                sess.run(train, {x: rng.normal(size=(16, 64)), y: rng.integers(0, 10, 16)})
            saver.save(sess, os.path.join(out, "model.ckpt"), write_meta_graph=False)
    return os.path.join(out, "model.ckpt")


def tf1_slots():
    # The slot names of TF1's other optimizers: Momentum (one slot), centered RMSProp (three).
    out = fresh("slots")
    g = tf.Graph()
    with g.as_default():
        a = tf.Variable(tf.ones([4]), name="a")
        b = tf.Variable(tf.ones([3]), name="b")
        momentum = tf.compat.v1.train.MomentumOptimizer(0.1, 0.9).minimize(tf.reduce_sum(a * a), var_list=[a])
        rmsprop = tf.compat.v1.train.RMSPropOptimizer(0.1, momentum=0.5, centered=True).minimize(
            tf.reduce_sum(b * b), var_list=[b])
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run([momentum, rmsprop])
            saver.save(sess, os.path.join(out, "model.ckpt"), write_meta_graph=False)
    return os.path.join(out, "model.ckpt")


def tf2_object():
    out = fresh("tf2")
    keras = tf.keras
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, name="dense"),
                              keras.layers.Dense(3, name="head")])
    opt = keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(4, 8)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(xs) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt)
    return ckpt.save(os.path.join(out, "ckpt"))


def sharded():
    out = fresh("sharded")

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.layers = [tf.Variable(np.full((16, 16), i, np.float32), name=f"w{i}") for i in range(4)]
            self.step = tf.Variable(7, dtype=tf.int64)

    net = Net()
    options = tf.train.CheckpointOptions(
        experimental_sharding_callback=tf.train.experimental.MaxShardSizePolicy(max_shard_size=1200))
    return tf.train.Checkpoint(net=net).save(os.path.join(out, "ckpt"), options=options)


DTYPES = [
    ("f16", tf.float16), ("f32", tf.float32), ("f64", tf.float64), ("bf16", tf.bfloat16),
    ("i8", tf.int8), ("i16", tf.int16), ("i32", tf.int32), ("i64", tf.int64),
    ("u8", tf.uint8), ("u16", tf.uint16), ("u32", tf.uint32), ("u64", tf.uint64),
    ("bool", tf.bool), ("c64", tf.complex64),
    ("f8e5m2", tf.dtypes.experimental.float8_e5m2), ("f8e4m3fn", tf.dtypes.experimental.float8_e4m3fn),
]


def dtypes():
    out = fresh("dtypes")
    rng = np.random.default_rng(3)
    names, tensors = [], []
    for name, dtype in DTYPES:
        if dtype.is_complex:
            v = tf.complex(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
        elif dtype.is_floating:
            v = rng.normal(size=(2, 3)) * (100 if dtype.size > 1 else 10)
        elif dtype == tf.bool:
            v = rng.integers(0, 2, (2, 3)).astype(bool)
        else:
            v = rng.integers(dtype.min, dtype.max, (2, 3), dtype=np.int64 if dtype != tf.uint64 else np.uint64,
                             endpoint=True)
        names.append(name)
        tensors.append(tf.cast(tf.constant(v), dtype))
    names += ["scalar", "empty", "text"]
    tensors += [tf.constant(3.5, tf.float32), tf.zeros([0, 4], tf.float32), tf.constant(["a", "bc"])]
    prefix = os.path.join(out, "dtypes")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    return prefix


def complex128():
    out = fresh("complex128")
    prefix = os.path.join(out, "c128")
    value = tf.constant([1 + 2j, 3 - 4j], tf.complex128)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["c128", "f32"], shape_and_slices=["", ""],
                      tensors=[value, tf.constant([1.0], tf.float32)])
    return prefix


def partitioned():
    out = fresh("partitioned")
    g = tf.Graph()
    with g.as_default():
        part = tf.compat.v1.get_variable(
            "part", initializer=tf.reshape(tf.range(32, dtype=tf.float32), [8, 4]),
            partitioner=tf.compat.v1.fixed_size_partitioner(2))
        _ = part
        whole = tf.compat.v1.get_variable("whole", initializer=tf.ones([3]))
        _ = whole
        saver = tf.compat.v1.train.Saver(save_relative_paths=True)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, os.path.join(out, "model.ckpt"), write_meta_graph=False)
    return os.path.join(out, "model.ckpt")


def snappy_record():
    from tensorflow.python.lib.io import _pywrap_record_io as record_io

    rng = np.random.default_rng(4)
    words = [b"kernel", b"bias", b"Adam", b"dense", b"/", b"_1", b"VARIABLE_VALUE"]
    payload = b"".join(words[i] for i in rng.integers(0, len(words), 3000)) + rng.bytes(300) + b"\0" * 500
    with open(os.path.join(HERE, "snappy_payload.bin"), "wb") as f:
        f.write(payload)
    writer = record_io.RecordWriter(os.path.join(HERE, "snappy.rec"), record_io.RecordWriterOptions("SNAPPY"))
    writer.write(payload)
    writer.close()


def describe(prefix):
    reader = tf.train.load_checkpoint(prefix)
    result = {}
    for name, dtype in sorted(reader.get_variable_to_dtype_map().items()):
        if dtype == tf.string:
            continue
        value = np.asarray(reader.get_tensor(name))
        result[name] = {"dtype": dtype.name, "shape": list(value.shape),
                        "sha256": hashlib.sha256(value.tobytes()).hexdigest()}
    return result


def main():
    prefixes = {
        "tf1": tf1_adam(),
        "slots": tf1_slots(),
        "tf2": tf2_object(),
        "sharded": sharded(),
        "dtypes": dtypes(),
        "partitioned": partitioned(),
        "complex128": complex128(),
    }
    snappy_record()
    expected = {key: {"prefix": os.path.relpath(p, HERE), "tensors": describe(p)} for key, p in prefixes.items()}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
