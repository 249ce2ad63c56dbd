"""The TFMA dashboard notebook runs top to bottom against real pipeline results."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "model_analysis.ipynb"


def test_notebook_loads_the_latest_evaluation_and_renders_tfma_views(untrained_rerun):
    config, _ = untrained_rerun
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["NMT_OUTPUT_ROOT"] = config.runtime.output_root
    try:
        NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": NOTEBOOK.parent}}
        ).execute()
    finally:
        del os.environ["NMT_OUTPUT_ROOT"]
    texts = [_shown_text(cell) for cell in notebook.cells if cell.cell_type == "code"]
    # The first run, its unchanged re-run (the model against itself) and the untrained one.
    assert "3 evaluation(s)" in texts[0]
    assert "bleu_lowercase" in texts[1] and "chrf" in texts[1] and "case:mixed" in texts[1]
    assert "source_length_bucket=" in texts[1]
    assert "SlicingMetricsViewer" in texts[2]
    assert "TimeSeriesViewer" in texts[3]


def _shown_text(cell) -> str:
    """What a code cell printed to stdout and displayed as plain text (stderr left out)."""
    shown = [output.get("text", "") for output in cell.outputs if output.get("name") == "stdout"]
    shown += [
        str(output.get("data", {}).get("text/plain", ""))
        for output in cell.outputs
        if output.output_type in ("execute_result", "display_data")
    ]
    return "\n".join(shown)
