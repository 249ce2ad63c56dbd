"""`nmt-pipeline serve`: the pushed model over TensorFlow Serving's REST API, on aiohttp.

  GET  /v1/models/<name>[/versions/<v>]            status
  GET  /v1/models/<name>[/versions/<v>]/metadata   SignatureDefs
  POST /v1/models/<name>[/versions/<v>]:predict    {"instances": [...]} -> {"predictions": [...]}
  GET  /                                           the translator page (page.py)

aiohttp (a maintained asyncio HTTP server, already pinned with this stack) parses HTTP and
bounds the body; model calls run in a thread pool (TensorFlow releases the GIL), so the
event loop keeps answering while sentences are translated. Every refusal is TF Serving's
JSON error, {"error": message}, with a 4xx status; no input stops the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import signal
import socket
import sys
import traceback

from aiohttp import web

from pipeline.server import page, rest_api
from pipeline.server.batching import Batcher
from pipeline.server.rest_api import INVALID_ARGUMENT, NOT_FOUND, StatusError
from pipeline.server.served_model import ServedModel, is_text_input
from pipeline.server.settings import ServerSettings
from pipeline.server.versions import ModelVersions, VersionNotServed

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _json(body: dict, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


@web.middleware
async def _json_errors(request: web.Request, handler):
    """Every error as TF Serving's {"error": message}; an unexpected one is logged and
    answered with 500, and the server goes on."""
    try:
        return await handler(request)
    except StatusError as error:
        return _json(error.body(), error.http_status)
    except web.HTTPRequestEntityTooLarge as error:
        limit = request.app["settings"].max_body_bytes
        message = f"request body larger than {limit} bytes (--max-body-bytes)"
        return _json({"error": message}, error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _json({"error": f"{error.reason}: {request.method} {request.path}"}, error.status)
    except Exception as error:
        traceback.print_exc()
        return _json({"error": f"internal error: {type(error).__name__}: {error}"}, 500)


class _Handlers:
    """The routes' handlers, over the served versions, the batcher and the thread pool."""

    def __init__(self, versions: ModelVersions, settings: ServerSettings):
        self.versions = versions
        self.settings = settings
        self.pool = concurrent.futures.ThreadPoolExecutor(
            settings.model_threads, thread_name_prefix="model"
        )
        self.batcher = Batcher(
            self._call,
            settings.max_batch_size,
            settings.batch_timeout_ms / 1000,
            settings.max_queued_sentences,
        )

    def _model(self, request: web.Request) -> ServedModel:
        """The model the request names (StatusError 404 for another name or version)."""
        name, version = request.match_info["name"], request.match_info.get("version")
        model = self.versions.current
        if name != self.settings.model_name:
            raise StatusError(NOT_FOUND, f"Servable not found for request: Latest({name})")
        if version is not None and version != str(model.version):
            raise StatusError(
                NOT_FOUND, f"Servable not found for request: Specific({name}, {version})"
            )
        return model

    async def status(self, request: web.Request) -> web.Response:
        self._model(request)
        return _json(rest_api.status_response(self.versions.status()))

    async def metadata(self, request: web.Request) -> web.Response:
        model = self._model(request)
        body = rest_api.metadata_response(
            self.settings.model_name, model.version, model.signature_defs
        )
        return _json(body)

    async def _call(self, key, inputs: dict[str, list[bytes]]) -> dict[str, list]:
        model, signature = key
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, model.predict, signature, inputs)

    def _check_limits(self, predict: rest_api.PredictRequest) -> None:
        settings = self.settings
        if predict.batch_size > settings.max_sentences:
            raise StatusError(
                INVALID_ARGUMENT,
                f"{predict.batch_size} instances in one request; at most "
                f"{settings.max_sentences} (--max-sentences)",
            )
        for name, values in predict.inputs.items():
            if not is_text_input(name):
                continue
            for index, value in enumerate(values):
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise StatusError(
                        INVALID_ARGUMENT, f"{name} item {index}: not UTF-8 text"
                    ) from None
                if len(text) > settings.max_sentence_chars:
                    raise StatusError(
                        INVALID_ARGUMENT,
                        f"{name} item {index}: {len(text)} characters; at most "
                        f"{settings.max_sentence_chars} (--max-sentence-chars)",
                    )

    async def predict(self, request: web.Request) -> web.Response:
        model = self._model(request)
        document = rest_api.parse_json_object(await request.read())
        signature = model.signature(rest_api.signature_name(document))
        predict = rest_api.parse_predict(document, signature.input_names)
        self._check_limits(predict)
        key = (model, predict.signature_name)
        if self.settings.batching and signature.batchable:
            outputs = await self.batcher.submit(key, predict.inputs)
        else:
            outputs = await self._call(key, predict.inputs)
        return _json(rest_api.predict_response(outputs, predict.row_format))

    async def malformed(self, request: web.Request) -> web.Response:
        raise StatusError(INVALID_ARGUMENT, f"Malformed request: {request.method} {request.path}")

    async def watch_versions(self, say) -> None:
        """Loads each newer pushed version as it appears (every poll_seconds). A failure of
        one check is said, with its traceback, and the next check comes as usual."""
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                await self._check_versions(say)
            except Exception:
                say("checking for a newly pushed version failed:")
                traceback.print_exc()

    async def _check_versions(self, say) -> None:
        self.batcher.retire(keep=lambda key, served=self.versions.current: key[0] is served)
        newer = self.versions.newer_version()
        if newer is None:
            return
        say(f"loading version {newer[0]} ({newer[1]})")
        try:
            model = await asyncio.to_thread(self.versions.load, *newer)
        except VersionNotServed as error:
            say(str(error))
            return
        say(f"serving version {model.version} ({model.model_dir})")

    async def close(self) -> None:
        await self.batcher.close()
        self.pool.shutdown(wait=True, cancel_futures=True)


def build_app(
    versions: ModelVersions, settings: ServerSettings
) -> tuple[web.Application, _Handlers]:
    """The aiohttp application and its handlers."""
    handlers = _Handlers(versions, settings)
    app = web.Application(middlewares=[_json_errors], client_max_size=settings.max_body_bytes)
    app["settings"] = settings
    model = "/v1/models/{name:[^/:]+}"
    version = model + "/versions/{version:[0-9]+}"
    for base in (model, version):
        app.router.add_get(base, handlers.status)
        app.router.add_get(base + "/metadata", handlers.metadata)
        app.router.add_post(base + ":predict", handlers.predict)
    app.router.add_route("*", "/v1/{tail:.*}", handlers.malformed)
    page.add_routes(app, settings.model_name)
    return app, handlers


async def _serve(versions: ModelVersions, settings: ServerSettings, say) -> None:
    app, handlers = build_app(versions, settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, shutdown_timeout=5)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise _cannot_listen(settings, error) from error
    host, port = runner.addresses[0][:2]
    model = versions.current
    say(
        f"Serving model {settings.model_name!r} version {model.version} ({model.model_dir}) "
        f"at http://{host}:{port}/ (REST: /v1/models/{settings.model_name}:predict); "
        "Ctrl-C stops"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(handlers.watch_versions(say))
    await stop.wait()
    say("stopping: finishing the requests in flight")
    watcher.cancel()
    await runner.cleanup()
    await handlers.close()
    say("stopped")


def _cannot_listen(settings: ServerSettings, error: OSError) -> SystemExit:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return SystemExit(
        f"nmt-pipeline serve: cannot listen on {settings.host}:{settings.port}: {reason}"
    )


def _check_address(settings: ServerSettings) -> None:
    """Fails at once, before a model loads for seconds, when the port is taken (or the
    host is not this machine's); the bind is tried again for real when serving starts."""
    try:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((settings.host, settings.port))
    except OSError as error:
        raise _cannot_listen(settings, error) from error


def serve(settings: ServerSettings, base_dir: str | None, model_dir: str | None) -> None:
    """Loads the model (NoModelError if there is none) and serves until SIGINT/SIGTERM."""

    def say(message: str) -> None:
        print(f"nmt-pipeline serve: {message}", file=sys.stderr, flush=True)

    _check_address(settings)
    versions = ModelVersions(base_dir=None if model_dir else base_dir, model_dir=model_dir)
    asyncio.run(_serve(versions, settings, say))
