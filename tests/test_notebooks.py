"""Every notebook in notebooks/ runs top to bottom in its QUICK mode and writes the figures it names.

The notebooks are narrative only (every number is computed by qcharge) and end in a cell of ``assert``
statements on the claims they make, so a change in the package that breaks a claim fails here.
Each runs in a fresh Jupyter kernel (nbclient) with the figures sent to a temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# QUICK mode runs each notebook in ~10-20 s on 2 shared cores; 300 s is the hang guard, not a target.
CELL_TIMEOUT_S = 300


def _figure_names(nb) -> set[str]:
    """The PNG names passed to the notebooks' save(fig, "NAME.png") helper."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return set(re.findall(r'save\(fig, "([^"]+\.png)"\)', code))


def test_every_notebook_is_collected():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_charging.ipynb", "02_scaling.ipynb", "03_harvesting.ipynb", "04_circuits.ipynb",
            "05_ibm_hardware.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_saves_its_figures(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    # The kernel is a child process: it inherits this environment (quick mode, figure folder, the package).
    monkeypatch.setenv("QCHARGE_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("QCHARGE_FIGURES_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell (or a claim's assert) fails
    for name in _figure_names(nb):
        figure = tmp_path / name
        assert figure.is_file() and figure.stat().st_size > 5_000, name  # a real plot, not an empty canvas
