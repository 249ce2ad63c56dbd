"""GRU and LSTM layers over right-padded sequences, with the input projection taken out of
the time loop.

Keras' GRU and LSTM compute `x_t W + b` inside the loop, one time step at a time, and mask
every step's output and state. Neither is needed here:

- `x_t W + b` does not depend on the recurrent state, so it is one matmul over the whole
  sequence before the loop; the loop only computes `h_{t-1} U`.
- Sequences are padded on the right, so the outputs at real positions never see the padding
  after them; the final state is read at each sequence's last real position. A reverse
  direction runs over the real positions reversed (`tf.reverse_sequence`).

- On a CPU the loop runs on slices of the batch side by side (`batch_slices`): one loop's
  chain of small matmuls leaves a core idle, and the rows of a recurrence never mix.

The weights and equations are Keras' (`keras.layers.GRU` with `reset_after=True`,
`keras.layers.LSTM` with the forget-gate bias initialised to one), so both give the same
outputs on the same weights (tests/test_recurrent.py).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from modules.model.config import CELLS

# Gate blocks per unit in the kernels: GRU z, r, h; LSTM i, f, c, o.
_GATES = {"gru": 3, "lstm": 4}


class ProjectedRNN(keras.layers.Layer):
    """A GRU or LSTM that projects the inputs of all time steps in one matmul.

    call(inputs [batch, time, features], lengths [batch] int32, initial_state=None)
      -> (outputs [batch, time, units], state)
    outputs at padded positions (t >= lengths) are left undefined: mask them downstream.
    state: `[h]` (GRU) or `[h, c]` (LSTM), each [batch, units], after each sequence's last
    real position (the initial state where a length is 0). `reverse=True` reads each
    sequence from its last real position to its first and returns the outputs in input
    order, like a Keras `Bidirectional` backward layer. `slices`: how many slices of the
    batch run their time loops side by side (None: `batch_slices` for this machine).
    """

    def __init__(
        self, cell: str, units: int, *, reverse: bool = False, slices: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell {cell!r} is not one of {CELLS}")
        if slices is not None and slices < 1:
            raise ValueError(f"slices={slices}: a batch runs in at least 1 slice")
        self.cell = cell
        self.units = units
        self.reverse = reverse
        self.slices = slices

    def build(self, input_shape):
        width = _GATES[self.cell] * self.units
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], width), initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, width), initializer="glorot_uniform"
        )
        if self.cell == "gru":  # separate input and recurrent biases (reset_after=True)
            self.bias = self.add_weight(name="bias", shape=(2, width), initializer="zeros")
        else:
            self.bias = self.add_weight(name="bias", shape=(width,), initializer=self._lstm_bias)
        super().build(input_shape)

    def _lstm_bias(self, shape, dtype=None):
        """Zeros with the forget gate's block at one (Keras' `unit_forget_bias`)."""
        ones = tf.ones([self.units], dtype)
        zeros = tf.zeros([self.units], dtype)
        return tf.concat([zeros, ones, zeros, zeros], axis=0)

    def _input_bias(self):
        return self.bias[0] if self.cell == "gru" else self.bias

    def recur(self, projected, state: list) -> list:
        """One time step from the projected input: projected [batch, gates * units] (the
        step's `x W + b`), state as in `call` -> the new state."""
        inner = tf.matmul(state[0], self.recurrent_kernel)
        if self.cell == "gru":
            update, _, candidate, _ = gru_gates(projected, tf.nn.bias_add(inner, self.bias[1]))
            return [update * state[0] + (1.0 - update) * candidate]
        gate_in, gate_forget, cell_in, gate_out = tf.split(projected + inner, 4, axis=-1)
        memory = tf.sigmoid(gate_forget) * state[1] + tf.sigmoid(gate_in) * tf.tanh(cell_in)
        return [tf.sigmoid(gate_out) * tf.tanh(memory), memory]

    def call(self, inputs, lengths, initial_state=None, training=None):
        batch = tf.shape(inputs)[0]
        if initial_state is None:
            zeros = tf.zeros([batch, self.units], self.compute_dtype)
            initial_state = [zeros] * (2 if self.cell == "lstm" else 1)
        lengths = tf.cast(lengths, tf.int32)
        if self.reverse:
            inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
        # [time, batch, gates * units] by one 2-D matmul: a 3-D tf.matmul would broadcast
        # the kernel, and its gradient would sum a copy per sentence.
        time_major = tf.transpose(inputs, [1, 0, 2])
        projected = tf.nn.bias_add(
            tf.matmul(tf.reshape(time_major, [-1, tf.shape(inputs)[-1]]), self.kernel),
            self._input_bias(),
        )
        # (An explicit width: a worker's share of a batch may be empty, and -1 is then unknown.)
        projected = tf.reshape(projected, [tf.shape(inputs)[1], batch, self.kernel.shape[-1]])
        if inputs.shape[1] == 1:  # one decoding step: no loop to set up
            states = [s[tf.newaxis] for s in self.recur(projected[0], list(initial_state))]
        else:
            slices = self.slices or batch_slices(self.units)
            states = in_batch_slices(self._time_loop(training), projected, initial_state, slices)
        outputs = tf.transpose(states[0], [1, 0, 2])
        last_positions = tf.stack([tf.maximum(lengths - 1, 0), tf.range(batch)], axis=1)
        final = [
            tf.where(
                (lengths > 0)[:, tf.newaxis], tf.gather_nd(every_step, last_positions), initial
            )
            for every_step, initial in zip(states, initial_state, strict=True)
        ]
        if self.reverse:
            outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
        return outputs, final

    def _time_loop(self, training):
        """-> loop(projected [time, batch, gates * units], initial state) -> the states of
        every step, each [time, batch, units]."""
        if training and self.cell == "gru":
            kernel = tf.convert_to_tensor(self.recurrent_kernel)
            bias = tf.convert_to_tensor(self.bias[1])
            return lambda projected, initial: [gru_sequence(projected, initial[0], kernel, bias)]
        return lambda projected, initial: tf.scan(
            lambda state, x: self.recur(x, state), projected, initializer=initial
        )


def batch_slices(units: int) -> int:
    """How many slices of a batch a recurrent layer of `units` runs side by side: 2 on a
    CPU up to 512 units, 1 above and on a GPU.

    A time loop is a chain of small matmuls ([batch, units] x [units, 3 * units] for a
    GRU) and element-wise ops, which leave one of two cores idle much of the time; two
    independent loops over half a batch each keep both busy. In the whole training step on
    2 cores of an AMD EPYC with AVX-512 (README, Benchmarks 1): 1.08x faster at 256 units
    in float32, 1.11x in bfloat16, 1.02x at 512, and 0.95x at 1024, where a loop's matmuls
    already fill both cores; on one with AVX2 only, the same speed (1.01x at 256 and 512).
    GPUs run a device's ops one at a time, so a second loop would only add launches (not
    measured)."""
    if tf.config.list_physical_devices("GPU"):
        return 1
    return 2 if units <= 512 else 1


def in_batch_slices(loop, projected, initial_state: list, slices: int) -> list:
    """Runs `loop(projected, initial_state)` -> states (each [time, batch, units]) on
    `slices` row slices of the batch, as independent loops, and joins their states.

    projected [time, batch, width]; initial_state: a list of [batch, units]. The same
    values as one loop over the whole batch: the rows of a recurrence never mix. Slices
    differ in size by at most one row; some may be empty."""
    if slices == 1:
        return loop(projected, list(initial_state))
    batch = tf.shape(projected)[1]
    sizes = [(batch * (i + 1)) // slices - (batch * i) // slices for i in range(slices)]
    slices_of_states = zip(*(tf.split(s, sizes, axis=0) for s in initial_state), strict=True)
    results = [
        loop(part, list(states))
        for part, states in zip(tf.split(projected, sizes, axis=1), slices_of_states, strict=True)
    ]
    return [tf.concat(parts, axis=1) for parts in zip(*results, strict=True)]


def gru_gates(projected, inner):
    """One GRU step's gates (Keras, `reset_after=True`): projected [batch, 3 * units] (`x W +
    b`), inner [batch, 3 * units] (`h U + b_u`) -> (update, reset, candidate, the candidate's
    part of inner), each [batch, units]."""
    x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
    u_z, u_r, u_h = tf.split(inner, 3, axis=-1)
    update = tf.sigmoid(x_z + u_z)
    reset = tf.sigmoid(x_r + u_r)
    return update, reset, tf.tanh(x_h + reset * u_h), u_h


@tf.custom_gradient
def gru_sequence(projected, initial, recurrent_kernel, recurrent_bias):
    """The GRU time loop of `ProjectedRNN.recur` with a hand-written gradient.

    projected [time, batch, 3 * units] (each step's `x W + b`), initial [batch, units],
    recurrent_kernel [units, 3 * units], recurrent_bias [3 * units]
      -> states [time, batch, units].

    Autodiff through the loop would compute the recurrent kernel's gradient one time step
    at a time, a matmul with only `batch` rows inside the loop. Here the backward loop only
    carries the state's gradient (one matmul by the kernel per step); the kernel's and
    biases' gradients are single matmuls and sums over all steps afterwards. The backward
    loop multiplies by the kernel transposed once beforehand: oneDNN's matmul with
    `transpose_b` was 2.7x slower at 1024 units and batch 64 (it re-packs the kernel).
    """

    def step(carry, x):
        previous = carry[0]
        inner = tf.nn.bias_add(tf.matmul(previous, recurrent_kernel), recurrent_bias)
        update, reset, candidate, u_h = gru_gates(x, inner)
        return (update * previous + (1.0 - update) * candidate, update, reset, candidate, u_h)

    zeros = tf.zeros_like(initial)
    states, updates, resets, candidates, recurrent_h = tf.scan(
        step, projected, initializer=(initial, zeros, zeros, zeros, zeros)
    )
    previous_states = tf.concat([initial[tf.newaxis], states[:-1]], axis=0)

    def gradient(d_states):
        kernel_transposed = tf.transpose(recurrent_kernel)

        def back_step(carry, inputs):
            d_next = carry[0]
            d_output, previous, update, reset, candidate, u_h = inputs
            d_state = d_output + d_next
            d_update = d_state * (previous - candidate) * update * (1.0 - update)
            d_candidate = d_state * (1.0 - update) * (1.0 - candidate * candidate)
            d_reset = d_candidate * u_h * reset * (1.0 - reset)
            d_inner = tf.concat([d_update, d_reset, d_candidate * reset], axis=-1)
            d_previous = d_state * update + tf.matmul(d_inner, kernel_transposed)
            return d_previous, tf.concat([d_update, d_reset, d_candidate], axis=-1), d_inner

        width = tf.shape(projected)[-1]
        batch = tf.shape(initial)[0]
        empty = tf.zeros([batch, width], projected.dtype)
        d_previous, d_projected, d_inner = tf.scan(
            back_step,
            (d_states, previous_states, updates, resets, candidates, recurrent_h),
            initializer=(tf.zeros_like(initial), empty, empty),
            reverse=True,
        )
        units = tf.shape(initial)[-1]
        d_kernel = tf.matmul(
            tf.reshape(previous_states, [-1, units]),
            tf.reshape(d_inner, [-1, width]),
            transpose_a=True,
        )
        return d_projected, d_previous[0], d_kernel, tf.reduce_sum(d_inner, axis=[0, 1])

    return states, gradient
