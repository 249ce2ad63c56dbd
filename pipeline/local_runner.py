"""Runs the pipeline on this machine: LocalDagRunner, SQLite metadata, Beam DirectRunner.

Also the runner file of the TFX CLI, which executes it as a script with no arguments:

    NMT_PIPELINE_CONFIG=my-config.json tfx pipeline create --engine=local \\
        --pipeline_path=pipeline/local_runner.py
    NMT_PIPELINE_CONFIG=my-config.json tfx run create --engine=local --pipeline_name=nmt-attention

A run started that way ends, like `nmt-pipeline run`, with the blessing verdict and the
HTML report (`<output_root>/report.html`).
"""

from __future__ import annotations

import os

from absl import logging

# Only `pipeline` modules at the top: importing the package first sets the environment
# TensorFlow needs (pipeline/__init__.py), and they import TFX and TensorFlow after it.
from pipeline import definition, language_check, outputs, run_lock
from pipeline.config import ConfigError, PipelineConfig


def preflight(config: PipelineConfig) -> None:
    """Fails before any component runs when the data, output root, model size or batch
    size won't do;
    marks executions left RUNNING by an interrupted or killed run as CANCELED (call it
    holding the output root's lock: no other run is then running)."""
    from modules.training import distribution

    config.check_paths()
    for component in outputs.cancel_unfinished_executions(config):
        logging.warning("%s of an earlier, interrupted run marked as CANCELED", component)
    if config.data.language_check:
        language_check.check(config.data)
    _check_model_fits(config)
    replicas = len(distribution.local_devices())
    batch_size = config.training.batch_size
    if batch_size < replicas:
        raise ConfigError(
            f"batch_size={batch_size} is smaller than the {replicas} local replicas "
            "(one per GPU): give each replica at least one example"
        )


def memory_bytes() -> int:
    """This machine's memory, or the container's limit (cgroup v2) when lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def _check_model_fits(config: PipelineConfig) -> None:
    """ConfigError when training the model would need more memory than this machine has
    (modules/model/size.py), naming the sizes to lower."""
    from modules.model import size

    vocab = config.transform.vocab_size  # an upper bound of both vocabularies
    training, text = config.training, config.transform
    tokens = max(text.max_source_tokens, text.max_target_tokens)
    sentences = training.batch_tokens // tokens if training.batch_tokens else training.batch_size
    needed = size.training_bytes(config.model, vocab, vocab, max(sentences, 1), tokens)
    available = memory_bytes()
    if needed <= available:
        return
    parameters = size.parameter_count(config.model, vocab, vocab)
    sizes = (
        ("layers", "model_width", "feed_forward_width")
        if config.model.architecture == "transformer"
        else ("units", "embedding_dim")
    )
    named = ", ".join(f"{name}={getattr(config.model, name)}" for name in sizes)
    raise ConfigError(
        f"the model is too large for this machine: {named} and vocab_size={vocab} make "
        f"about {parameters / 1e6:,.0f} million weights, and training them needs about "
        f"{needed / 2**30:,.0f} GiB (weights, gradients, Adam's moments, a batch's largest "
        f"activations), more than this machine's {available / 2**30:,.1f} GiB: lower "
        f"{', '.join(sizes)}, vocab_size or batch_size"
    )


def run(
    config: PipelineConfig, until: str | None = None, wait: bool = False, say=logging.info
) -> None:
    """Checks the config against this machine, then runs every component (cached ones are
    reused), or those up to the component id `until`, holding the output root's lock
    (pipeline/run_lock.py; `wait`: for a run that holds it, else OutputRootBusyError).
    Executions that a failure or an interrupt leaves RUNNING are marked CANCELED."""
    from tfx import v1 as tfx

    config.check_paths()
    with run_lock.hold(config.runtime.output_root, wait, say):
        preflight(config)
        connection = outputs.metadata_connection(config)
        try:
            tfx.orchestration.LocalDagRunner().run(
                definition.create_pipeline(config, connection, until)
            )
        except BaseException:
            _cancel_unfinished(config)
            raise


def _cancel_unfinished(config: PipelineConfig) -> None:
    """Marks what a stopped or failed run left RUNNING as CANCELED, if the metadata can
    still be written (on a full disk it may not: the next run's preflight does it)."""
    try:
        cancelled = outputs.cancel_unfinished_executions(config)
    except Exception as error:
        logging.warning("could not mark the unfinished executions as CANCELED: %s", error)
        return
    for component in cancelled:
        logging.warning("%s of this run stopped before it finished: marked as CANCELED", component)


def _print(line: str) -> None:
    print(line, flush=True)


def run_and_report(config: PipelineConfig, say=_print, wait: bool = False) -> None:
    """Runs the pipeline, then says (with `say`) whether the model was blessed and pushed,
    and writes the HTML report."""
    from pipeline import report, summary

    before = outputs.latest_run_id(config)
    run(config, wait=wait, say=say)
    if outputs.latest_run_id(config) == before:
        return  # nothing ran: `tfx pipeline create` only records the pipeline
    logging.info("Outputs of this run:\n%s", outputs.describe_latest_run(config))
    for line in summary.verdict(config):
        say(line)
    say(f"Report: {os.path.abspath(report.write_report(config))}")


if __name__ == "__main__":
    run_and_report(PipelineConfig.from_environment())
