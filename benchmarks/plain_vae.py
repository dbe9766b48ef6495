"""A minimal hand-written Keras 3 VAE, the baseline that ``python -m benchmarks.run`` compares kerasae's VAE with.

Written the plain keras.io way, with no kerasae code: a subclassed ``keras.Model`` with one ``train_step``
under ``tf.GradientTape``, a Dense head producing the posterior mean and log-variance, the
reparameterisation ``z = mu + exp(log_var / 2) * eps``, and the loss

    loss = mean_n [ sum_d BCE_with_logits(x_nd, logits_nd) + KL(N(mu_n, diag(exp(log_var_n))) || N(0, I)) ]

with the analytic KL ``-1/2 sum_j (1 + log_var_j - mu_j^2 - exp(log_var_j))``. The architecture matches
``kerasae.models.vae.VAE.create((784,), 50, hidden_units=(200, 200), activation="tanh")``: encoder
784-200-200-100 (mean and log-variance), decoder 50-200-200-784 (logits).
"""

import keras
import tensorflow as tf


def build_networks(input_dim=784, latent_dim=50, hidden_units=(200, 200), activation="tanh"):
    """The encoder (to ``2 * latent_dim`` values) and the decoder (to ``input_dim`` logits)."""
    x = keras.Input((input_dim,))
    h = x
    for units in hidden_units:
        h = keras.layers.Dense(units, activation=activation)(h)
    encoder = keras.Model(x, keras.layers.Dense(2 * latent_dim)(h), name="encoder")
    z = keras.Input((latent_dim,))
    h = z
    for units in reversed(hidden_units):
        h = keras.layers.Dense(units, activation=activation)(h)
    decoder = keras.Model(z, keras.layers.Dense(input_dim)(h), name="decoder")
    return encoder, decoder


class PlainVAE(keras.Model):
    """The keras.io-style VAE: Bernoulli likelihood on logits, diagonal normal posterior, analytic KL."""

    def __init__(self, input_dim=784, latent_dim=50, hidden_units=(200, 200), activation="tanh", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = build_networks(input_dim, latent_dim, hidden_units, activation)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, x):
        z_mean, _ = tf.split(self.encoder(x), 2, axis=-1)
        return tf.sigmoid(self.decoder(z_mean))

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = tf.split(self.encoder(data, training=True), 2, axis=-1)
            epsilon = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            z = z_mean + tf.exp(0.5 * z_log_var) * epsilon
            logits = self.decoder(z, training=True)
            reconstruction_loss = tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=data, logits=logits), axis=-1
            )
            kl_loss = -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)
            total_loss = tf.reduce_mean(reconstruction_loss + kl_loss)
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(tf.reduce_mean(reconstruction_loss))
        self.kl_loss_tracker.update_state(tf.reduce_mean(kl_loss))
        return {m.name: m.result() for m in self.metrics}
