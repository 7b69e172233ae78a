"""Throughput of the whole asg-parse CLI vs a plain spaCy entity_ruler + negspacy pipeline, plus a stage profile.

Builds a corpus of >= 20k reports by repeating the OpenI dev reports ("FINDINGS: ...\\nIMPRESSION: ...") under
new ids in a temporary CSV, then, in `--rounds` interleaved rounds (the best and median of each are reported;
every process reads compiled bytecode from a cache filled by one untimed warm-up run, as installed packages do),
  1. times `asg-parse CORPUS -o OUT --workers N` end to end (a subprocess: start-up, reading, parsing, writing)
     for each N, and checks the outputs are byte-identical;
  2. times a plain pipeline (spacy.blank("en") + sentencizer + entity_ruler with our finding forms + negex `en_clinical`)
     over the same reports in this one process (its build excluded: the throughput the issue compares against),
     and, like for like with 1., as a whole script in a subprocess (imports, build, reading the CSV, parsing,
     writing one JSON line of entities per report; torch kept out of its imports, as asg-parse does);
  3. profiles, in this process, the pipeline the CLI runs (the single `asg_parser` component) step by step:
     tokenizer, token table, the one phrase walk (headers, mention and cue matches), sections, sentences, mention
     linking, existence, triplets, and the record + JSON step.

    python benchmarks/parse_throughput.py [--openi ../shared/data/openi/openi_dev.csv] [--reports 20000]
    python benchmarks/parse_throughput.py --plain-run CORPUS.csv OUT.jsonl   (the plain script of 2., alone)
    python benchmarks/parse_throughput.py --baseline-python OTHER/.venv/bin/python
        (also times another installed version of asg-parse, e.g. a `git worktree` of an older commit with its own
        virtual environment, in the same interleaved rounds, and prints the ratio: an A/B of two trees)
"""
from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # time this checkout's code, in this process as in the CLI subprocess
DEFAULT_OPENI = Path(os.environ.get("ASG_OPENI_CSV", ROOT.parent / "shared" / "data" / "openi" / "openi_dev.csv"))


def openi_texts(path: Path) -> list[str]:
    """The dev reports as benchmark text (only the sections present; reports without text skipped)."""
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            parts = [f"{name.upper()}: {row[name].strip()}" for name in ("findings", "impression")
                     if (row.get(name) or "").strip()]
            if parts:
                out.append("\n".join(parts))
    return out


def build_corpus(texts: list[str], n: int, path: Path) -> list[str]:
    """Write `n` reports (the texts repeated, ids r000001...) to a CSV; return the texts in order."""
    corpus = [texts[i % len(texts)] for i in range(n)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "report"])
        for i, text in enumerate(corpus):
            w.writerow([f"r{i + 1:06d}", text])
    return corpus


def process_env(pycache: Path) -> dict[str, str]:
    """The environment of every timed process: compiled bytecode cached under `pycache` and reused, as an installed
    package has its .pyc files, even where PYTHONDONTWRITEBYTECODE is set (as on our machines, where each process
    would otherwise compile the modules it imports from source again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def time_process(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    """Seconds for the command (process start to exit); a failure stops the benchmark with its message."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[1:3])} failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall


def baseline_command(python: Path, corpus: Path, out: Path, workers: int) -> list[str]:
    """The console command of the asg-parse installed beside another Python (run from a folder with no checkout)."""
    return [str(python), "-c", "from asg_parse.cli import main; main()", str(corpus), "-o", str(out),
            "--workers", str(workers), "--quiet"]


def cli_command(corpus: Path, out: Path, workers: int) -> list[str]:
    """The whole console command (`python -m asg_parse.cli`, this checkout's code)."""
    return [sys.executable, "-m", "asg_parse.cli", str(corpus), "-o", str(out), "--workers", str(workers), "--quiet"]


def plain_command(corpus: Path, out: Path) -> list[str]:
    """`plain_run` as a script in a fresh process."""
    return [sys.executable, str(Path(__file__).resolve()), "--plain-run", str(corpus), str(out)]


def plain_pipeline():
    """spacy.blank('en') + sentencizer + entity_ruler (our finding forms, lower-cased) + negex with the en_clinical termset."""
    import spacy
    import negspacy.negation  # noqa: F401  (registers the "negex" factory)
    from negspacy.termsets import termset

    from anatomy_ontology import load_ontology

    onto = load_ontology()
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")  # negex needs sentence boundaries
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": f.id, "pattern": form} for f in onto.findings.values() for form in [f.id, *f.forms]])
    nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})
    return nlp


def plain_run(corpus: Path, out: Path) -> None:
    """The plain pipeline as a whole script: read the CSV, parse, write {"id", "ents": [[label, start, end, negated]]}."""
    nlp = plain_pipeline()
    with corpus.open(newline="", encoding="utf-8") as fh:
        rows = [(row["id"], row["report"]) for row in csv.DictReader(fh)]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with out.open("w", encoding="utf-8") as fh:
        for (rid, _), doc in zip(rows, nlp.pipe((text for _, text in rows), batch_size=1000)):
            ents = [[e.label_, e.start_char, e.end_char, e._.negex] for e in doc.ents]
            fh.write(dumps({"id": rid, "ents": ents}) + "\n")


def time_plain(texts: list[str]) -> tuple[float, float, int]:
    """(build seconds, parse seconds, entities found)."""
    t0 = time.perf_counter()
    nlp = plain_pipeline()
    t1 = time.perf_counter()
    n_ents = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=1000))
    return t1 - t0, time.perf_counter() - t1, n_ents


def profile_ours(texts: list[str]) -> list[tuple[str, float]]:
    """Seconds per step of the pipeline the CLI runs (`runner.load_pipeline()`: one `asg_parser` component that
    keeps sentences and triplets as rows), each step timed over all `texts` in turn in this process."""
    from asg_parse import api
    from asg_parse.cli import runner
    from asg_parse.pipeline.sentences import set_sentence_starts
    from asg_parse.pipeline.tokens import release, tokens

    t0 = time.perf_counter()
    nlp = runner.load_pipeline()
    parser = nlp.get_pipe("asg_parser")
    nlp("")  # what the pipeline builds on its first doc (phrase walk, cue engine), as the CLI does before forking
    stages = [("build pipeline (once)", time.perf_counter() - t0)]

    def step(name: str, fn) -> list:
        gc.collect()
        gc.disable()  # as in the CLI, which collects once per chunk: thousands of live docs make each pass slow
        t0 = time.perf_counter()
        out = [fn(i) for i in range(len(texts))]
        stages.append((name, time.perf_counter() - t0))
        gc.enable()
        return out

    docs = step("tokenizer", lambda i: nlp.make_doc(texts[i]))
    step("token table (one to_array)", lambda i: tokens(docs[i]))
    walks = step("phrase walk (headers, mentions, cues)", lambda i: parser.phrase_matches(docs[i]))
    layouts = step("sections", lambda i: parser.sections.layout(docs[i], walks[i][0]))
    index = step("sentences (+ sentence index)", lambda i: set_sentence_starts(docs[i], layouts[i].headers))
    found = step("mentions: link", lambda i: parser.mentions.analyse(docs[i], index[i], walks[i][1:-1]))
    labels = step("existence", lambda i: parser.existence.engine.label_all(docs[i], found[i].findings, index[i],
                                                                          walks[i][-1]))
    step("triplets, region map, tags", lambda i: (parser.triplets.assemble(docs[i], layouts[i], found[i], labels[i],
                                                                           index[i]).store(docs[i]),
                                                  release(docs[i])))
    step("record + JSON", lambda i: runner.record_line(api.doc_to_record(docs[i], f"r{i}")))
    return stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openi", type=Path, default=DEFAULT_OPENI, help="OpenI dev CSV (env ASG_OPENI_CSV)")
    ap.add_argument("--reports", type=int, default=20000, help="corpus size (default 20000)")
    ap.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated (default 1,2)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds of every run, interleaved (default 3)")
    ap.add_argument("--profile-reports", type=int, default=5000, help="reports for the stage profile")
    ap.add_argument("--baseline-python", type=Path, metavar="PYTHON",
                    help="also time the asg-parse installed beside this Python (an A/B of two trees)")
    ap.add_argument("--plain-run", nargs=2, type=Path, metavar=("CORPUS", "OUT"), help="only run the plain script")
    args = ap.parse_args()
    if args.plain_run:
        sys.modules.setdefault("torch", None)  # thinc imports torch when installed; the rule pipelines never use it
        plain_run(*args.plain_run)
        return
    if not args.openi.is_file():
        raise SystemExit(f"error: {args.openi}: no such file (pass --openi or set ASG_OPENI_CSV)")
    texts = openi_texts(args.openi)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (cpus: {os.cpu_count()})")
    with tempfile.TemporaryDirectory(prefix="asg-bench-") as tmp:
        tmpd = Path(tmp)
        corpus_path = tmpd / "corpus.csv"
        corpus = build_corpus(texts, args.reports, corpus_path)
        print(f"corpus: {len(corpus)} reports ({len(texts)} distinct OpenI dev reports repeated), "
              f"{corpus_path.stat().st_size / 1e6:.1f} MB")
        env = process_env(tmpd / "pycache")
        warm = tmpd / "warm.csv"
        build_corpus(texts, 50, warm)
        for cmd in (cli_command(warm, tmpd / "warm.jsonl", 1), plain_command(warm, tmpd / "warm.jsonl")):
            time_process(cmd, env)  # untimed: compiles each side's modules into the bytecode cache once
        if args.baseline_python:
            time_process(baseline_command(args.baseline_python, warm, tmpd / "warm.jsonl", 1), env, cwd=tmpd)
        workers = [int(x) for x in args.workers.split(",")]
        names = [f"asg-parse CLI end to end, --workers {w}" for w in workers] + [
            "plain entity_ruler + negex, 1 process (pipeline build excluded)",
            "plain entity_ruler + negex, whole script end to end, 1 process"]
        base_names = [f"baseline asg-parse, --workers {w}" for w in workers] if args.baseline_python else []
        names = base_names + names
        times: dict[str, list[float]] = {name: [] for name in names}
        outputs = {}
        base_differs = False
        for _ in range(args.rounds):  # the runs interleaved, so each side sees the machine's ups and downs
            for w, name in zip(workers, names[len(base_names):]):
                out = tmpd / f"out{w}.jsonl"
                times[name].append(time_process(cli_command(corpus_path, out, w), env))
                outputs[w] = out.read_bytes()
            for w, name in zip(workers, base_names):
                out = tmpd / f"base{w}.jsonl"
                times[name].append(time_process(baseline_command(args.baseline_python, corpus_path, out, w),
                                                env, cwd=tmpd))
                base_differs = base_differs or out.read_bytes() != outputs[w]
            build, wall, n_ents = time_plain(corpus)
            times[names[-2]].append(wall)
            times[names[-1]].append(time_process(plain_command(corpus_path, tmpd / "plain.jsonl"), env))
        runs = [o.splitlines() for o in outputs.values()]
        differing = sum(1 for lines in zip(*runs) if len(set(lines)) > 1) if runs else 0
        n_lines = len(runs[0]) if runs else 0
    print(f"\n{'run (' + str(args.rounds) + ' rounds)':<68}{'best s':>8}{'median s':>10}{'reports/s (best)':>18}")
    for name in names:
        v = sorted(times[name])
        print(f"{name:<68}{v[0]:>8.2f}{v[len(v) // 2]:>10.2f}{len(corpus) / v[0]:>18,.0f}")
    print(f"plain pipeline: {n_ents} entities, build {build:.2f} s (last round)")
    if len(workers) and max(workers) > 1:
        ours = min(times[names[len(base_names) + workers.index(max(workers))]])
        for plain_name, what in ((names[-2], "parse (its build excluded)"), (names[-1], "whole script")):
            plain = min(times[plain_name])
            print(f"asg-parse --workers {max(workers)} vs the plain pipeline's {what}, best of {args.rounds} each: "
                  f"{100 * (plain / ours - 1):+.1f}% reports/s")
    for w, name in zip(workers, base_names):
        ours = min(times[f"asg-parse CLI end to end, --workers {w}"])
        print(f"this tree vs the baseline, --workers {w}, best of {args.rounds} each: "
              f"{100 * (min(times[name]) / ours - 1):+.1f}% reports/s")
    if base_names:
        print("baseline output: " + ("DIFFERENT from this tree's" if base_differs else "byte-identical to this tree's"))
    print(f"records written: {n_lines}; records that differ between worker counts: {differing}"
          + (" (the ontology or parser changed between the runs?)" if differing else " (byte-identical)"))

    sub = corpus[: args.profile_reports]
    print(f"\nprofile of our pipeline, 1 process, {len(sub)} reports:")
    stages = profile_ours(sub)
    counted = [(name, secs) for name, secs in stages if not name.startswith(("build", " "))]
    total = sum(secs for _, secs in counted)
    for name, secs in stages:
        share = "" if name.startswith(("build", " ")) else f"{100 * secs / total:5.1f}%"
        print(f"  {name:<34}{secs:8.3f} s  {share}")
    print(f"  {'total per report':<34}{1e6 * total / len(sub):8.0f} us  ({len(sub) / total:,.0f} reports/s)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
