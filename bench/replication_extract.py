"""Benchmark: extraction of a multi-volume 7z template, ours (py7zr + SHA-256) vs ``7z x``, same volumes.

``python bench/replication_extract.py [--size-mib 256] [--volume-mib 50] [--runs 3] [--short]``

An image (a third random, a third zeros, a third repetitive text) is archived with ``7z a -v<N>m``
in two ways (store ``-mx0`` and LZMA2 ``-mx1``), then each archive is extracted by ``7z x`` and by
:func:`meca.mgtr.extract.extract_image`, each in a child process whose peak RSS is read with
GNU ``time`` (Debian package ``time``). Prints the median wall time, the MB/s, the speed ratio
(ours / 7z; the target is >= 0.8) and the peak RSS. ``--short`` (CI) uses a small image and fails
only on a gross regression (in-process ratio below 0.1, or a wrong SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
MODES = {"store (-mx0)": "-mx0", "LZMA2 (-mx1)": "-mx1"}
GROSS_RATIO = 0.1
GNU_TIME = "/usr/bin/time"
CHILD = """
import sys
from pathlib import Path
sys.path[:0] = [{plugins!r}, {repo!r}]
from meca.mgtr.extract import extract_image
image = extract_image(sorted(Path({volumes!r}).iterdir()), Path({dest!r}), margin_bytes=0)
print(image.sha256, image.seconds)
"""


def make_image(path: Path, size: int) -> str:
    """Write the image in 8 MiB pieces (so this process stays small) and return its SHA-256."""
    third = size // 3
    digest = hashlib.sha256()
    line = b"MECA mClouds template image line: lorem ipsum dolor sit amet 0123456789\n"
    text = (line * (8 * MIB // len(line) + 1))[: 8 * MIB]
    pieces = {"random": third, "zeros": third, "text": size - 2 * third}
    with path.open("wb") as handle:
        for kind, length in pieces.items():
            for start in range(0, length, 8 * MIB):
                count = min(8 * MIB, length - start)
                piece = (
                    os.urandom(count)
                    if kind == "random"
                    else bytes(count)
                    if kind == "zeros"
                    else text[:count]
                )
                handle.write(piece)
                digest.update(piece)
    return digest.hexdigest()


def run_child(command: list[str]) -> tuple[float, int, str]:
    """Run a child under GNU time; return its wall time, its peak RSS in bytes (0 when GNU time is
    missing) and its stdout. GNU time is a small C program, so the figure is the child's own RSS,
    not this Python process's inherited through fork."""
    measured = [GNU_TIME, "-f", "%M", *command] if Path(GNU_TIME).exists() else command
    started = time.perf_counter()
    done = subprocess.run(measured, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_kib = int(done.stderr.strip().splitlines()[-1]) if measured is not command else 0
    return seconds, peak_kib * 1024, done.stdout


def bench_mode(
    work: Path, image: Path, sha256: str, switch: str, volume_mib: int, runs: int
) -> dict[str, float]:
    archive_dir = work / f"volumes{switch}"
    archive_dir.mkdir()
    subprocess.run(
        ["7z", "a", "-bd", "-y", switch, f"-v{volume_mib}m", str(archive_dir / "image.7z"), str(image)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    volumes = sorted(archive_dir.iterdir())
    results: dict[str, list[tuple[float, int]]] = {"7z": [], "ours": [], "ours_in_process": []}
    for _ in range(runs):
        dest = work / "out-7z"
        seconds, rss, _ = run_child(["7z", "x", "-bd", "-y", f"-o{dest}", str(volumes[0])])
        results["7z"].append((seconds, rss))
        shutil.rmtree(dest)
        dest = work / "out-ours"
        code = CHILD.format(
            plugins=str(REPO / "plugins"), repo=str(REPO), volumes=str(archive_dir), dest=str(dest)
        )
        seconds, rss, out = run_child([sys.executable, "-c", code])
        digest, inner = out.split()
        if digest != sha256:
            raise SystemExit(f"wrong SHA-256 from our extraction: {digest} != {sha256}")
        results["ours"].append((seconds, rss))
        results["ours_in_process"].append((float(inner), 0))
        shutil.rmtree(dest)
    size = image.stat().st_size
    seven = statistics.median(s for s, _ in results["7z"])
    ours = statistics.median(s for s, _ in results["ours"])
    inner = statistics.median(s for s, _ in results["ours_in_process"])
    return {
        "volumes": len(volumes),
        "7z_s": seven,
        "ours_s": ours,
        "7z_mb_s": size / seven / 1e6,
        "ours_mb_s": size / ours / 1e6,
        "ratio": seven / ours,
        "ratio_in_process": seven / inner,
        "7z_rss_mib": max(r for _, r in results["7z"]) / MIB,
        "ours_rss_mib": max(r for _, r in results["ours"]) / MIB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--volume-mib", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--short", action="store_true", help="small image, one run; fail only on gross regressions"
    )
    args = parser.parse_args(argv)
    if shutil.which("7z") is None:
        print("7z is not installed (Debian package p7zip-full): nothing to compare with", file=sys.stderr)
        return 2
    size_mib, volume_mib, runs = (24, 8, 1) if args.short else (args.size_mib, args.volume_mib, args.runs)
    with tempfile.TemporaryDirectory(prefix="meca-bench-extract-") as tmp:
        work = Path(tmp)
        image = work / "image.qcow2"
        sha256 = make_image(image, size_mib * MIB)
        print(f"image {size_mib} MiB, volumes of {volume_mib} MiB, median of {runs} run(s)")
        print(
            f"{'archive':<14} {'vols':>4} {'7z x s':>7} {'ours s':>7} {'7z MB/s':>8} {'ours MB/s':>9} "
            f"{'ratio':>6} {'ratio*':>6} {'7z RSS':>8} {'our RSS':>8}"
        )
        worst = float("inf")
        for label, switch in MODES.items():
            r = bench_mode(work, image, sha256, switch, volume_mib, runs)
            worst = min(worst, r["ratio_in_process"] if args.short else r["ratio"])
            print(
                f"{label:<14} {r['volumes']:>4} {r['7z_s']:>7.2f} {r['ours_s']:>7.2f} {r['7z_mb_s']:>8.0f} "
                f"{r['ours_mb_s']:>9.0f} {r['ratio']:>6.2f} {r['ratio_in_process']:>6.2f} "
                f"{r['7z_rss_mib']:>6.0f}Mi {r['ours_rss_mib']:>6.0f}Mi"
            )
    target = GROSS_RATIO if args.short else 0.8
    verdict = "ok" if worst >= target else "BELOW TARGET"
    print("ratio = 7z wall / our wall, both whole processes; ratio* = without Python start-up and imports")
    print(f"worst speed ratio (ours / 7z x): {worst:.2f}; target >= {target}: {verdict}")
    return 0 if worst >= target or not args.short else 1


if __name__ == "__main__":
    sys.exit(main())
