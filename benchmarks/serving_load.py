"""`nmt-pipeline serve` under concurrent clients, with batching on and off, beside the
direct in-process call of the same SavedModel.

Closed-loop clients on 127.0.0.1 (each sends its next request when the last is answered),
one sentence per request, source sentences of the shipped corpus. Reports requests/s and
the p50/p99 latency per concurrency; every answer is checked to be a 200. Example:

    python -m benchmarks.serving_load --model outputs/serving_model/<version>
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import dataclasses
import gc
import json
import shlex
import statistics
import time

from benchmarks import common
from benchmarks.server_process import running_server
from pipeline.server.settings import ServerSettings


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _row(setup: str, clients: int, latencies: list[float], wall_s: float, errors: int) -> dict:
    return {
        "setup": setup,
        "clients": clients,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / wall_s,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "errors": errors,
    }


async def _http_round(url: str, sentences: list[str], clients: int, signature: str):
    """(latencies, wall seconds, non-200 answers) of `clients` closed-loop clients sending
    one request per sentence of `sentences` between them."""
    import aiohttp

    queue = list(reversed(sentences))
    latencies, errors = [], 0

    async def client(session):
        nonlocal errors
        while queue:
            body = json.dumps({"signature_name": signature, "instances": [queue.pop()]})
            start = time.perf_counter()
            async with session.post(url, data=body) as response:
                await response.read()
                errors += response.status != 200
            latencies.append(time.perf_counter() - start)

    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return latencies, time.perf_counter() - start, errors


def _direct_round(model, sentences: list[str], clients: int, signature: str):
    """The same, calling the loaded SavedModel from `clients` threads in this process."""
    import tensorflow as tf

    function = model.signatures[signature]
    queue = list(reversed(sentences))
    latencies = []

    def client():
        while queue:
            try:
                sentence = queue.pop()
            except IndexError:
                return
            start = time.perf_counter()
            function(sentences=tf.constant([sentence]))
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return latencies, time.perf_counter() - start, 0


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pushed SavedModel version directory")
    parser.add_argument("--clients", default="1,8,32", help="concurrencies (default: 1,8,32)")
    parser.add_argument(
        "--requests", type=int, default=320, help="requests per concurrency (default: 320)"
    )
    parser.add_argument("--signature", default="greedy", help="signature to call (default: greedy)")
    parser.add_argument("--batching", default="on,off", help="server setups (default: on,off)")
    parser.add_argument(
        "--server-args", default="", help="more `serve` flags, e.g. '--batch-timeout-ms 2'"
    )
    parser.add_argument("--out", help="directory for the JSON (default: benchmarks/results)")
    args = parser.parse_args(argv)
    concurrencies = [int(item) for item in args.clients.split(",")]
    sources = [source for source, _ in common.corpus_pairs(str(common.SPA_ENG), 5000)]
    sentences = sources[:: max(1, len(sources) // args.requests)][: args.requests]
    rows = []

    from pipeline.pushed_models import load_model

    model = load_model(args.model)
    _direct_round(model, sentences[:8], 1, args.signature)  # warm-up: tracing, tables
    # TensorFlow's objects out of the collector's way: a full collection over them would
    # pause this process's HTTP clients for half a second, a latency the server never had.
    gc.collect()
    gc.freeze()
    for clients in concurrencies:
        measured = _direct_round(model, sentences, clients, args.signature)
        rows.append(_row("direct call", clients, *measured))
    for batching in args.batching.split(","):
        flag = "--batching" if batching == "on" else "--no-batching"
        server_args = ["--model", args.model, flag, *shlex.split(args.server_args)]
        with running_server(server_args) as server:
            url = f"{server.url}/v1/models/nmt:predict"
            asyncio.run(_http_round(url, sentences[:8], 1, args.signature))  # warm-up
            for clients in concurrencies:
                measured = asyncio.run(_http_round(url, sentences, clients, args.signature))
                rows.append(_row(f"serve, batching {batching}", clients, *measured))
    common.print_table(f"Serving load ({args.signature}, 1 sentence per request)", rows)
    settings = {
        "model": args.model,
        "signature": args.signature,
        "requests_per_concurrency": len(sentences),
        "sentences_per_request": 1,
        "server": dataclasses.asdict(ServerSettings()),
        "server_args": args.server_args,
    }
    common.write_results("serving_load", settings, rows, args.out)
    return rows


if __name__ == "__main__":
    main()
