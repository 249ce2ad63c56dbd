"""The TFMA dashboard notebook runs top to bottom against real pipeline results."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "model_analysis.ipynb"


def test_notebook_loads_the_latest_evaluation_and_renders_tfma_views(untrained_rerun):
    config, _ = untrained_rerun
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["NMT_OUTPUT_ROOT"] = config.output_root
    try:
        NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": NOTEBOOK.parent}}
        ).execute()
    finally:
        del os.environ["NMT_OUTPUT_ROOT"]
    text_outputs = [
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]
    assert "2 evaluation(s)" in text_outputs[0]
    assert "bleu" in text_outputs[1] and "source_length_bucket=" in text_outputs[1]
    assert "SlicingMetricsViewer" in text_outputs[2]
    assert "TimeSeriesViewer" in text_outputs[3]
