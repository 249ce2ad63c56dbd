"""TensorFlow Serving can run the pushed model: every op its graphs use, in every signature
and every function they call, is registered in TF Serving 2.16.1's model server: a core
TensorFlow op (TF Serving 2.16.1 is built from TensorFlow 2.16, as this stack is) or one of
the TensorFlow Text 2.12.1 ops it embeds, with the same inputs, outputs and attrs as the
TF Text 2.16.1 that exported it (tests/data/tf_serving_2.16.1_tf_text_ops.tsv cites where
each fact comes from). TF Serving images cannot load models that use TF Text ops added
after 2.12.1."""

from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

from tests.helpers import PROJECT_ROOT

TF_SERVING_TEXT_OPS = PROJECT_ROOT / "tests" / "data" / "tf_serving_2.16.1_tf_text_ops.tsv"


def saved_model_ops(model_dir: Path) -> set[str]:
    """Every op type in the SavedModel's graphs and in every function of their libraries
    (so every signature's, and everything they call)."""
    saved_model = saved_model_pb2.SavedModel.FromString((model_dir / "saved_model.pb").read_bytes())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in meta_graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def tf_serving_text_ops() -> dict[str, dict[str, list[str]]]:
    """Op name -> {"inputs": [...], "outputs": [...], "attrs": [...]} (empty when only the
    name is recorded)."""
    ops = {}
    for line in TF_SERVING_TEXT_OPS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, *fields = line.split("\t")
        ops[name] = {
            key: [part for part in value.split(",") if part]
            for key, value in (field.split("=", 1) for field in fields)
        }
    return ops


def op_signature(name: str) -> dict[str, list[str]]:
    op_def = op_def_registry.get(name)
    return {
        "inputs": [arg.name for arg in op_def.input_arg],
        "outputs": [arg.name for arg in op_def.output_arg],
        "attrs": [attr.name for attr in op_def.attr],
    }


def ops_tf_serving_lacks(model_dir: Path) -> list[str]:
    """The model's ops that TF Serving 2.16.1 does not register, or registers with another
    OpDef than the TF Text that saved the model."""
    core = set(dir(tf.raw_ops))  # TensorFlow's own ops; TF Text's are not among them
    text_ops = tf_serving_text_ops()
    lacking = []
    for op in sorted(saved_model_ops(model_dir) - core):
        if op not in text_ops or (text_ops[op] and op_signature(op) != text_ops[op]):
            lacking.append(op)
    return lacking


def test_every_op_of_the_pushed_model_is_registered_in_tf_serving(tiny_pipeline_run):
    config, _ = tiny_pipeline_run
    (version,) = Path(config.serving_model_dir).iterdir()
    assert ops_tf_serving_lacks(version) == []
    text_ops = saved_model_ops(version) - set(dir(tf.raw_ops))
    # The SentencePiece tokenizer and detokenizer and the NFKC normalisation, each with its
    # OpDef recorded (so compared, not only named).
    assert {"SentencepieceOp", "SentencepieceTokenizeOp", "NormalizeUTF8"} <= text_ops
    assert all(tf_serving_text_ops()[op] for op in text_ops)


def test_a_tf_text_op_added_after_2_12_1_is_caught(tmp_path):
    import tensorflow_text as tf_text

    class Binarize(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, words):
            return tf_text.utf8_binarize(words)  # TFText>Utf8Binarize, new in TF Text 2.13

    tf.saved_model.save(Binarize(), str(tmp_path))
    assert ops_tf_serving_lacks(tmp_path) == ["TFText>Utf8Binarize"]
