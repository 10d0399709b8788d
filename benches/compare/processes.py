"""Running a child process and measuring its peak memory from outside."""

import subprocess
import tempfile
import time


def vm_hwm_mib(pid):
    """The peak resident set of a live process, from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run(args, env=None):
    """Run a child; return (stdout, seconds, peak RSS in MiB) of that child alone.

    Peak memory is sampled from /proc while the child runs: getrusage's
    ru_maxrss would not do, since Linux carries the parent's high-water mark
    into a forked child across exec, and this parent holds the whole dataset.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, env=env)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, vm_hwm_mib(proc.pid) or 0.0)
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:4])}... exited with {proc.returncode}")
        out.seek(0)
        return out.read(), seconds, peak
