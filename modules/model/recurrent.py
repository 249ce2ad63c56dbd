"""GRU and LSTM layers over right-padded sequences, with the input projection taken out of
the time loop.

Keras' GRU and LSTM compute `x_t W + b` inside the loop, one time step at a time, and mask
every step's output and state. Neither is needed here:

- `x_t W + b` does not depend on the recurrent state, so it is one matmul over the real
  positions of the whole batch before the loop; the loop only computes `h_{t-1} U`.
- Sequences are padded on the right, so the outputs at real positions never see the padding
  after them; the final state is read at each sequence's last real position. A reverse
  direction runs over the real positions reversed (`tf.reverse_sequence`). The GRU's loop
  skips the padding too (`gru_sequence`).

- On a CPU the loop runs on slices of the batch side by side (`batch_slices`): one loop's
  chain of small matmuls leaves a core idle, and the rows of a recurrence never mix.

The weights and equations are Keras' (`keras.layers.GRU` with `reset_after=True`,
`keras.layers.LSTM` with the forget-gate bias initialised to one), so both give the same
outputs on the same weights (tests/test_recurrent.py). On a GPU the layer runs Keras' own
GRU/LSTM functions on those weights instead (`implementation="keras"`), which Grappler
swaps for the fused cuDNN kernel; `resolve_implementation` picks by device.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from modules.model.config import CELLS, RECURRENT_IMPLEMENTATIONS

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
    `implementation`: "packed" (this module's loop), "keras" (Keras' GRU/LSTM functions:
    cuDNN on a GPU, Keras' own loop on a CPU) or "auto" (`resolve_implementation`); the
    same variables and outputs either way. A single step (time 1) is `recur` in both.
    """

    def __init__(
        self,
        cell: str,
        units: int,
        *,
        reverse: bool = False,
        slices: int | None = None,
        implementation: str = "auto",
        **kwargs,
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
        self.implementation = resolve_implementation(implementation)[0]

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

    def step(self, inputs, state: list) -> list:
        """One time step from the raw input: inputs [batch, features], state as in `call`
        -> the new state (a GRU's or an LSTM's output is its new `h`, the state's first)."""
        if not self.built:  # a step before any sequence
            self.build(inputs.shape)
        return self.recur(tf.nn.bias_add(tf.matmul(inputs, self.kernel), self._input_bias()), state)

    def call(self, inputs, lengths, initial_state=None):
        batch = tf.shape(inputs)[0]
        if initial_state is None:
            zeros = tf.zeros([batch, self.units], self.compute_dtype)
            initial_state = [zeros] * (2 if self.cell == "lstm" else 1)
        lengths = tf.cast(lengths, tf.int32)
        if self.reverse:
            inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
        if self.implementation == "keras" and inputs.shape[1] != 1:
            outputs, final = self._keras_sequence(inputs, lengths, list(initial_state))
        else:
            outputs, final = self._packed_sequence(inputs, lengths, list(initial_state))
        if self.reverse:
            outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
        return outputs, final

    def _packed_sequence(self, inputs, lengths, initial_state: list):
        """(outputs [batch, time, units], final state) by the projection and the packed loop."""
        batch = tf.shape(inputs)[0]
        projected = self._project_real_positions(inputs, lengths)
        if inputs.shape[1] == 1:  # one decoding step: no loop to set up
            states = [s[tf.newaxis] for s in self.recur(projected[0], initial_state)]
        else:
            slices = self.slices or batch_slices(self.units)
            states = in_batch_slices(self._time_loop(), projected, initial_state, lengths, slices)
        last_positions = tf.stack([tf.maximum(lengths - 1, 0), tf.range(batch)], axis=1)
        final = [
            tf.where(
                (lengths > 0)[:, tf.newaxis], tf.gather_nd(every_step, last_positions), initial
            )
            for every_step, initial in zip(states, initial_state, strict=True)
        ]
        return tf.transpose(states[0], [1, 0, 2]), final

    def _keras_sequence(self, inputs, lengths, initial_state: list):
        """(outputs [batch, time, units], final state) by Keras' GRU/LSTM functions, which
        Grappler runs as the fused cuDNN kernel on a GPU (right-padded mask, `reset_after`,
        default activations: what cuDNN computes) and as Keras' own loop on a CPU."""
        from tf_keras.src.layers.rnn import gru as keras_gru
        from tf_keras.src.layers.rnn import lstm as keras_lstm

        # cuDNN takes no empty sequence: an empty one runs one (padding) step, and its final
        # state is the initial state below, as in the packed loop.
        mask = tf.sequence_mask(tf.maximum(lengths, 1), tf.shape(inputs)[1])
        weights = {
            "kernel": tf.convert_to_tensor(self.kernel),
            "recurrent_kernel": tf.convert_to_tensor(self.recurrent_kernel),
            "bias": tf.convert_to_tensor(self.bias),
        }
        options = {
            "mask": mask,
            "time_major": False,
            "go_backwards": False,
            "sequence_lengths": None,
            "zero_output_for_mask": False,
            "return_sequences": True,
        }
        module = keras_gru if self.cell == "gru" else keras_lstm
        if not tf.executing_eagerly():  # both kernels in the graph; Grappler picks by device
            run = getattr(module, f"{self.cell}_with_backend_selection")
        elif tf.config.list_logical_devices("GPU"):  # eagerly, as Keras' layers decide
            run = getattr(module, f"gpu_{self.cell}")
            del options["zero_output_for_mask"]
        else:
            run = getattr(module, f"standard_{self.cell}")
        _, outputs, *final, _ = run(inputs, *initial_state, **weights, **options)
        empty = (lengths == 0)[:, tf.newaxis]
        final = [
            tf.where(empty, initial, state)
            for state, initial in zip(final, initial_state, strict=True)
        ]
        return outputs, final

    def _project_real_positions(self, inputs, lengths):
        """inputs [batch, time, features] -> `x W + b` [time, batch, gates * units] at the
        real positions (t < lengths), zeros at the padded ones.

        One 2-D matmul over the real positions only: a 3-D tf.matmul would broadcast the
        kernel, and its gradient would sum a copy per sentence; padded positions are nearly
        half of a padded batch of short sentences."""
        time = tf.shape(inputs)[1]
        positions = tf.cast(  # [real positions, 2]: (time, batch)
            tf.where(tf.range(time)[:, tf.newaxis] < lengths[tf.newaxis]), tf.int32
        )
        real_inputs = tf.gather_nd(tf.transpose(inputs, [1, 0, 2]), positions)
        projected = tf.nn.bias_add(tf.matmul(real_inputs, self.kernel), self._input_bias())
        # (An explicit width: a worker's share of a batch may be empty, and -1 is then unknown.)
        width = self.kernel.shape[-1]
        return tf.scatter_nd(positions, projected, [time, tf.shape(inputs)[0], width])

    def _time_loop(self):
        """-> loop(projected [time, batch, gates * units], initial state, lengths) -> the
        states of every step, each [time, batch, units]."""
        if self.cell == "gru":
            kernel = tf.convert_to_tensor(self.recurrent_kernel)
            bias = tf.convert_to_tensor(self.bias[1])
            return lambda projected, initial, lengths: [
                gru_sequence(projected, initial[0], kernel, bias, lengths)
            ]
        return lambda projected, initial, _: tf.scan(
            lambda state, x: self.recur(x, state), projected, initializer=initial
        )


def resolve_implementation(implementation: str) -> tuple[str, str]:
    """ "packed" or "keras" for a `recurrent_implementation` setting, and why: "auto" runs
    Keras' functions (the cuDNN kernel) where TensorFlow sees a GPU, the packed loop on a
    CPU, where it is the faster (docs/benchmarks.md, 1)."""
    if implementation not in RECURRENT_IMPLEMENTATIONS:
        raise ValueError(
            f"implementation {implementation!r} is not one of {RECURRENT_IMPLEMENTATIONS}"
        )
    if implementation != "auto":
        return implementation, "as configured"
    if tf.config.list_physical_devices("GPU"):
        return "keras", "auto: a GPU, where Keras' GRU/LSTM run the fused cuDNN kernel"
    return "packed", "auto: no GPU, and the packed loop is the faster on a CPU"


def batch_slices(units: int) -> int:
    """How many slices of a batch a recurrent layer of `units` runs side by side: 2 on a
    CPU up to 512 units, 1 above and on a GPU.

    A time loop is a chain of small matmuls ([batch, units] x [units, 3 * units] for a
    GRU) and element-wise ops, which leave one of two cores idle much of the time; two
    independent loops over half a batch each keep both busy. In the whole training step on
    2 cores of an AMD EPYC with AVX-512 (docs/benchmarks.md, 1): 1.08x faster at 256 units
    in float32, 1.11x in bfloat16, 1.02x at 512, and 0.95x at 1024, where a loop's matmuls
    already fill both cores; on one with AVX2 only, the same speed (1.01x at 256 and 512).
    GPUs run a device's ops one at a time, so a second loop would only add launches (not
    measured)."""
    if tf.config.list_physical_devices("GPU"):
        return 1
    return 2 if units <= 512 else 1


def in_batch_slices(loop, projected, initial_state: list, lengths, slices: int) -> list:
    """Runs `loop(projected, initial_state, lengths)` -> states (each [time, batch, units])
    on `slices` row slices of the batch, as independent loops, and joins their states.

    projected [time, batch, width]; initial_state: a list of [batch, units]; lengths
    [batch] int32. The same values as one loop over the whole batch: the rows of a
    recurrence never mix. Slices differ in size by at most one row; some may be empty."""
    if slices == 1:
        return loop(projected, list(initial_state), lengths)
    batch = tf.shape(projected)[1]
    sizes = [(batch * (i + 1)) // slices - (batch * i) // slices for i in range(slices)]
    slices_of_states = zip(*(tf.split(s, sizes, axis=0) for s in initial_state), strict=True)
    results = [
        loop(part, list(states), part_lengths)
        for part, states, part_lengths in zip(
            tf.split(projected, sizes, axis=1),
            slices_of_states,
            tf.split(lengths, sizes),
            strict=True,
        )
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
def gru_sequence(projected, initial, recurrent_kernel, recurrent_bias, lengths):
    """The GRU time loop of `ProjectedRNN.recur` over each sequence's real positions only,
    with a hand-written gradient.

    projected [time, batch, 3 * units] (each step's `x W + b`), initial [batch, units],
    recurrent_kernel [units, 3 * units], recurrent_bias [3 * units], lengths [batch] int32
      -> states [time, batch, units], each sequence's state frozen after its last real
      position (zeros from the batch's longest on).

    Like cuDNN's and PyTorch's packed sequences, the rows are sorted longest first, so that
    the sequences still running at step t are the first `active[t]` rows: the step's matmul
    and gates only take those, and the loop ends at the longest sequence. Autodiff through
    the loop would compute the recurrent kernel's gradient one time step at a time, a
    matmul with only `batch` rows inside the loop. Here the backward loop only carries the
    state's gradient (one matmul by the kernel per step); the kernel's and biases' gradients
    are single matmuls and sums over the packed real steps afterwards. The backward loop
    multiplies by the kernel transposed once beforehand: oneDNN's matmul with `transpose_b`
    was 2.7x slower at 1024 units and batch 64 (it re-packs the kernel).
    """
    time, batch = tf.shape(projected)[0], tf.shape(projected)[1]
    units, width = tf.shape(initial)[-1], tf.shape(projected)[-1]
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    unsort = tf.math.invert_permutation(order)
    running = tf.gather(lengths, order)[tf.newaxis] > tf.range(time)[:, tf.newaxis]
    active = tf.reduce_sum(tf.cast(running, tf.int32), axis=1)  # [time], non-increasing
    # At least one step (time >= 1), even with no real position: an eager TensorArray
    # cannot concatenate no elements.
    steps = tf.maximum(tf.reduce_sum(tf.cast(active > 0, tf.int32)), 1)
    inputs = tf.gather(projected, order, axis=1)

    def packed_array(size):
        return tf.TensorArray(projected.dtype, size=size, infer_shape=False, clear_after_read=False)

    def step(t, previous, states, live_rows, gates):
        rows = active[t]
        live = previous[:rows]
        inner = tf.nn.bias_add(tf.matmul(live, recurrent_kernel), recurrent_bias)
        update, reset, candidate, u_h = gru_gates(inputs[t, :rows], inner)
        state = tf.concat([update * live + (1.0 - update) * candidate, previous[rows:]], 0)
        state.set_shape(previous.shape)  # the loop's shape invariant
        return (
            t + 1,
            state,
            states.write(t, state),
            live_rows.write(t, live),
            gates.write(t, tf.concat([update, reset, candidate, u_h], axis=-1)),
        )

    _, _, states, live_rows, gates = tf.while_loop(
        lambda t, *_: t < steps,
        step,
        (
            0,
            tf.gather(initial, order),
            packed_array(steps),
            packed_array(steps),
            packed_array(steps),
        ),
    )
    frozen = tf.reshape(states.stack(), [steps, batch, units])
    padded = tf.pad(frozen, [[0, time - steps], [0, 0], [0, 0]])
    # The gradient keeps plain tensors, not the TensorArrays: a SavedModel cannot serialise
    # a gradient function that captures a TensorArray's handle. Step t's rows are
    # [first_row[t], first_row[t] + active[t]) of the packed [real steps, ...] tensors.
    packed_live_rows = tf.reshape(live_rows.concat(), [-1, units])
    packed_gates = tf.reshape(gates.concat(), [-1, 4 * units])
    first_row = tf.cumsum(active, exclusive=True)

    def gradient(d_states):
        kernel_transposed = tf.transpose(recurrent_kernel)
        d_outputs = tf.gather(d_states, order, axis=1)

        def back_step(t, d_next, d_inputs, d_inners):
            rows = active[t]
            step_rows = slice(first_row[t], first_row[t] + rows)
            d_state = d_outputs[t] + d_next
            d_live = d_state[:rows]
            update, reset, candidate, u_h = tf.split(packed_gates[step_rows], 4, axis=-1)
            d_update = d_live * (packed_live_rows[step_rows] - candidate) * update * (1.0 - update)
            d_candidate = d_live * (1.0 - update) * (1.0 - candidate * candidate)
            d_reset = d_candidate * u_h * reset * (1.0 - reset)
            d_inner = tf.concat([d_update, d_reset, d_candidate * reset], axis=-1)
            d_previous = d_live * update + tf.matmul(d_inner, kernel_transposed)
            d_input = tf.concat([d_update, d_reset, d_candidate], axis=-1)
            d_carry = tf.concat([d_previous, d_state[rows:]], 0)
            d_carry.set_shape(d_next.shape)
            return (
                t - 1,
                d_carry,
                d_inputs.write(t, tf.pad(d_input, [[0, batch - rows], [0, 0]])),
                d_inners.write(t, d_inner),
            )

        _, d_initial, d_inputs, d_inners = tf.while_loop(
            lambda t, *_: t >= 0,
            back_step,
            (steps - 1, tf.zeros_like(initial), packed_array(steps), packed_array(steps)),
        )
        d_inputs = tf.pad(
            tf.reshape(d_inputs.stack(), [steps, batch, width]), [[0, time - steps], [0, 0], [0, 0]]
        )
        d_inner = tf.reshape(d_inners.concat(), [-1, width])  # [real steps, 3 * units]
        d_kernel = tf.matmul(packed_live_rows, d_inner, transpose_a=True)
        return (
            tf.gather(d_inputs, unsort, axis=1),
            tf.gather(d_initial, unsort),
            d_kernel,
            tf.reduce_sum(d_inner, axis=0),
            None,
        )

    return tf.gather(padded, unsort, axis=1), gradient
