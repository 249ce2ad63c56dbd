"""One loaded version of a pushed SavedModel, called the way TF Serving's Predict calls it.

Every signature whose inputs are all string[batch] can be called (the ones this pipeline
exports: translation, attention, evaluation); its SignatureDefs come from the SavedModel's
own MetaGraphDef, as TF Serving's GetModelMetadata reports them.
"""

from __future__ import annotations

import dataclasses
import os
import re

from google.protobuf import json_format

from modules import signatures
from pipeline.pushed_models import load_model
from pipeline.server.rest_api import HTTP_STATUS_OF_TF_CODE, INVALID_ARGUMENT, StatusError


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """What the server needs of a signature: its input names, and whether all outputs are
    [batch] vectors (so that concurrent requests can share one call)."""

    input_names: list[str]
    batchable: bool


def _is_string_vector(tensor_info) -> bool:
    from tensorflow.core.framework import types_pb2

    dims = [dim.size for dim in tensor_info.tensor_shape.dim]
    return tensor_info.dtype == types_pb2.DT_STRING and dims == [-1]


def _signature_infos(signature_defs) -> dict[str, SignatureInfo]:
    """SignatureInfo of each SignatureDef whose inputs are all string[batch]."""
    infos = {}
    for name, signature_def in signature_defs.items():
        inputs, outputs = signature_def.inputs, signature_def.outputs
        if not inputs or not all(map(_is_string_vector, inputs.values())):
            continue  # e.g. __saved_model_init_op, which has no inputs
        infos[name] = SignatureInfo(
            input_names=sorted(inputs),
            batchable=all(len(info.tensor_shape.dim) == 1 for info in outputs.values()),
        )
    return infos


def _meta_graph(model_dir: str):
    """The SavedModel's (only) MetaGraphDef, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(model_dir, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    return saved_model.meta_graphs[0]


class ServedModel:
    """Version `version` of the model in `model_dir`, loaded (NoModelError if it does not
    load) and warmed up; `predict` is thread-safe."""

    def __init__(self, model_dir: str, version: int):
        self.model_dir = model_dir
        self.version = version
        self._model = load_model(model_dir)
        signature_defs = _meta_graph(model_dir).signature_def
        self.signatures = _signature_infos(signature_defs)
        self.signature_defs = {
            name: json_format.MessageToDict(
                signature_def,
                including_default_value_fields=True,
                preserving_proto_field_name=True,
            )
            for name, signature_def in signature_defs.items()
        }
        self._warm_up()

    def _warm_up(self) -> None:
        """Calls each signature that takes sentences once: a first call initialises tables
        and kernels (about half a second), which should not be a client's wait."""
        for name, info in self.signatures.items():
            if all(is_text_input(input_name) for input_name in info.input_names):
                self.predict(name, {input_name: [b"Hola."] for input_name in info.input_names})

    def signature(self, name: str) -> SignatureInfo:
        """The signature's info; StatusError (400) when the model has no such signature."""
        if name not in self.signature_defs:
            raise StatusError(
                INVALID_ARGUMENT, f'Serving signature name: "{name}" not found in signature def'
            )
        if name not in self.signatures:
            raise StatusError(
                INVALID_ARGUMENT,
                f'signature "{name}" does not take string[batch] inputs: it cannot be called '
                "by predict",
            )
        return self.signatures[name]

    def predict(self, signature_name: str, inputs: dict[str, list[bytes]]) -> dict[str, list]:
        """Calls the signature on string[batch] inputs -> {output: values, batch first}; an
        error TensorFlow raises becomes a StatusError with its code's HTTP status."""
        import tensorflow as tf  # loaded by load_model

        function = self._model.signatures[signature_name]
        tensors = {
            name: tf.constant(values, tf.string, [len(values)]) for name, values in inputs.items()
        }
        try:
            outputs = function(**tensors)
        except tf.errors.OpError as error:
            status = HTTP_STATUS_OF_TF_CODE.get(error.error_code, 500)
            raise StatusError(status, _error_text(error.message)) from None
        except UnicodeDecodeError:  # TensorFlow's error quoted the input's bytes, not UTF-8
            raise StatusError(
                INVALID_ARGUMENT,
                f"{signature_name}: the model rejected the input (its error message quotes "
                "bytes that are not UTF-8)",
            ) from None
        return {name: tensor.numpy().tolist() for name, tensor in outputs.items()}


# The lines of a TensorFlow error message around its cause: where it was detected, stacks.
_ERROR_CONTEXT = re.compile(r"^(\s|Graph execution error:|Detected at node |<stack traces )")


def _error_text(message: str) -> str:
    """The cause in a TensorFlow error message, e.g. "Could not parse example input, ..."."""
    lines = [line for line in message.splitlines() if line.strip()]
    causes = [line for line in lines if not _ERROR_CONTEXT.match(line)]
    cause = (causes or lines or ["the model failed"])[-1].strip()
    return re.sub(r"\s*\[Op:[^\]]*\]$", "", cause)


def is_text_input(name: str) -> bool:
    """Whether the input carries sentences (UTF-8 text) rather than serialized protos."""
    return name == signatures.SENTENCES
