"""`nmt-pipeline serve` in its own process, answering real HTTP on 127.0.0.1.

The tiny pipeline's pushed model, served from a copy of its serving directory; every
answer is checked against a direct call of the same SavedModel in this process.
"""

import asyncio
import json
import random
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.server_process import running_server
from tests.helpers import ARTIFACTS, PROJECT_ROOT, chromium, needs_chromium

LIMITS = ["--max-sentences", "8", "--max-sentence-chars", "300", "--max-body-bytes", "20000"]
SENTENCES = ["Yo veo el gato.", "Ella quiere un libro.", "", "Nosotros vemos la casa."]


@pytest.fixture(scope="module")
def served(tiny_pipeline_run, pushed_model, tmp_path_factory):
    """(server, its output root, the served version, the SavedModel loaded here)."""
    config, _ = tiny_pipeline_run
    (version_dir,) = Path(config.serving_model_dir).iterdir()
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(version_dir, root / "serving_model" / version_dir.name)
    args = ["--output-root", str(root), "--poll-seconds", "0.5", *LIMITS]
    with running_server(args) as server:
        yield server, root, int(version_dir.name), pushed_model


def _request(url: str, body: bytes | None = None, method: str | None = None):
    """(HTTP status, JSON body) of one request."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _direct(model, signature: str, sentences: list[str]) -> dict:
    outputs = model.signatures[signature](sentences=tf.constant(sentences, tf.string))
    return {name: tensor.numpy() for name, tensor in outputs.items()}


def _texts(values) -> list[str]:
    return [value.decode() for value in values]


def test_status_and_metadata_as_tf_serving_reports_them(served):
    server, _, version, _ = served
    status, body = _request(f"{server.url}/v1/models/nmt")
    assert status == 200
    assert body["model_version_status"][0] == {
        "version": str(version),
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    status, body = _request(f"{server.url}/v1/models/nmt/versions/{version}/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "nmt", "signature_name": "", "version": str(version)}
    signature_defs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "greedy", "beam_search", "attention"} <= set(signature_defs)
    default = signature_defs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    sentences = default["inputs"]["sentences"]
    assert sentences["dtype"] == "DT_STRING"
    assert sentences["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}


@pytest.mark.parametrize("signature", ["serving_default", "greedy", "beam_search"])
def test_predict_gives_what_the_savedmodel_gives_in_both_formats(served, signature):
    server, _, _, model = served
    expected = _texts(_direct(model, signature, SENTENCES)["translation"])
    rows = {"signature_name": signature, "instances": SENTENCES}
    columns = {"signature_name": signature, "inputs": {"sentences": SENTENCES}}
    url = f"{server.url}/v1/models/nmt:predict"
    assert _request(url, json.dumps(rows).encode()) == (200, {"predictions": expected})
    assert _request(url, json.dumps(columns).encode()) == (200, {"outputs": expected})


def test_the_attention_signature_answers_one_object_per_sentence(served):
    server, _, _, model = served
    expected = _direct(model, "attention", SENTENCES[:2])
    body = {"signature_name": "attention", "instances": SENTENCES[:2]}
    status, answer = _request(f"{server.url}/v1/models/nmt:predict", json.dumps(body).encode())
    assert status == 200
    for row, prediction in enumerate(answer["predictions"]):
        assert set(prediction) == set(expected)
        assert prediction["translation"] == expected["translation"][row].decode()
        assert prediction["output_tokens"] == _texts(expected["output_tokens"][row])
        np.testing.assert_allclose(prediction["attention"], expected["attention"][row], rtol=1e-6)


PREDICT = "/v1/models/nmt:predict"


def _body(signature: str = "serving_default", *instances) -> bytes:
    return json.dumps({"signature_name": signature, "instances": list(instances)}).encode()


NOT_UTF8 = {"b64": "/w=="}  # the byte 0xff
BAD_REQUESTS = [
    # (what, method, path, body, status, words of the error)
    ("empty body", "POST", PREDICT, b"", 400, "The document is empty"),
    ("bad JSON", "POST", PREDICT, b'{"instances": [', 400, "JSON Parse error"),
    ("bad UTF-8", "POST", PREDICT, b'{"instances": ["\xc3\x28"]}', 400, "Invalid encoding"),
    ("b64 not UTF-8", "POST", PREDICT, _body("greedy", NOT_UTF8), 400, "not UTF-8"),
    ("no instances", "POST", PREDICT, _body(), 400, "No values"),
    ("a number", "POST", PREDICT, _body("greedy", 7), 400, "expected type: string"),
    ("too many", "POST", PREDICT, _body("greedy", *["a"] * 9), 400, "at most 8"),
    ("too long", "POST", PREDICT, _body("greedy", "a" * 301), 400, "301 characters"),
    ("too big", "POST", PREDICT, _body("greedy", "a" * 30000), 413, "--max-body-bytes"),
    ("signature", "POST", PREDICT, _body("x", "a"), 400, '"x" not found'),
    ("init op", "POST", PREDICT, _body("__saved_model_init_op", "a"), 400, "cannot be called"),
    ("bad example", "POST", PREDICT, _body("evaluate", NOT_UTF8), 400, "rejected the input"),
    ("bad example, UTF-8", "POST", PREDICT, _body("evaluate", "not a proto"), 400, "parse"),
    ("model name", "POST", "/v1/models/other:predict", _body(), 404, "Latest(other)"),
    ("version", "GET", "/v1/models/nmt/versions/999", None, 404, "Specific(nmt, 999)"),
    ("malformed", "GET", "/v1/models/nmt/versions/x/y", None, 400, "Malformed request"),
    ("elsewhere", "GET", "/robots.txt", None, 404, "Not Found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_bad_request_gets_a_json_4xx_and_the_server_stays_up(
    served, method, path, body, status, words
):
    server = served[0]
    got_status, answer = _request(server.url + path, body, method)
    assert (got_status, list(answer)) == (status, ["error"]), answer
    assert words in answer["error"]
    assert _request(f"{server.url}/v1/models/nmt")[0] == 200


def _load_requests(sample_lines, count: int, seed: int = 0) -> list[tuple[bytes, list[str] | None]]:
    """`count` request bodies, about one in four invalid; (body, its sentences or None)."""
    rng = random.Random(seed)
    sources = [line.split("\t")[1] for line in sample_lines[:200]]
    invalid = [b"", b"{", b'{"instances": []}', b'{"instances": ["\xff"]}', b"[" * 5000]
    requests = []
    for _ in range(count):
        if rng.random() < 0.25:
            requests.append((rng.choice(invalid), None))
        else:
            sentences = rng.sample(sources, rng.randint(1, 4))
            body = {"signature_name": "greedy", "instances": sentences}
            requests.append((json.dumps(body).encode(), sentences))
    return requests


def test_concurrent_clients_get_the_direct_translation_and_refusals_stay_4xx(served, sample_lines):
    """32 clients, 160 requests in all (bounded: 120 s), on loopback."""
    server, _, _, model = served
    requests = _load_requests(sample_lines, 160)
    url = f"{server.url}/v1/models/nmt:predict"

    async def client(session, queue, answers):
        while queue:
            body, sentences = queue.pop()
            async with session.post(url, data=body) as response:
                answers.append((sentences, response.status, await response.json()))

    async def main():
        queue, answers = list(requests), []
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.wait_for(
                asyncio.gather(*(client(session, queue, answers) for _ in range(32))), 120
            )
        return answers

    answers = asyncio.run(main())
    assert len(answers) == len(requests)
    valid = [(sentences, status, body) for sentences, status, body in answers if sentences]
    every_sentence = sorted({s for sentences, _, _ in valid for s in sentences})
    direct = dict(
        zip(
            every_sentence,
            _texts(_direct(model, "greedy", every_sentence)["translation"]),
            strict=True,
        )
    )
    for sentences, status, body in valid:
        assert status == 200, body
        assert body["predictions"] == [direct[sentence] for sentence in sentences]
    for sentences, status, body in answers:
        if sentences is None:
            assert 400 <= status < 500 and "error" in body
    assert _request(f"{server.url}/v1/models/nmt")[0] == 200


def _translate_on_the_page(page, sentence: str, search: str) -> None:
    page.fill("#source", sentence)
    page.check(f"input[name=search][value={search}]")
    page.click("#go")
    page.wait_for_selector("body[data-state=done]", timeout=60_000)


@needs_chromium
def test_the_page_translates_what_is_typed_and_shows_hostile_text_as_text(served):
    from playwright.sync_api import sync_playwright

    server, _, _, model = served
    browser_path = chromium()
    assert browser_path, "chromium is required in CI: .ci/run installs Debian's chromium package"
    hostile = "<img src=x onerror=\"document.title = 'pwned'\"> Yo veo el gato."
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda note: note.type == "error" and errors.append(note.text))
            page.goto(server.url + "/")
            for search in ("greedy", "beam_search"):
                _translate_on_the_page(page, "Yo veo el gato.", search)
                expected = _texts(_direct(model, search, ["Yo veo el gato."])["translation"])
                assert page.text_content("#translation") == expected[0]
            attention = _direct(model, "attention", ["Yo veo el gato."])
            rows = page.locator("table.heatmap tbody tr")
            assert rows.count() == len(attention["output_tokens"][0])
            assert rows.first.locator("td").count() == len(attention["source_tokens"][0])
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "translator-page.png"), full_page=True)

            _translate_on_the_page(page, hostile, "greedy")
            assert page.title() != "pwned"
            assert page.locator("img").count() == 0
            expected = _texts(_direct(model, "greedy", [hostile])["translation"])
            assert page.text_content("#translation") == expected[0]
            heads = page.locator("table.heatmap thead th").all_text_contents()
            assert "<" in "".join(heads)  # the source pieces, shown as text
            assert errors == []
        finally:
            browser.close()


def test_a_newly_pushed_version_is_served_and_the_old_one_ends(served):
    server, root, version, model = served
    serving = root / "serving_model"
    newer = version + 1
    incoming = serving / f".incoming-{newer}"  # written, then renamed, as the Pusher does
    shutil.copytree(serving / str(version), incoming)
    incoming.rename(serving / str(newer))
    assert server.wait_for_line(rf"serving version {newer}\b", timeout_s=120), server.stderr
    status, body = _request(f"{server.url}/v1/models/nmt")
    assert [(v["version"], v["state"]) for v in body["model_version_status"]] == [
        (str(newer), "AVAILABLE"),
        (str(version), "END"),
    ]
    request = json.dumps({"instances": SENTENCES[:1]}).encode()
    status, body = _request(f"{server.url}/v1/models/nmt/versions/{newer}:predict", request)
    expected = _texts(_direct(model, "serving_default", SENTENCES[:1])["translation"])
    assert (status, body) == (200, {"predictions": expected})
    assert _request(f"{server.url}/v1/models/nmt/versions/{version}:predict", request)[0] == 404

    damaged = serving / str(newer + 1)
    damaged.mkdir()
    (damaged / "saved_model.pb").write_bytes(b"\x08\x96\x01 not a SavedModel \xff" * 40)
    assert server.wait_for_line(rf"version {newer + 1} not served: ", timeout_s=60), server.stderr
    status, body = _request(f"{server.url}/v1/models/nmt")
    states = {
        v["version"]: (v["state"], v["status"]["error_code"]) for v in body["model_version_status"]
    }
    assert states == {
        str(newer + 1): ("END", "UNKNOWN"),
        str(newer): ("AVAILABLE", "OK"),
        str(version): ("END", "OK"),
    }
    assert _request(f"{server.url}/v1/models/nmt:predict", request) == (
        200,
        {"predictions": expected},
    )


def test_ctrl_c_stops_the_server_cleanly(tiny_pipeline_run):
    config, _ = tiny_pipeline_run
    (version_dir,) = Path(config.serving_model_dir).iterdir()
    with running_server(["--model", str(version_dir), "--no-batching"]) as server:
        request = json.dumps({"instances": ["Yo veo el gato."]}).encode()
        assert _request(f"{server.url}/v1/models/nmt:predict", request)[0] == 200
        assert server.stop() == 0
    assert server.stderr.splitlines()[-1] == "nmt-pipeline serve: stopped"
    assert "Traceback" not in server.stderr


def test_no_pushed_model_is_one_line_naming_the_directory(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "serve", "--output-root", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"nmt-pipeline serve: no pushed model in {tmp_path / 'serving_model'}: run the "
        "pipeline until a model is blessed and pushed (nmt-pipeline run), or give --model DIR"
    ]


def test_a_taken_port_is_one_line_before_any_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "serve",
                "--port",
                str(port),
                "--output-root",
                str(tmp_path),
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert (done.returncode, done.stderr) == (
        1,
        f"nmt-pipeline serve: cannot listen on 127.0.0.1:{port}: Address already in use\n",
    )
