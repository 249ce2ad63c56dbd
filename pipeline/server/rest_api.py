"""TensorFlow Serving's REST API, as JSON in and out: no HTTP and no TensorFlow here.

The shapes follow TF Serving's own handler (tensorflow_serving/util/json_tensor.cc and
model_servers/http_rest_api_handler.cc, HttpRestApiHandler::ProcessRequest):

  request   {"signature_name": S?, "instances": [v, ...]} (row format) or
            {"signature_name": S?, "inputs": [v, ...] | {name: [v, ...]}} (columnar);
            a value is a JSON string or {"b64": base64}; with several inputs each
            instance is an object {name: v}
  response  {"predictions": [v, ...]} with one output, [{name: v, ...}, ...] with several
            (row); {"outputs": v} or {"outputs": {name: v}} (columnar)
  error     {"error": message} with the HTTP status of its TF error code (StatusError)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json

# The HTTP status of each TF error code this server raises (TF Serving's http_server.cc,
# ToHTTPStatusCode).
INVALID_ARGUMENT = 400
NOT_FOUND = 404
UNAVAILABLE = 503
# TensorFlow's error codes (tf.errors.*Error.error_code) -> HTTP, as ToHTTPStatusCode maps them.
HTTP_STATUS_OF_TF_CODE = {
    1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429,
    9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip


class StatusError(Exception):
    """A request TF Serving would refuse: its message and HTTP status."""

    def __init__(self, http_status: int, message: str):
        super().__init__(message)
        self.http_status = http_status

    def body(self) -> dict:
        return {"error": str(self)}


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """A parsed predict request: the signature, each input's values, the response format."""

    signature_name: str
    inputs: dict[str, list[bytes]]
    row_format: bool

    @property
    def batch_size(self) -> int:
        return len(next(iter(self.inputs.values())))


def _debug(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_json_object(body: bytes) -> dict:
    """The request body as a JSON object; StatusError for an empty body, bad UTF-8, bad
    JSON or another JSON value, with TF Serving's wording ("JSON Parse error: ...")."""
    if not body:
        raise StatusError(INVALID_ARGUMENT, "JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StatusError(
            INVALID_ARGUMENT,
            f"JSON Parse error: Invalid encoding in string. at offset: {error.start}",
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise StatusError(
            INVALID_ARGUMENT, f"JSON Parse error: {error.msg} at offset: {error.pos}"
        ) from None
    except RecursionError:
        raise StatusError(INVALID_ARGUMENT, "JSON Parse error: nested too deeply") from None
    if not isinstance(document, dict):
        raise StatusError(INVALID_ARGUMENT, f"JSON Value: {_debug(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    """The request's signature (TF Serving's default: serving_default)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise StatusError(
            INVALID_ARGUMENT, f'JSON Value: {_debug(name)} Expecting "signature_name" string'
        )
    return name or "serving_default"


def _string_value(value, where: str) -> bytes:
    """A DT_STRING element: a JSON string (its UTF-8 bytes) or {"b64": ...} (decoded)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, dict) and list(value) == ["b64"] and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise StatusError(INVALID_ARGUMENT, f"{where}: Unable to base64 decode") from None
    raise StatusError(
        INVALID_ARGUMENT, f"{where}: JSON Value: {_debug(value)} is not of expected type: string"
    )


def _string_list(values, where: str) -> list[bytes]:
    if not isinstance(values, list):
        raise StatusError(
            INVALID_ARGUMENT,
            f"{where}: JSON Value: {_debug(values)} expecting a list of strings "
            "(this model's inputs are string[batch])",
        )
    return [_string_value(value, f"{where}, item {index}") for index, value in enumerate(values)]


def _is_named_object(value) -> bool:
    return isinstance(value, dict) and list(value) != ["b64"]


def parse_predict(document: dict, input_names: list[str]) -> PredictRequest:
    """A predict request for a signature whose inputs, `input_names`, are all
    string[batch]; StatusError for anything TF Serving would refuse."""
    name = signature_name(document)
    has_instances, has_inputs = "instances" in document, "inputs" in document
    if has_instances and has_inputs:
        raise StatusError(
            INVALID_ARGUMENT,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist",
        )
    if has_instances:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise StatusError(INVALID_ARGUMENT, "Expecting 'instances' to be an list/array")
        if not instances:
            raise StatusError(INVALID_ARGUMENT, "No values in 'instances' array")
        if _is_named_object(instances[0]):
            inputs = {key: [] for key in input_names}
            for index, instance in enumerate(instances):
                if not _is_named_object(instance) or sorted(instance) != sorted(input_names):
                    raise StatusError(
                        INVALID_ARGUMENT,
                        f"Failed to process element: {index} of 'instances' list. JSON object: "
                        f"{_debug(instance)} keys must be equal to: {','.join(input_names)}",
                    )
                for key in input_names:
                    where = f"element {index} key {key}"
                    inputs[key].append(_string_value(instance[key], where))
        elif len(input_names) > 1:
            raise StatusError(
                INVALID_ARGUMENT,
                "instances is a plain list, but expecting list of objects as multiple input "
                "tensors required as per tensorinfo_map",
            )
        else:
            inputs = {input_names[0]: _string_list(instances, "'instances'")}
        return PredictRequest(name, inputs, row_format=True)
    if has_inputs:
        value = document["inputs"]
        if _is_named_object(value):
            missing = [key for key in input_names if key not in value]
            if missing:
                raise StatusError(
                    INVALID_ARGUMENT, f"Missing named input: {missing[0]} in 'inputs' object."
                )
            inputs = {key: _string_list(value[key], f"'inputs' {key}") for key in input_names}
        elif len(input_names) > 1:
            raise StatusError(
                INVALID_ARGUMENT,
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map",
            )
        else:
            inputs = {input_names[0]: _string_list(value, "'inputs'")}
        sizes = {len(values) for values in inputs.values()}
        if len(sizes) > 1:
            raise StatusError(INVALID_ARGUMENT, "the named inputs differ in batch size")
        return PredictRequest(name, inputs, row_format=False)
    raise StatusError(INVALID_ARGUMENT, "Missing 'inputs' or 'instances' key")


def _json_values(name: str, values: list) -> list:
    """Tensor values (from numpy's tolist()) as TF Serving writes them: bytes as text, as
    {"b64": ...} when the output's name ends in "_bytes" or they are not UTF-8."""

    def convert(value):
        if isinstance(value, list):
            return [convert(item) for item in value]
        if isinstance(value, bytes):
            if not name.endswith("_bytes"):
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value

    return convert(values)


def predict_response(outputs: dict[str, list], row_format: bool) -> dict:
    """The JSON answer for `outputs` (name -> values, batch first) in the request's format."""
    converted = {name: _json_values(name, values) for name, values in sorted(outputs.items())}
    if not row_format:
        if len(converted) == 1:
            return {"outputs": next(iter(converted.values()))}
        return {"outputs": converted}
    if len(converted) == 1:
        return {"predictions": next(iter(converted.values()))}
    batch = len(next(iter(converted.values())))
    return {
        "predictions": [
            {name: values[row] for name, values in converted.items()} for row in range(batch)
        ]
    }


def status_response(versions: list[tuple[int, str, str]]) -> dict:
    """GetModelStatus as JSON: (version, state, error message) per version, newest first."""
    return {
        "model_version_status": [
            {
                "version": str(version),
                "state": state,
                "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error},
            }
            for version, state, error in versions
        ]
    }


def metadata_response(model_name: str, version: int, signature_defs: dict) -> dict:
    """GetModelMetadata as JSON: the SignatureDefs (proto field names, as TF Serving prints)."""
    return {
        "model_spec": {"name": model_name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {"signature_def": signature_defs}},
    }
