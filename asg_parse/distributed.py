"""Parse an archive on a Dask cluster: one task per shard, each worker building the pipeline once, the shard outputs
merged in input order: the records, byte for byte, of one `asg-parse INPUT -o OUT` run.

Each task runs what `asg-parse INPUT -o SHARD --shard I/N --resume` runs (the input must be readable by every worker,
e.g. on a shared file system; a retried task continues its shard), then the client merges the shards as
`asg-parse merge` does. Needs the `dask` extra (`pip install "asg[dask]"`)::

    from dask.distributed import Client, LocalCluster
    from asg_parse.distributed import parse_on_dask

    with LocalCluster(n_workers=8, threads_per_worker=1) as cluster, Client(cluster) as client:
        parse_on_dask("reports.csv", "triplets.jsonl", shards=64, client=client)
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional, Sequence

_LOCK = threading.Lock()
BUILDS = 0  # pipelines built in this process (one per worker process)


def _pipeline(ontology: Optional[str]) -> None:
    """Build this worker's pipeline on its first task; later tasks reuse it."""
    global BUILDS
    from .cli import runner

    with _LOCK:
        if runner._NLP is None or runner._ONTOLOGY != ontology:
            runner.set_pipeline(runner.load_pipeline(ontology), ontology)
            BUILDS += 1


def parse_shard(input: str, output: str, shard: int, shards: int, id_col: Optional[str] = None,
                text_cols: Optional[Sequence[str]] = None, ontology: Optional[str] = None) -> str:
    """Parse shard `shard` of `shards` of `input` into `output` (+ its sidecar) in this process, continuing what a
    previous try left in `output`.partial; returns `output`. Bad input raises `asg_parse.cli.io.InputError`."""
    from .cli.feed import Feed
    from .cli.io import open_reports
    from .cli.output import JsonlWriter, skip_done
    from .cli.runner import run_chunks
    from .cli.shards import ShardInfo, write_sidecar

    _pipeline(ontology)
    feed = Feed(open_reports(input, id_col, text_cols), (shard, shards), background=False)
    writer = JsonlWriter(output, resume=True)
    items = iter(feed)
    written = 0
    try:
        kept = skip_done(writer, items)
        for res in run_chunks(items, workers=1, ontology=ontology):
            writer.write("".join(res.lines))
            writer.flush()
            written += len(res.lines)
    except BaseException:
        writer.keep_partial()
        raise
    writer.commit()
    write_sidecar(Path(output), ShardInfo(shard, shards, kept + written, feed.records or 0, feed.ids_digest or "",
                                          input))
    return output


def _parse_partition(tasks: Sequence[tuple[int, str]], **options: Any) -> list[str]:
    """A Dask partition: (shard number, shard output) pairs, parsed one after the other."""
    return [parse_shard(output=out, shard=shard, **options) for shard, out in tasks]


def parse_on_dask(input: str, output: str, shards: int, client: Any = None, workdir: Optional[str] = None,
                  id_col: Optional[str] = None, text_cols: Optional[Sequence[str]] = None,
                  ontology: Optional[str] = None) -> int:
    """Parse `input` into `output` on a Dask cluster (`client`, else Dask's default scheduler) in `shards` tasks
    (a `dask.bag` with one shard per partition); the shard outputs go to `workdir` (default: OUTPUT.shards/ next to
    the output; it must be reachable by every worker and the client). Returns the number of records written."""
    import dask.bag as db

    from .cli.shards import merge_shards

    folder = Path(workdir) if workdir else Path(output).resolve().with_name(Path(output).name + ".shards")
    folder.mkdir(parents=True, exist_ok=True)
    tasks = [(i, str((folder / f"shard-{i:05d}-of-{shards:05d}.jsonl").resolve())) for i in range(1, shards + 1)]
    bag = db.from_sequence(tasks, npartitions=shards)
    options = {"input": str(Path(input).resolve()), "shards": shards, "id_col": id_col,
               "text_cols": list(text_cols) if text_cols else None,
               "ontology": str(Path(ontology).resolve()) if ontology else None}
    done = bag.map_partitions(_parse_partition, **options).compute(scheduler=client)
    return merge_shards(output, [Path(p) for p in done])
