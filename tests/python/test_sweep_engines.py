"""`oomless sweep` engines and results stores with real parts (issue 14).

A real Dask scheduler and two workers on 127.0.0.1 and a throwaway PostgreSQL
cluster (initdb/pg_ctl as the postgres user on a loopback port) are started
here and stopped by PID at the end. Sweeps through them are compared case by
case with a local sweep. OOMLESS_BIN is the CLI (tests skip when unset).
"""
import glob
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(REPO, "suites", "seed.json")
SLURM = os.path.join(REPO, "scripts", "slurm-sweep.sh")
# A run-mode subset that takes a few seconds: every case up to 2 MiB, both policies.
RUN_SUBSET = ["--mode", "run", "--policy", "both", "--max-bytes", "2M"]
QUERY_SOME = ["--mode", "query", "--policy", "both", "--op", "add", "--op", "softmax",
              "--op", "mm"]


@pytest.fixture(scope="module")
def oomless():
    path = os.environ.get("OOMLESS_BIN")
    if not path:
        pytest.skip("OOMLESS_BIN is not set (path of the oomless CLI)")
    return os.path.abspath(path)


def sweep(oomless, out, *args, check=True, env=None, timeout=300):
    e = dict(os.environ, CI="true")
    e.update(env or {})
    p = subprocess.run([oomless, "sweep", "--suite", SUITE, "--out", str(out), *args],
                       capture_output=True, text=True, env=e, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr + p.stdout
    return p


def cli(oomless, *args, check=True):
    p = subprocess.run([oomless, *args], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, CI="true"))
    if check:
        assert p.returncode == 0, p.stderr + p.stdout
    return p


def cases(out):
    with open(os.path.join(str(out), "results.json"), encoding="utf-8") as f:
        return json.load(f)["cases"]


def comparable(rows):
    """Cases without what differs between two runs (time, clock, checkout)."""
    return [{k: v for k, v in c.items() if k not in ("seconds", "timestamp", "git_revision")}
            for c in rows]


def store_rows(db, run=None):
    con = sqlite3.connect(str(db))
    try:
        if run is None:
            run = con.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        return con.execute("SELECT name, policy, status, tt_status, error_signature, message, "
                           "record FROM test_cases WHERE run_id = ? ORDER BY ord",
                           (run,)).fetchall()
    finally:
        con.close()


def recorded_count(db):
    """Cases with an outcome in a store a sweep may still be creating (0 until it exists)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT COUNT(*) FROM test_cases WHERE status <> 'NOT_RUN'"
                               ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sweep_worker_pids(oomless, kind):
    """PIDs of this binary's `oomless sweep-worker` / `sweep-batch` processes, with their parents."""
    out = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(d + "/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if len(argv) > 1 and argv[0].decode() == oomless and argv[1].decode() == kind:
            out[int(d[6:])] = ppid
    return out


# --- the local engine: isolation, store, resume, merge, report -----------------------------

@pytest.fixture(scope="module")
def local_query(oomless, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-query")
    sweep(oomless, out, "--mode", "query", "--policy", "both")
    return out


@pytest.fixture(scope="module")
def local_run(oomless, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-run")
    sweep(oomless, out, *RUN_SUBSET, "--jobs", "0")
    return out


def test_local_workers_match_in_process(oomless, local_run, tmp_path):
    # 0: in this process; 2: two worker processes, each case in one of them.
    sweep(oomless, tmp_path, *RUN_SUBSET, "--jobs", "2")
    assert comparable(cases(tmp_path)) == comparable(cases(local_run))
    assert len(cases(tmp_path)) >= 90


def test_crash_and_hang_become_fail_crash_hang(oomless, tmp_path):
    fault = "add/1=crash,add/2@auto=hang,add/3=sleep:0.3"
    p = sweep(oomless, tmp_path, "--op", "add", "--policy", "both", "--jobs", "2",
              "--case-timeout", "2", env={"OOMLESS_SWEEP_FAULT": fault})
    got = {(c["id"], c["policy"]): c for c in cases(tmp_path)}
    assert len(got) == 80
    for pol in ("strict", "auto"):
        c = got[("add/1", pol)]
        assert c["status"] == "FAIL_CRASH_HANG"
        assert "crashed its worker process (killed by signal 6 (Aborted))" in c["message"]
        assert c["message"].endswith(f"it printed:\nfault injected into add/1 ({pol}): crash")
    hang = got[("add/2", "auto")]
    assert hang["status"] == "FAIL_CRASH_HANG"
    assert "did not finish within --case-timeout 2 s" in hang["message"]
    assert got[("add/2", "strict")]["status"] == "FAIL_L1_OUT_OF_MEM"
    assert got[("add/3", "auto")]["status"] == "PASS"  # slow, not hung
    assert "FAIL_CRASH_HANG             1" in p.stdout  # strict: 1, auto: 2
    summary = (tmp_path / "summary.txt").read_text()
    assert "FAIL_CRASH_HANG" in summary
    # The store has tt-metal's names and signatures.
    rows = {(r[0], r[1]): r for r in store_rows(tmp_path / "results.db")}
    assert rows[("add/1", "strict")][2:4] == ("FAIL_CRASH_HANG", "FAIL_CRASH_HANG")
    assert rows[("add/1", "strict")][4] == "the case crashed its worker process (killed by " \
        "signal 6 (Aborted)); it printed:"
    assert not sweep_worker_pids(oomless, "sweep-worker")  # none left behind


def test_store_holds_the_sweep(oomless, local_query):
    db = local_query / "results.db"
    con = sqlite3.connect(str(db))
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        run = con.execute("SELECT id, status, suite, policy, mode, engine, workers, "
                          "start_time_ts, end_time_ts, run_vector, git_commit_hash FROM runs "
                          "ORDER BY id DESC").fetchone()
        assert run[1:7] == ("failure", "seed", "strict,auto", "query", "local", 1)
        assert run[7] and run[8] and json.loads(run[9])["suite"] == "seed"
        n, statuses = con.execute("SELECT COUNT(*), COUNT(DISTINCT status) FROM test_cases "
                                  "WHERE run_id = ?", (run[0],)).fetchone()
        assert n == 2 * 1779
        # Finer statuses mapped to tt-metal's: a CB clash is its FAIL_ASSERT_EXCEPTION.
        pairs = set(con.execute("SELECT status, tt_status FROM test_cases"))
        assert ("FAIL_CB_OUT_OF_MEM", "FAIL_ASSERT_EXCEPTION") in pairs
        assert ("FAIL_L1_OUT_OF_MEM", "FAIL_L1_OUT_OF_MEM") in pairs
        vec = json.loads(con.execute("SELECT test_vector FROM test_cases WHERE name = 'add/0' "
                                     "AND policy = 'strict'").fetchone()[0])
        assert vec["shapes"] == [[1, 2176, 3840, 3]] * 2 and vec["memory"] == "l1"
    finally:
        con.close()
    # The reports were written from the store: results.json equals its records.
    assert [json.loads(r[6]) for r in store_rows(db)] == cases(local_query)


def test_report_rebuilds_from_the_store(oomless, local_query, tmp_path):
    p = cli(oomless, "report", "--db", str(local_query / "results.db"), "--list")
    assert "seed query strict,auto" in p.stdout
    cli(oomless, "report", "--db", str(local_query / "results.db"), "--out", str(tmp_path))
    for name in ("results.json", "results.csv", "report.md", "summary.txt"):
        assert (tmp_path / name).read_text() == (local_query / name).read_text(), name
    p = cli(oomless, "report", "--db", str(tmp_path / "none.db"), check=False)
    assert p.returncode == 2 and "no store at" in p.stderr
    assert not (tmp_path / "none.db").exists()


def test_killed_sweep_leaves_a_consistent_store_and_resume_finishes_it(oomless, local_run,
                                                                       tmp_path):
    out = tmp_path / "r"
    db = out / "results.db"
    env = dict(os.environ, CI="true", OOMLESS_SWEEP_FAULT="mm/3@auto=sleep:30")
    proc = subprocess.Popen([oomless, "sweep", "--suite", SUITE, "--out", str(out), *RUN_SUBSET,
                             "--jobs", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: recorded_count(db) > 20, 120, "cases recorded in the store")
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Workers die with it (PR_SET_PDEATHSIG).
    wait_for(lambda: not sweep_worker_pids(oomless, "sweep-worker"), 10, "workers to die")
    rows = store_rows(db)
    total = len(cases(local_run))
    keys = [(r[0], r[1]) for r in rows]
    assert len(keys) == len(set(keys)) == total  # every case once
    done = [r for r in rows if r[2] != "NOT_RUN"]
    assert 0 < len(done) < total
    con = sqlite3.connect(str(db))
    assert con.execute("SELECT status, end_time_ts FROM runs").fetchall() == [("running", None)]
    con.close()
    # No report was written, and none half: no temporary files either.
    assert set(os.listdir(out)) <= {"results.db", "results.db-shm", "results.db-wal"}

    p = sweep(oomless, out, *RUN_SUBSET, "--jobs", "2", "--resume")
    assert f"{len(done)} cases were already recorded" in p.stdout
    assert comparable(cases(out)) == comparable(cases(local_run))
    con = sqlite3.connect(str(db))
    assert con.execute("SELECT COUNT(*), MIN(status) FROM runs").fetchone() == (1, "success")
    con.close()
    # Resuming a finished run runs nothing.
    p = sweep(oomless, out, *RUN_SUBSET, "--resume")
    assert f"{total} cases were already recorded, 0 ran now" in p.stdout


def test_interrupted_sweep_is_cancelled_and_resumable(oomless, tmp_path):
    out = tmp_path / "r"
    env = dict(os.environ, CI="true", OOMLESS_SWEEP_FAULT="add/20=hang")
    proc = subprocess.Popen([oomless, "sweep", "--suite", SUITE, "--out", str(out), "--op", "add"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        db = out / "results.db"
        wait_for(lambda: recorded_count(db) >= 20, 60, "the cases before the hang")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted: 20 of 40 cases recorded" in stderr and "--resume" in stderr
    con = sqlite3.connect(str(out / "results.db"))
    assert con.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    con.close()
    assert not (out / "results.json").exists()
    p = sweep(oomless, out, "--op", "add", "--resume")
    assert "20 cases were already recorded, 20 ran now" in p.stdout
    assert len(cases(out)) == 40 and all(c["status"] != "NOT_RUN" for c in cases(out))


def test_shard_stores_merge_to_the_whole_sweep(oomless, tmp_path):
    sweep(oomless, tmp_path / "all", *QUERY_SOME)
    for i in range(3):
        sweep(oomless, tmp_path / f"s{i}", *QUERY_SOME, "--shard", f"{i}/3",
              "--db", str(tmp_path / f"shard-{i}.db"))
    shard_dbs = [str(tmp_path / f"shard-{i}.db") for i in range(3)]
    p = cli(oomless, "merge", *shard_dbs, "--out", str(tmp_path / "merged"))
    assert "merged 3 runs from 3 inputs (3 new to" in p.stdout
    whole = cases(tmp_path / "all")
    assert comparable(cases(tmp_path / "merged")) == comparable(whole)
    # Merging again copies nothing twice; the merged store holds the three runs.
    p = cli(oomless, "merge", *shard_dbs, "--out", str(tmp_path / "merged"))
    assert "(0 new to" in p.stdout
    con = sqlite3.connect(str(tmp_path / "merged" / "results.db"))
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3
    assert con.execute("SELECT COUNT(*) FROM test_cases").fetchone()[0] == len(whole)
    con.close()
    # The merged store alone rebuilds the same reports.
    cli(oomless, "merge", str(tmp_path / "merged" / "results.db"), "--out",
        str(tmp_path / "again"), "--db", str(tmp_path / "again.db"))
    assert comparable(cases(tmp_path / "again")) == comparable(whole)


def test_bad_db_is_an_error_and_writes_nothing(oomless, tmp_path):
    for db, says in (("mysql://x/y", "unsupported --db"),
                     ("postgresql://nobody@127.0.0.1:1/x?connect_timeout=3",
                      "cannot connect to PostgreSQL store"),
                     ("/proc/no/such/dir/results.db", "SQLite store")):
        out = tmp_path / "o"
        p = sweep(oomless, out, "--op", "relu", "--db", db, check=False)
        assert p.returncode == 2, (db, p.stderr)
        assert p.stderr.startswith("error: [store]") and says in p.stderr, p.stderr
        assert not out.exists() or not os.listdir(out), os.listdir(out)
    # A store file that is not a database.
    bad = tmp_path / "not.db"
    bad.write_text("hello " * 1000)
    p = sweep(oomless, tmp_path / "o2", "--op", "relu", "--db", str(bad), check=False)
    assert p.returncode == 2 and "SQLite store" in p.stderr


# --- Slurm -----------------------------------------------------------------------------------

def slurm(*args, env):
    e = dict(os.environ, CI="true")
    e.update(env)
    return subprocess.run(["bash", SLURM, *args], capture_output=True, text=True, env=e,
                          timeout=300)


def test_slurm_array_task_to_shard(tmp_path):
    # Arrays may start anywhere: --array=0-3 and --array=1-4 give shards 0/4..3/4.
    for first in (0, 1, 7):
        got = []
        for task in range(first, first + 4):
            p = slurm("shard", "--op", "add", env={
                "OOMLESS_DRY_RUN": "1", "SLURM_ARRAY_TASK_ID": str(task),
                "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_MAX": str(first + 3),
                "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_JOB_ID": "4242",
                "OOMLESS_RESULTS": str(tmp_path)})
            assert p.returncode == 0, p.stderr
            argv = p.stdout.split()
            got.append(argv[argv.index("--shard") + 1])
            assert argv[argv.index("--label") + 1] == "4242"
            assert argv[argv.index("--db") + 1] == f"{tmp_path}/shards/shard-{task - first}.db"
        assert got == ["0/4", "1/4", "2/4", "3/4"]
    # A stepped array would leave cases out; outside a task it is an error.
    p = slurm("shard", env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0",
                            "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "4",
                            "SLURM_ARRAY_TASK_STEP": "2"})
    assert p.returncode == 2 and "contiguous" in p.stderr
    p = slurm("shard", env={"SLURM_ARRAY_TASK_ID": ""})
    assert p.returncode == 2 and "not in a Slurm array task" in p.stderr


def test_slurm_submit_and_merge(oomless, tmp_path):
    # A stand-in sbatch records its arguments and answers a job id.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(
        "#!/bin/sh\necho \"$@\" >> \"$SBATCH_LOG\"\necho '4242;cluster'\n")
    (bindir / "sbatch").chmod(0o755)
    log = tmp_path / "sbatch.log"
    p = slurm("submit", "3", "--op", "add", env={
        "PATH": f"{bindir}:{os.environ['PATH']}", "SBATCH_LOG": str(log)})
    assert p.returncode == 0, p.stderr
    array, merge = log.read_text().splitlines()
    assert array.startswith("--parsable --array=0-2 ") and array.endswith("shard --op add")
    assert "--dependency=afterany:4242" in merge and "OOMLESS_LABEL=4242" in merge
    assert merge.endswith(" merge")
    # The array's three tasks for real (per-shard SQLite files), then the merge job.
    results = tmp_path / "results"
    common = {"OOMLESS_BIN": oomless, "OOMLESS_RESULTS": str(results)}
    for task in (1, 2, 3):  # --array=1-3
        p = slurm("shard", *QUERY_SOME, env=dict(common, SLURM_ARRAY_TASK_ID=str(task),
                                                 SLURM_ARRAY_TASK_MIN="1",
                                                 SLURM_ARRAY_TASK_MAX="3",
                                                 SLURM_ARRAY_TASK_COUNT="3",
                                                 SLURM_ARRAY_JOB_ID="4242"))
        assert p.returncode == 0, p.stderr
    p = slurm("merge", env=dict(common, OOMLESS_LABEL="4242"))
    assert p.returncode == 0, p.stderr
    sweep(oomless, tmp_path / "all", *QUERY_SOME)
    merged = cases(results)
    assert comparable(merged) == comparable(cases(tmp_path / "all"))
    assert json.load(open(results / "results.json"))["meta"]["shards"] == ["0/3", "1/3", "2/3"]


# --- Dask --------------------------------------------------------------------------------------

class DaskCluster:
    """A scheduler and workers on 127.0.0.1, each a process we started and stop by PID."""

    def __init__(self, root):
        self.root = root
        self.file = os.path.join(root, "scheduler.json")
        self.procs = []
        self.workers = []
        self.env = dict(os.environ)
        self.scheduler = self._start(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", self.file],
                                     "scheduler.log")
        wait_for(lambda: os.path.exists(self.file) and os.path.getsize(self.file) > 0, 60,
                 "the Dask scheduler")
        with open(self.file, encoding="utf-8") as f:
            self.address = json.load(f)["address"]

    def _start(self, argv, log):
        with open(os.path.join(self.root, log), "w") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(p)
        return p

    def add_worker(self):
        n = len(self.workers)
        log = f"worker{n}.log"
        # One thread and one OpenMP thread each: two workers share the two cores.
        self.env = dict(self.env, OMP_NUM_THREADS="1")
        p = self._start(["dask", "worker", "--scheduler-file", self.file, "--host", "127.0.0.1",
                         "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{n}",
                         "--local-directory", os.path.join(self.root, f"w{n}")], log)
        self.workers.append(p)
        path = os.path.join(self.root, log)
        wait_for(lambda: "Registered to" in open(path).read(), 60, f"Dask worker {n}")
        return p

    def alive_workers(self):
        return [w for w in self.workers if w.poll() is None]

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster():
    if shutil.which("dask") is None:
        pytest.skip("Dask distributed is not installed (apt-get install python3-distributed)")
    root = tempfile.mkdtemp(prefix="oomless-dask-")
    c = DaskCluster(root)
    try:
        c.add_worker()
        c.add_worker()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def dask_sweep(oomless, out, cluster, *args, **kw):
    return sweep(oomless, out, "--engine", "dask", "--scheduler", cluster.address, *args, **kw)


def test_dask_equals_local_on_the_seed_suite(oomless, dask_cluster, local_query, tmp_path):
    p = dask_sweep(oomless, tmp_path, dask_cluster, "--mode", "query", "--policy", "both")
    assert comparable(cases(tmp_path)) == comparable(cases(local_query))
    assert "(dask on 2 workers)" in p.stdout
    strip = lambda t: t.split("\n", 5)[-1]  # noqa: E731  (header lines name time and git)
    assert strip((tmp_path / "summary.txt").read_text()) == \
        strip((local_query / "summary.txt").read_text())


def test_dask_run_mode_on_1_and_2_workers(oomless, dask_cluster, local_run, tmp_path):
    one = dask_sweep(oomless, tmp_path / "one", dask_cluster, *RUN_SUBSET, "--dask-workers", "1",
                     "--db", str(tmp_path / "t.db"))
    two = dask_sweep(oomless, tmp_path / "two", dask_cluster, *RUN_SUBSET,
                     "--db", str(tmp_path / "t.db"))
    for out in ("one", "two"):
        assert comparable(cases(tmp_path / out)) == comparable(cases(local_run)), out
    assert "(dask on 1 worker)" in one.stdout
    # The summary puts the wall time on 2 workers next to the run on 1.
    line = next(x for x in two.stdout.splitlines() if x.startswith("wall time"))
    vs = next(x for x in two.stdout.splitlines() if "vs run 1 of the same sweep" in x)
    assert "(dask on 2 workers)" in line and "(dask on 1 worker)" in vs
    print(line, vs, sep="\n")


def test_dask_errors_are_clear(oomless, dask_cluster, tmp_path):
    port = free_port()
    out = tmp_path / "o"
    p = sweep(oomless, out, "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}",
              "--op", "relu", check=False)
    assert p.returncode == 2, p.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in p.stderr
    assert not out.exists()  # nothing written, not even a store
    for args, says in ((["--engine", "dask"], "needs --scheduler"),
                       (["--engine", "dask", "--scheduler-file", str(tmp_path / "none.json")],
                        "does not exist"),
                       (["--scheduler", dask_cluster.address], "go with --engine dask"),
                       (["--engine", "spark"], "unknown --engine")):
        p = sweep(oomless, out, "--op", "relu", *args, check=False)
        assert p.returncode == 2 and says in p.stderr, (args, p.stderr)
        assert not out.exists()


def test_dask_worker_killed_mid_sweep_loses_nothing(oomless, dask_cluster, local_run, tmp_path):
    # Must run last among the Dask tests: it kills a worker (and starts another).
    assert len(dask_cluster.alive_workers()) == 2
    worker_pids = {w.pid for w in dask_cluster.alive_workers()}
    out = tmp_path / "k"
    env = dict(os.environ, CI="true",
               # Two slow cases keep a batch busy long enough to be caught in flight.
               OOMLESS_SWEEP_FAULT="relu/0@auto=sleep:1,mm/3@strict=sleep:1")
    proc = subprocess.Popen([oomless, "sweep", "--suite", SUITE, "--out", str(out),
                             "--engine", "dask", "--scheduler", dask_cluster.address,
                             *RUN_SUBSET], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        def busy_worker():
            nonlocal victim
            for pid, ppid in sweep_worker_pids(oomless, "sweep-batch").items():
                if ppid in worker_pids:
                    victim = ppid
                    return True
            return False
        wait_for(busy_worker, 120, "a Dask worker running a batch")
        os.kill(victim, signal.SIGKILL)  # the worker dies with a batch in its hands
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr + stdout
    got = cases(out)
    keys = [(c["id"], c["policy"]) for c in got]
    assert len(keys) == len(set(keys)) == len(cases(local_run))  # none lost or doubled
    assert comparable(got) == comparable(cases(local_run))
    rows = store_rows(out / "results.db")
    assert len(rows) == len(got) and all(r[2] != "NOT_RUN" for r in rows)
    assert len(dask_cluster.alive_workers()) == 1
    dask_cluster.add_worker()


# --- PostgreSQL ----------------------------------------------------------------------------

class PgCluster:
    """A throwaway cluster: initdb and pg_ctl as the postgres user, on a loopback port."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        if os.geteuid() != 0:
            pytest.skip("starting a PostgreSQL cluster as the postgres user needs root")
        self.dir = tempfile.mkdtemp(prefix="oomless-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.as_postgres([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--no-sync"])
        self.as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-l",
                          os.path.join(self.dir, "log"), "-w", "-t", "60", "-o",
                          f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                          "-c fsync=off", "start"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def as_postgres(self, argv):
        p = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                           text=True, timeout=120, cwd=self.dir)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    def psql(self, sql):
        return self.as_postgres([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-U", "postgres", "-At", "-c", sql]).strip()

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", self.data,
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    c = PgCluster()
    try:
        yield c
    finally:
        c.stop()


def test_postgres_store_equals_sqlite(oomless, postgres, local_query, tmp_path):
    sweep(oomless, tmp_path / "pg", "--mode", "query", "--policy", "both", "--db", postgres.url)
    assert comparable(cases(tmp_path / "pg")) == comparable(cases(local_query))
    run = postgres.psql("SELECT MAX(id) FROM runs")
    assert postgres.psql(f"SELECT COUNT(*) FROM test_cases WHERE run_id = {run}") == "3558"
    assert postgres.psql("SELECT DISTINCT tt_status FROM test_cases WHERE status = "
                         "'FAIL_CB_OUT_OF_MEM'") == "FAIL_ASSERT_EXCEPTION"
    assert postgres.psql("SELECT test_vector->>'op' FROM test_cases WHERE name = 'add/0' "
                         "LIMIT 1") == "add"
    assert postgres.psql(f"SELECT status FROM runs WHERE id = {run}") == "failure"
    # The reports rebuilt from PostgreSQL are the ones the sweep wrote.
    cli(oomless, "report", "--db", postgres.url, "--out", str(tmp_path / "rebuilt"))
    for name in ("results.json", "results.csv", "summary.txt", "report.md", "report.html"):
        assert (tmp_path / "rebuilt" / name).read_text() == \
            (tmp_path / "pg" / name).read_text(), name


def test_postgres_shards_merge(oomless, postgres, tmp_path):
    # Slurm's first recipe: every shard writes to one PostgreSQL; the merge job
    # takes the runs labelled with the array's job id.
    for i in range(2):
        sweep(oomless, tmp_path / f"s{i}", *QUERY_SOME, "--shard", f"{i}/2", "--db", postgres.url,
              "--label", "job-77")
    sweep(oomless, tmp_path / "other", "--op", "relu", "--db", postgres.url)  # not part of it
    cli(oomless, "merge", postgres.url, "--db", postgres.url, "--label", "job-77", "--out",
        str(tmp_path / "merged"))
    sweep(oomless, tmp_path / "all", *QUERY_SOME)
    assert comparable(cases(tmp_path / "merged")) == comparable(cases(tmp_path / "all"))
    # Into a SQLite file too: the runs keep their identity.
    p = cli(oomless, "merge", postgres.url, "--label", "job-77", "--out", str(tmp_path / "m2"))
    assert "merged 2 runs from 1 inputs (2 new to" in p.stdout


def test_postgres_dask_sweep(oomless, postgres, dask_cluster, tmp_path):
    dask_sweep(oomless, tmp_path / "d", dask_cluster, *QUERY_SOME, "--db", postgres.url)
    sweep(oomless, tmp_path / "l", *QUERY_SOME)
    assert comparable(cases(tmp_path / "d")) == comparable(cases(tmp_path / "l"))
