#!/usr/bin/env python3
"""jobwrap's benchmarks: what its safety costs over the bare minimum.

Each figure is measured side by side with its baseline (A and B in turn, so a drifting
machine affects both) and printed as a ratio of medians. `--quick` runs one small
iteration of each, so the suite cannot rot; the full run is what docs/benchmarks.md
quotes. Needs `scripts/setup` (Docker, pack, the offline builder) to have run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "target/release/jobwrap-runner"
JOBWRAP = ROOT / "target/release/jobwrap"
PYTHON = shutil.which("python3")
# The baseline gets what the runner gives the job: a cleared environment (no inherited
# PYTHONDONTWRITEBYTECODE or the like to tilt the comparison).
CLEAN_ENV = {"PATH": os.environ["PATH"]}
CLUSTER_KUBECONFIG = "/var/lib/jobwrap-cluster/admin.kubeconfig"
CLUSTER_REGISTRY = "127.0.0.1:5000"
HARDENING = [
    "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=256m",
    "--shm-size", "16m", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    "--pids-limit", "256", "--memory", "1g", "--memory-swap", "1g", "--cpus", "1",
]


def real_python():
    return subprocess.run([PYTHON, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True).stdout.strip()


def run(command, env=None, cwd=None):
    """Wall seconds of one run; fails loudly when the command fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return elapsed


def side_by_side(a, b, runs):
    """Runs a and b in turn; returns (median a, median b, median of the ratios a/b)."""
    a_times, b_times = [], []
    for _ in range(runs):
        a_times.append(a())
        b_times.append(b())
    ratios = [x / y for x, y in zip(a_times, b_times)]
    return statistics.median(a_times), statistics.median(b_times), statistics.median(ratios)


def line(name, a, b, ratio, target):
    verdict = "" if target is None else ("  (target ≤ %.2f: %s)" % (target, "met" if ratio <= target else "MISSED"))
    print(f"{name:<44} {a * 1000:9.1f} ms  vs {b * 1000:9.1f} ms   ratio {ratio:5.2f}{verdict}", flush=True)


def runner_env(app, inputs, output, python):
    """The runner as an image runs it: with its shim installed (compiled) beside it."""
    shim = inputs.parent / "shim"
    if not shim.exists():
        subprocess.run([RUNNER, "--install-shim", shim], env={"PATH": os.environ["PATH"], "JOBWRAP_PYTHON": python}, check=True, capture_output=True)
    return {
        "PATH": os.environ["PATH"], "LOG_LEVEL": "ERROR", "JOBWRAP_APP_DIR": str(app),
        "JOBWRAP_INPUT_DIR": str(inputs), "JOBWRAP_OUTPUT_DIR": str(output), "JOBWRAP_PYTHON": python,
        "JOBWRAP_SHIM_DIR": str(shim),
    }


def bare_python(python, app, data, output):
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from src.program import run; "
        "data = json.load(open(sys.argv[2])); "
        "json.dump(run(data=data, params={}), open(sys.argv[3], 'w'))"
    )
    return [python, "-c", script, str(app), str(data), str(output / "bare.json")]


def wrapper_overhead(work, python, runs):
    app = ROOT / "tests/fixtures/kwargs-style"
    inputs = work / "small-input"
    (inputs / "data").mkdir(parents=True)
    (inputs / "data/data.json").write_text('{"word": "hi"}')
    output = work / "out-small"
    output.mkdir()
    env = runner_env(app, inputs, output, python)
    a, b, ratio = side_by_side(
        lambda: run([RUNNER], env=env),
        lambda: run(bare_python(python, app, inputs / "data/data.json", output), env=CLEAN_ENV),
        runs,
    )
    line("1. trivial job: runner vs bare python3", a, b, ratio, 1.05)


def peak_rss_kib(command, env):
    """Runs command; returns its own peak resident size (VmHWM), children excluded."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            for row in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if row.startswith("VmHWM:"):
                    peak = max(peak, int(row.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.005)
    return peak


def large_input(work, python, runs, megabytes):
    app = ROOT / "benches/fixtures/count-values"
    inputs = work / "large-input"
    (inputs / "data").mkdir(parents=True)
    data = inputs / "data/data.json"
    count = megabytes * 1024 * 1024 // 8
    with data.open("w") as stream:
        stream.write('{"values": [')
        stream.write(",".join(["1234567"] * count))
        stream.write("]}")
    output = work / "out-large"
    output.mkdir()
    env = runner_env(app, inputs, output, python)
    a, b, ratio = side_by_side(
        lambda: run([RUNNER], env=env),
        lambda: run(bare_python(python, app, data, output), env=CLEAN_ENV),
        runs,
    )
    size = data.stat().st_size / 1024 / 1024
    line(f"3. {size:.0f} MB data.json: runner vs json.load", a, b, ratio, 1.2)
    peak = peak_rss_kib([RUNNER], env)
    print(f"{'   runner peak RSS (its own, not Python)':<44} {peak / 1024:9.1f} MiB  (target ≤ 20 MiB: {'met' if peak <= 20 * 1024 else 'MISSED'})", flush=True)


def docker_run(image, inputs, output):
    return ["docker", "run", "--rm", *HARDENING, "-v", f"{inputs}/data:/var/input/data:ro", "-v", f"{output}:/var/runtime/output", image]


def host_overhead(work, runs, image):
    inputs = work / "exec-input"
    (inputs / "data").mkdir(parents=True)
    (inputs / "data/data.json").write_text('{"word": "hi"}')
    os.chmod(inputs, 0o755)
    os.chmod(inputs / "data", 0o755)
    output = work / "out-exec"
    output.mkdir()
    os.chmod(output, 0o777)
    a, b, ratio = side_by_side(
        lambda: run([JOBWRAP, "exec", image, "--data", inputs / "data/data.json"]),
        lambda: run(docker_run(image, inputs, output)),
        runs,
    )
    line("2. jobwrap exec vs docker run (same hardening)", a, b, ratio, 1.05)
    return inputs, output


def cluster_overhead(image, inputs, runs):
    """The same job on the CI cluster (a Job, its Secret, the pod's start, the signed
    report) against the Docker engine. Skipped when the cluster is not up."""
    env = dict(os.environ, KUBECONFIG=CLUSTER_KUBECONFIG)
    if not Path(CLUSTER_KUBECONFIG).exists() or subprocess.run(
            ["kubectl", "get", "--raw", "/readyz"], env=env, capture_output=True).returncode != 0:
        print("6. cluster: skipped (scripts/cluster up starts it)", flush=True)
        return
    remote = f"{CLUSTER_REGISTRY}/{image}"
    for command in (["docker", "tag", image, remote], ["docker", "push", remote]):
        subprocess.run(command, check=True, capture_output=True)
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobwrap-bench\n"
    subprocess.run(["kubectl", "apply", "-f", "-"], input=namespace.encode(), env=env, check=True, capture_output=True)
    data = ["--data", inputs / "data/data.json"]
    on_cluster = [JOBWRAP, "exec", remote, "--backend", "kubernetes", "--namespace", "jobwrap-bench", *data]
    run(on_cluster, env=env)  # the node pulls the image once
    a, b, ratio = side_by_side(lambda: run(on_cluster, env=env), lambda: run([JOBWRAP, "exec", image, *data]), runs)
    line("6. jobwrap exec on the cluster vs on Docker", a, b, ratio, None)
    subprocess.run(["docker", "image", "rm", remote], capture_output=True)


def builds(work, runs):
    cold_times, rebuild_times, unchanged_times, images = [], [], [], []
    for attempt in range(runs):
        project = work / f"build-{attempt}"
        shutil.copytree(ROOT / "tests/fixtures/numpy-result", project)
        (project / "nonce.txt").write_text(f"{time.time_ns()}")

        def build():
            started = time.perf_counter()
            done = subprocess.run([JOBWRAP, "build", project], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"bench: jobwrap build failed:\n{done.stderr[-2000:]}")
            images.append(done.stdout.strip())
            return time.perf_counter() - started

        cold_times.append(build())
        program = project / "src/program.py"
        program.write_text(program.read_text() + "\n# a one-line change\n")
        rebuild_times.append(build())
        unchanged_times.append(build())
    cold = statistics.median(cold_times)
    line("4. numpy sample: rebuild after one-line change vs cold", statistics.median(rebuild_times), cold,
         statistics.median([r / c for r, c in zip(rebuild_times, cold_times)]), 0.3)
    line("   unchanged project (build skipped) vs cold", statistics.median(unchanged_times), cold,
         statistics.median([u / c for u, c in zip(unchanged_times, cold_times)]), 0.05)
    for image in set(images):
        subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)


def throughput(image, inputs, output, jobs):
    def in_parallel(command):
        failures = []

        def one():
            if subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                failures.append(1)

        threads = [threading.Thread(target=one) for _ in range(jobs)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            sys.exit(f"bench: {len(failures)} of {jobs} concurrent jobs failed: {' '.join(map(str, command))}")
        return time.perf_counter() - started

    ours = in_parallel([JOBWRAP, "exec", image, "--data", inputs / "data/data.json"])
    raw = in_parallel(docker_run(image, inputs, output))
    print(f"{f'5. {jobs} concurrent jobs: jobs per minute':<44} {jobs * 60 / ours:9.1f}      vs {jobs * 60 / raw:9.1f}      ratio {ours / raw:5.2f} (time)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small iteration of each (CI smoke run)")
    parser.add_argument("--only", choices=["runner", "input", "exec", "builds", "cluster"], help="run one figure only")
    args = parser.parse_args()
    runs = 1 if args.quick else 15
    subprocess.run(["cargo", "build", "--release", "--quiet", "--locked", "-p", "jobwrap", "-p", "jobwrap-wrapper"], cwd=ROOT, check=True)
    python = real_python()
    print(f"jobwrap benchmarks ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, {python}", flush=True)
    image = "jobwrap-bench/trivial:latest"
    with tempfile.TemporaryDirectory(prefix="jobwrap-bench-") as scratch:
        work = Path(scratch)
        wanted = lambda name: args.only in (None, name)  # noqa: E731
        if wanted("runner"):
            wrapper_overhead(work, python, 3 if args.quick else 30)
        if wanted("input"):
            large_input(work, python, 1 if args.quick else 5, 10 if args.quick else 100)
        if wanted("exec") or wanted("cluster"):
            subprocess.run([JOBWRAP, "build", ROOT / "tests/fixtures/kwargs-style", "--tag", image], check=True, capture_output=True)
            try:
                inputs, output = host_overhead(work, 2 if args.quick else runs, image)
                if wanted("exec"):
                    throughput(image, inputs, output, 2 if args.quick else 8)
                if wanted("cluster"):
                    cluster_overhead(image, inputs, 1 if args.quick else 7)
            finally:
                subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)
        if wanted("builds"):
            builds(work, 1 if args.quick else 3)


if __name__ == "__main__":
    main()
