"""deploy/slurm/*.sbatch on a real Slurm cluster: one node on this machine, started by
interop/slurm-up.sh. prepare.sbatch runs as a 3-task array, one task is requeued while it works (what
preemption does: SIGTERM, back to the queue, same task id), merge.sbatch follows on `afterok`, and the
directory must be byte-identical to one plain `meap prepare` of the same inputs and options.
"""
import filecmp
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CHUNK0, CHUNK1, FIXTURES, LLAMA2, ROOT, meap

# The daemons live in sbin, which a non-root PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
MISSING = [c for c in ("sbatch", "slurmctld", "slurmd", "munged") if shutil.which(c, path=SEARCH_PATH) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"Slurm is not installed ({', '.join(MISSING)} not found); apt-get install slurm-wlm munge"
)

TASKS = 3
REQUEUED = 0
# Enough input that the requeued task is caught with some files done and more to do: 8 per task.
FILES = 8 * TASKS
PREPARE_ARGS = ["--seq-len", "256"]
# The scripts ask for a site's resources (16 CPUs, 32 GB); this cluster is one small machine.
RESOURCES = ["--cpus-per-task=1", "--mem=2G"]
TIMEOUT_S = 180
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}


def start_cluster():
    r = subprocess.run(["bash", str(ROOT / "interop" / "slurm-up.sh")], capture_output=True, text=True)
    if r.returncode == 2 and os.geteuid() != 0:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, f"interop/slurm-up.sh exited {r.returncode}:\n{r.stdout}{r.stderr}"
    m = re.search(r"^export SLURM_CONF=(\S+)$", r.stdout, re.M)
    assert m, f"interop/slurm-up.sh printed no SLURM_CONF:\n{r.stdout}"
    return Path(m.group(1))


def fixture_inputs(directory):
    """FILES inputs, links to the fixtures (never copies), in one directory so that their relative
    paths are their names and partition k mod TASKS of the sorted names is easy to tell."""
    directory.mkdir()
    for i in range(FILES - 1):
        (directory / f"slimpajama-{i:02}.jsonl.zst").symlink_to([CHUNK0, CHUNK1][i % 2])
    (directory / "arxiv20.jsonl").symlink_to(FIXTURES / "redpajama" / "arxiv20.jsonl")
    names = sorted(p.name for p in directory.iterdir())
    return {name: k % TASKS for k, name in enumerate(names)}


class Cluster:
    def __init__(self, conf, workdir):
        self.conf = conf
        self.workdir = workdir
        # The submitting shell's environment is the jobs' (sbatch --export=ALL): no stray job settings.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        self.env["SLURM_CONF"] = str(conf)

    def run(self, *args, **env):
        r = subprocess.run(args, capture_output=True, text=True, cwd=self.workdir, env={**self.env, **env})
        assert r.returncode == 0, f"{' '.join(args)} exited {r.returncode}: {r.stderr.strip()}\n{self.logs()}"
        return r.stdout

    def submit(self, option, script, **env):
        """sbatch as the README has it (--parsable, "JOBID;CLUSTER"), with this machine's resources."""
        return self.run("sbatch", "--parsable", option, *RESOURCES, str(script), **env).strip().split(";")[0]

    def records(self, job):
        """scontrol's records of a job, by array task id: '' for a plain job, '0-2' for a pending array."""
        r = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True, env=self.env)
        out = {}
        for line in r.stdout.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            out[fields.get("ArrayTaskId", "")] = fields
        return out

    def logs(self):
        """Everything that says why a job did not do its work: the jobs' output, the daemons' logs."""
        parts = [f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.workdir.glob("*.out"))]
        for name in ("slurmctld.log", "slurmd.log"):
            log = self.conf.parent / name
            if log.exists():
                parts.append(f"--- {log} (last 40 lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(parts)


def wait_for(what, check, cluster):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {TIMEOUT_S} s waiting for {what}\n{cluster.logs()}")


def units_done(out, names):
    """The input files whose completion record is in OUT/.meap/done/ (records are written atomically)."""
    done = set()
    for record in (out / ".meap" / "done").glob("*.json"):
        try:
            done.add(json.loads(record.read_text())["path"])
        except (OSError, ValueError, KeyError):
            pass
    return done & set(names)


def tree(directory):
    return {p.relative_to(directory).as_posix() + ("/" if p.is_dir() else ""): p for p in directory.rglob("*")}


def test_array_with_a_requeued_task_then_merge_equals_one_plain_prepare(tmp_path):
    cluster = Cluster(start_cluster(), tmp_path / "submit")
    cluster.workdir.mkdir()
    partition_of = fixture_inputs(tmp_path / "inputs")
    inputs = [str(tmp_path / "inputs" / "*.jsonl.zst"), str(tmp_path / "inputs" / "*.jsonl")]
    out = tmp_path / "out"
    job_env = {
        "INPUTS": " ".join(inputs),
        "TOKENIZER": str(LLAMA2 / "tokenizer.json"),
        "OUT": str(out),
        "MEAP_ARGS": " ".join(PREPARE_ARGS),
        "MEAP_DIR": str(ROOT),
    }
    slurm = ROOT / "deploy" / "slurm"
    job = merge = None
    try:
        job = cluster.submit(f"--array=0-{TASKS - 1}", slurm / "prepare.sbatch", **job_env)
        merge = cluster.submit(f"--dependency=afterok:{job}", slurm / "merge.sbatch", **job_env)

        # Preempt one task in the middle of its work: running, some of its files done, more to do.
        own = [name for name, p in partition_of.items() if p == REQUEUED]

        def caught():
            state = cluster.records(job).get(str(REQUEUED), {}).get("JobState")
            assert state not in FINISHED, f"task {REQUEUED} ended ({state}) before it could be requeued; give it more input\n{cluster.logs()}"
            return state == "RUNNING" and len(units_done(out, own)) > 0

        wait_for(f"task {REQUEUED} to run and finish a file", caught, cluster)
        assert len(units_done(out, own)) < len(own), f"task {REQUEUED} was done before the requeue; give it more input"
        cluster.run("scontrol", "requeue", f"{job}_{REQUEUED}")

        def merged():
            m = cluster.records(merge).get("", {})
            assert m.get("Reason") != "DependencyNeverSatisfied", f"an array task failed, so the merge never runs\n{cluster.logs()}"
            return m.get("JobState") in FINISHED

        wait_for("the merge job", merged, cluster)
        merge_record = cluster.records(merge)[""]
        assert (merge_record["JobState"], merge_record["ExitCode"]) == ("COMPLETED", "0:0"), cluster.logs()
        tasks = cluster.records(job)
        assert sorted(tasks) == [str(t) for t in range(TASKS)], cluster.logs()
        for t, rec in tasks.items():
            assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0"), f"task {t}\n{cluster.logs()}"
            assert rec["Restarts"] == ("1" if t == str(REQUEUED) else "0"), f"task {t}\n{cluster.logs()}"
        # One log for both runs (--open-mode=append): the first stopped at the requeue's SIGTERM,
        # the second, with the same task id and so the same partition, finished it.
        log = (cluster.workdir / f"meap-prepare-{job}_{REQUEUED}.out").read_text()
        first, _, second = log.partition("restart count 1")
        assert "restart count 0" in first and "DUE TO JOB REQUEUE" in first and "SIGTERM" in first, log
        assert f"partition {REQUEUED} of {TASKS} done" not in first and f"partition {REQUEUED} of {TASKS} done" in second, log
    finally:
        for j in (merge, job):
            if j is not None:
                subprocess.run(["scancel", j], capture_output=True, env=cluster.env)

    plain = tmp_path / "plain"
    meap("prepare", *inputs, "--tokenizer", LLAMA2 / "tokenizer.json", *PREPARE_ARGS, "--out", plain, "--progress", "none")
    got, want = tree(out), tree(plain)
    assert sorted(got) == sorted(want)
    different = [rel for rel, p in want.items() if p.is_file() and not filecmp.cmp(p, got[rel], shallow=False)]
    assert different == [], f"files that differ from a plain meap prepare: {different}"
    # 250 MB, and pytest keeps the last three runs' directories: kept only when the test fails.
    shutil.rmtree(out)
    shutil.rmtree(plain)
