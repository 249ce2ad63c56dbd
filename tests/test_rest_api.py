"""TF Serving's REST JSON (pipeline/server/rest_api.py) and the server-side batcher."""

import asyncio
import base64
import json

import pytest

from pipeline.server import rest_api
from pipeline.server.batching import Batcher
from pipeline.server.rest_api import StatusError

SENTENCES = ["sentences"]


def _predict(document, input_names=SENTENCES):
    return rest_api.parse_predict(
        rest_api.parse_json_object(json.dumps(document).encode()), input_names
    )


def test_row_and_columnar_requests_give_the_same_inputs():
    b64 = {"b64": base64.b64encode("¿Qué?".encode()).decode()}
    rows = _predict({"instances": ["Hola.", b64]})
    named_rows = _predict({"instances": [{"sentences": "Hola."}, {"sentences": b64}]})
    columns = _predict({"signature_name": "greedy", "inputs": ["Hola.", b64]})
    named_columns = _predict({"inputs": {"sentences": ["Hola.", b64]}})
    expected = {"sentences": [b"Hola.", "¿Qué?".encode()]}
    assert rows.inputs == named_rows.inputs == columns.inputs == named_columns.inputs == expected
    assert rows.row_format and named_rows.row_format
    assert not columns.row_format and not named_columns.row_format
    assert rows.signature_name == "serving_default" and columns.signature_name == "greedy"
    assert rows.batch_size == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b'{"instances": ["a"', "JSON Parse error: Expecting"),
        (
            b'{"instances": ["\xff\xfe"]}',
            "JSON Parse error: Invalid encoding in string. at offset: 16",
        ),
        (b'["a"]', "Is not object"),
        (b'{"signature_name": 3, "instances": ["a"]}', '"signature_name" string'),
        (b'{"instances": []}', "No values in 'instances' array"),
        (b'{"instances": "a"}', "Expecting 'instances' to be an list/array"),
        (b'{"instances": [1]}', "is not of expected type: string"),
        (b'{"instances": [{"b64": "%%%"}]}', "Unable to base64 decode"),
        (b'{"instances": [{"text": "a"}]}', "keys must be equal to: sentences"),
        (b'{"instances": ["a"], "inputs": ["a"]}', "only one of 'inputs' or 'instances'"),
        (b'{"inputs": {"other": ["a"]}}', "Missing named input: sentences"),
        (b'{"signature_name": "greedy"}', "Missing 'inputs' or 'instances' key"),
        (b"[" * 100_000, "JSON Parse error"),
    ],
)
def test_a_bad_request_is_a_400_with_tf_servings_wording(body, message):
    with pytest.raises(StatusError) as raised:
        rest_api.parse_predict(rest_api.parse_json_object(body), SENTENCES)
    assert raised.value.http_status == 400
    assert message in raised.value.body()["error"]


def test_responses_follow_the_request_format():
    one = {"translation": [b"Hi.", "¿Sí?".encode()]}
    assert rest_api.predict_response(one, row_format=True) == {"predictions": ["Hi.", "¿Sí?"]}
    assert rest_api.predict_response(one, row_format=False) == {"outputs": ["Hi.", "¿Sí?"]}
    several = {
        "translation": [b"Hi.", b"No."],
        "truncated": [False, True],
        "raw_bytes": [b"a", b"\xff"],
    }
    assert rest_api.predict_response(several, row_format=True) == {
        "predictions": [
            {"raw_bytes": {"b64": "YQ=="}, "translation": "Hi.", "truncated": False},
            {"raw_bytes": {"b64": "/w=="}, "translation": "No.", "truncated": True},
        ]
    }
    assert rest_api.predict_response(several, row_format=False)["outputs"]["truncated"] == [
        False,
        True,
    ]


def test_status_and_metadata_are_shaped_as_tf_serving_prints_them():
    assert rest_api.status_response([(2, "AVAILABLE", ""), (1, "END", "")]) == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }
    metadata = rest_api.metadata_response("nmt", 7, {"greedy": {"method_name": "m"}})
    assert metadata["model_spec"] == {"name": "nmt", "signature_name": "", "version": "7"}
    assert metadata["metadata"]["signature_def"]["signature_def"]["greedy"]["method_name"] == "m"


def _run_batcher(sizes, max_batch_size, max_queued=1000, timeout_s=0.05):
    """Submits requests of `sizes` sentences at once; (the calls made, each request's rows)."""
    calls = []

    async def call(key, inputs):
        calls.append((key, list(inputs["sentences"])))
        await asyncio.sleep(0.01)
        return {"translation": [value.upper() for value in inputs["sentences"]]}

    async def main():
        batcher = Batcher(call, max_batch_size, timeout_s, max_queued)
        requests = [
            {"sentences": [f"r{index}s{item}".encode() for item in range(size)]}
            for index, size in enumerate(sizes)
        ]
        results = await asyncio.gather(
            *(batcher.submit("greedy", inputs) for inputs in requests), return_exceptions=True
        )
        await batcher.close()
        return requests, results

    requests, results = asyncio.run(main())
    return calls, requests, results


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows():
    calls, requests, results = _run_batcher([1, 3, 2, 4, 1], max_batch_size=5)
    assert [len(sentences) for _, sentences in calls] == [4, 2, 5]  # 1+3, 2 (4 won't fit), 4+1
    for inputs, result in zip(requests, results, strict=True):
        assert result == {"translation": [value.upper() for value in inputs["sentences"]]}


def test_a_full_queue_refuses_with_503_and_the_rest_are_answered():
    calls, requests, results = _run_batcher([2, 2, 2], max_batch_size=2, max_queued=4)
    refused = [result for result in results if isinstance(result, StatusError)]
    assert len(refused) == 1 and refused[0].http_status == 503
    assert "queue is full" in str(refused[0])
    assert sum(isinstance(result, dict) for result in results) == 2


def test_retired_keys_stop_batching_and_keys_with_waiting_requests_stay():
    async def call(key, inputs):
        return {"translation": inputs["sentences"]}

    async def main():
        batcher = Batcher(call, 4, 0.0, 100)
        await batcher.submit("old", {"sentences": [b"a"]})
        await batcher.submit("new", {"sentences": [b"b"]})
        batcher.retire(keep=lambda key: key == "new")
        keys = batcher.keys
        answer = await batcher.submit("old", {"sentences": [b"c"]})  # a fresh worker
        await batcher.close()
        return keys, answer

    keys, answer = asyncio.run(main())
    assert keys == {"new"} and answer == {"translation": [b"c"]}
