"""The Dask recipe (asg_parse.distributed): a LocalCluster of 2 worker processes writes the bytes of the CLI."""
import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

from asg_parse import distributed as recipe  # noqa: E402
from asg_parse.cli.app import app  # noqa: E402

from test_cli_shards import write_archive  # noqa: E402


def test_local_cluster_of_two_processes_writes_the_bytes_of_the_cli(tmp_path, cli_pipeline):
    src = tmp_path / "archive.csv"
    write_archive(src, 90)  # with a repeated and an empty id: their warnings need the whole input's numbering
    ref = tmp_path / "cli.jsonl"
    assert CliRunner().invoke(app, [str(src), "-o", str(ref), "--workers", "2", "-q"]).exit_code == 0
    out = tmp_path / "dask.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        written = recipe.parse_on_dask(str(src), str(out), shards=5, client=client)
        builds = client.run(lambda: __import__("asg_parse.distributed", fromlist=["BUILDS"]).BUILDS)
    assert written == 90
    assert out.read_bytes() == ref.read_bytes()
    assert sorted(builds.values()) in ([1, 1], [0, 1])  # each worker process built the pipeline once (if it ran)
    assert json.loads(out.read_text().splitlines()[11])["id"] == "12"  # the empty id, numbered as the CLI does
    assert not (tmp_path / "dask.jsonl.partial").exists()
