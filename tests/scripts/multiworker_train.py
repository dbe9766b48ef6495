"""Trains the same small autoencoder as one worker of a MultiWorkerMirroredStrategy cluster (TF_CONFIG set)
or on one device (TF_CONFIG unset), and writes the loss history to argv[1]. Used by test_reliability.py."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasae  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy() if os.environ.get("TF_CONFIG") else tf.distribute.OneDeviceStrategy("/cpu:0")
keras.utils.set_random_seed(7)
x = kerasae.datasets.load("digits").x_train[:512]
with strategy.scope():
    model = kerasae.Autoencoder(*kerasae.networks.mlp((64,), 8))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
ds = tf.data.Dataset.from_tensor_slices(x).batch(128).with_options(options)
history = model.fit(ds, epochs=3, verbose=0)
with open(sys.argv[1], "w") as f:
    json.dump(history.history["loss"], f)
