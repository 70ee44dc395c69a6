#!/usr/bin/python3
"""The Dask engine of ``oomless sweep --engine dask``: a Dask client between
the sweep (which starts this script and talks JSON lines with it) and a Dask
distributed scheduler.

Protocol. Once connected this prints ``{"event": "ready", "workers": N}`` (or
``{"event": "error", "message": ...}`` and exits 2). It then reads a setup
line and one line per batch (``{"batch": i, "items": [...]}``) until EOF,
submits every batch as a task, and prints one line per finished batch:
``{"event": "batch", "batch": i, "worker": ADDRESS, "seconds": S, "results":
[...]}``, or ``{"event": "lost", ...}`` for a batch whose workers kept dying,
then ``{"event": "done"}``.

A task runs ``oomless sweep-batch`` on its worker: every case in a process of
its own, with the case timeout. When a worker dies, the scheduler gives its
task to another worker; only a batch that killed several workers is lost.

Run as a script (not imported): the task function is then sent to the
workers by value, so they need only distributed and the oomless binary.
"""
import argparse
import json
import logging
import socket
import sys
import uuid
import warnings


def run_batch(binary, setup_line, item_lines, case_timeout):
    """On a Dask worker: one batch through ``oomless sweep-batch``."""
    import subprocess
    import time

    from distributed import get_worker

    t0 = time.time()
    text = setup_line + "\n" + "".join(line + "\n" for line in item_lines)
    p = subprocess.run([binary, "sweep-batch", "--case-timeout", str(case_timeout)],
                       input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{binary} sweep-batch exited with status {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')[-2000:]}")
    try:
        worker = get_worker().address
    except ValueError:
        worker = "?"
    lines = [line for line in p.stdout.decode().splitlines() if line.strip()]
    return worker, time.time() - t0, lines


def emit(obj_or_text):
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(message, code=2):
    emit({"event": "error", "message": message})
    sys.exit(code)


def probe(address, timeout):
    """Fails at once with a clear message when nothing listens at a tcp:// address
    (the Dask client would retry until its timeout)."""
    if not address.startswith("tcp://"):
        return
    hostport = address[len("tcp://"):]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        fail(f"'{address}' is not a scheduler address like tcp://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10)).close()
    except OSError as e:
        fail(f"cannot reach the Dask scheduler at {address}: {e.strerror or e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scheduler", help="tcp://HOST:PORT")
    ap.add_argument("--scheduler-file", help="the JSON file `dask scheduler --scheduler-file` writes")
    ap.add_argument("--binary", required=True, help="the oomless program on the workers")
    ap.add_argument("--case-timeout", type=float, default=600)
    ap.add_argument("--connect-timeout", type=float, default=30)
    ap.add_argument("--max-workers", type=int, default=0,
                    help="use at most this many of the scheduler's workers (0: all)")
    a = ap.parse_args()
    try:
        import distributed
        from distributed import Client, as_completed
    except ImportError as e:
        fail(f"Dask distributed is not installed for {sys.executable} ({e}); "
             "apt-get install python3-distributed")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    # A query-mode batch is a MB of JSON: fine to send with its task.
    warnings.filterwarnings("ignore", message="Large object of size")

    if a.scheduler:
        probe(a.scheduler, a.connect_timeout)
    try:
        if a.scheduler:
            client = Client(a.scheduler, timeout=a.connect_timeout, set_as_default=False)
        else:
            client = Client(scheduler_file=a.scheduler_file, timeout=a.connect_timeout,
                            set_as_default=False)
    except (OSError, ValueError, TimeoutError) as e:
        fail(f"cannot connect to the Dask scheduler: {e}")
    try:
        client.wait_for_workers(1, timeout=a.connect_timeout)
    except (TimeoutError, OSError) as e:
        fail(f"no Dask worker joined the scheduler within {a.connect_timeout:g} s ({e})")
    total = len(client.scheduler_info()["workers"])
    # --max-workers N keeps at most N batches in flight: N workers' worth of the
    # cluster, whichever workers are alive (no placement to outlive).
    width = min(a.max_workers, total) if a.max_workers > 0 else total
    emit({"event": "ready", "workers": width, "cluster_workers": total,
          "distributed": distributed.__version__})

    setup_line = sys.stdin.readline().strip()
    batches = []
    for line in sys.stdin:
        if line.strip():
            b = json.loads(line)
            batches.append((b["batch"], [json.dumps(item) for item in b["items"]]))
    token = uuid.uuid4().hex[:12]
    index = {}
    queue = list(batches)

    def submit():
        i, items = queue.pop(0)
        # Earlier batches first, so results arrive in about suite order.
        f = client.submit(run_batch, a.binary, setup_line, items, a.case_timeout,
                          key=f"oomless-sweep-{token}-{i}", priority=-i, pure=False)
        index[f.key] = i
        return f

    first = [submit() for _ in range(min(len(queue), a.max_workers if a.max_workers > 0
                                         else len(queue)))]
    done = as_completed(first, loop=client.loop)
    for f in done:
        i = index[f.key]
        if queue:
            done.add(submit())
        if f.status == "finished":
            worker, seconds, lines = f.result()
            emit('{"event": "batch", "batch": %d, "worker": %s, "seconds": %.6f, "results": [%s]}'
                 % (i, json.dumps(worker), seconds, ",".join(lines)))
            f.release()
            continue
        if f.status == "cancelled":
            fail("the Dask scheduler cancelled the sweep's tasks (did it stop?)", 1)
        exc = f.exception()
        if type(exc).__name__ == "KilledWorker":
            emit({"event": "lost", "batch": i,
                  "message": f"the Dask workers running this case's batch kept dying ({exc})"})
        else:
            fail(f"a batch failed on its Dask worker: {type(exc).__name__}: {exc}", 1)
        f.release()
    emit({"event": "done"})
    client.close()


if __name__ == "__main__":
    main()
