"""The tutorial notebook runs from top to bottom (its cells assert what they show), so it cannot rot."""

import pytest
from conftest import ROOT


def test_the_tutorial_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the test extra (nbclient, nbformat) is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the test extra (nbclient, nbformat) is not installed")
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    nb = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed without outputs
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(o.output_type == "display_data" for o in outputs) >= 4  # step, σ–tanh, training, study
