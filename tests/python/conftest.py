"""pytest setup for tests/python: the harness modules (op_cases, op_numerics)
import from this directory, and the end of a run lists the bf16 results that
only the float64 reference accepted (see op_numerics.py) so they stay visible."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_terminal_summary(terminalreporter):
    try:
        import op_numerics
    except Exception:  # torch missing: the harness was skipped
        return
    if not op_numerics.RESCUED:
        return
    tr = terminalreporter
    tr.section("bf16 results within 1 ulp of float64 but not of torch's float32")
    for what, n, total in op_numerics.RESCUED:
        tr.write_line(f"{what}: {n} of {total}")
