"""The browser's two sides stay apart: serving a results store carries none of the pipeline that builds one.

Checked in fresh interpreters (this test session has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# The building side and the engines it computes with; none is needed to serve a store.
BUILD_PACKAGES = ("research_workbench.browser.building", "duckdb", "sqlglot", "pyarrow", "numpy", "pysam")


def _loaded_after(code: str) -> list[str]:
    script = f"""
import json, sys
{code}
print(json.dumps(sorted(m for m in sys.modules if m.startswith({BUILD_PACKAGES!r}))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_app_and_the_store_reader_loads_nothing_of_the_building_side():
    assert _loaded_after("import research_workbench.browser.serving.app, research_workbench.browser.serving.store") == []
    # the serve command's module too (uvicorn workers import it by name)
    assert _loaded_after("import research_workbench.cli.browser") == []


def test_a_serving_app_answering_every_kind_of_request_loads_no_build_module(store_path: Path):
    loaded = _loaded_after(f"""
from fastapi.testclient import TestClient
from research_workbench.browser.serving.app import create_app
client = TestClient(create_app({str(store_path)!r}), base_url="http://localhost")
for url in ("/", "/api/search?q=diab", "/search?q=diab", "/concepts/201826", "/surveys/1586134", "/genomes?q=APOE",
            "/measurements/physical/903133", "/nothing"):
    assert client.get(url).status_code < 500, url
""")
    assert loaded == []
