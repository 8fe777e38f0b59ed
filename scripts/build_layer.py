"""Build one Lambda layer's ``python/`` folder: the recipe `sam build` runs (each layer's Makefile) and
`bench/cold_start.py --built` runs again for the host's architecture.

1. ``pip install --target`` the layer's requirements as binary wheels for the runtime: CPython 3.13 on
   Amazon Linux 2023 (glibc 2.34), arm64 by default (``--arch x86_64`` for a twin on an x86_64 host);
2. ``--without REQ``: resolve REQ together with the layer's requirements, then drop every file REQ alone
   installs, so a layer stacked on another (the fetch layer on the base layer) adds only what the other
   lacks, at the same versions (a version that differs fails the build: it would shadow the other's);
3. drop the AWS SDK the runtime provides (boto3, botocore, s3transfer: a layer's copy would shadow the
   runtime's botocore while boto3 still came from the runtime) and what only it needed;
4. copy the layer's own packages (``--package``), drop dependency test folders, console scripts and any
   bytecode pip or a previous run left;
5. compile every module for Python 3.13 with *unchecked-hash* pycs: they do not depend on file timestamps
   (a zip keeps mtimes at 2 s resolution, so timestamp pycs would be stale on Lambda, and /opt is
   read-only: every cold start would compile ~1,150 modules again). Run it with python3.13.

    python3.13 scripts/build_layer.py --requirements layers/tradebot/requirements.txt \
        --package layers/tradebot/tradebot --out "$ARTIFACTS_DIR/python" [--arch arm64|x86_64]
"""

from __future__ import annotations

import argparse
import compileall
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

RUNTIME = (3, 13)
GLIBC_MINOR = (17, 34)  # manylinux 2.17 .. 2.34 (Amazon Linux 2023, the python3.13 runtime)
ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
# What Lambda's Python runtime provides: never shipped in a layer (boto3 is imported from the runtime).
RUNTIME_SDK = frozenset({"boto3", "botocore", "s3transfer"})
# Folders never imported at run time: dependency test suites, console scripts.
STRIPPED_DIRS = frozenset({"tests", "test", "__pycache__"})
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(?:\[([^\]]*)\])?")
EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


Wanted = dict[str, set[str]]  # distribution name -> the extras asked for


def parse_requirement(text: str) -> tuple[str, set[str]] | None:
    match = REQUIREMENT.match(text)
    if not match:
        return None
    extras = {canonical(e) for e in (match.group(2) or "").split(",") if e.strip()}
    return canonical(match.group(1)), extras


def requirement_names(requirements: list[Path]) -> Wanted:
    wanted: Wanted = {}
    for path in requirements:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            parsed = None if line.startswith("-") else parse_requirement(line)
            if parsed:
                wanted.setdefault(parsed[0], set()).update(parsed[1])
    return wanted


def pip_install(target: Path, requirements: list[Path], arch: str) -> None:
    machine = ARCHES[arch]
    platforms = [f"manylinux2014_{machine}"] + [
        f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR[0], GLIBC_MINOR[1] + 1)
    ]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--root-user-action=ignore"]
    command += ["--target", str(target), "--no-compile", "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", "".join(map(str, RUNTIME)), "--abi", "cp" + "".join(map(str, RUNTIME))]
    for platform in platforms:
        command += ["--platform", platform]
    for requirement in requirements:
        command += ["-r", str(requirement)]
    subprocess.run(command, check=True)  # noqa: S603 - our own pip, our own arguments


def distributions(site: Path) -> dict[str, metadata.Distribution]:
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])}


def dist_files(site: Path, dist: metadata.Distribution) -> set[Path]:
    """Every file of ``dist`` under ``site`` (its RECORD), dist-info included."""
    files = {site / str(f) for f in dist.files or []}
    return {f.resolve() for f in files if f.resolve().is_relative_to(site.resolve())}


def dependencies(dist: metadata.Distribution, extras: set[str]) -> Wanted:
    """What ``dist`` requires with ``extras``: every requirement whose marker names no extra, or one of
    ``extras`` (other markers count as true: keeping a package too many is safe, one too few is not)."""
    wanted: Wanted = {}
    for requirement in dist.requires or []:
        text, _, marker = requirement.partition(";")
        marker_extras = {canonical(e) for e in EXTRA_MARKER.findall(marker)}
        if marker_extras and not marker_extras & extras:
            continue
        parsed = parse_requirement(text)
        if parsed:
            wanted.setdefault(parsed[0], set()).update(parsed[1])
    return wanted


def remove_files(site: Path, files: set[Path]) -> None:
    for path in files:
        if path.is_file() or path.is_symlink():
            path.unlink()
    for dirpath, _dirnames, _filenames in sorted(os.walk(site), key=lambda w: -len(w[0])):
        if Path(dirpath) != site and not any(Path(dirpath).iterdir()):
            Path(dirpath).rmdir()


def needed(dists: dict[str, metadata.Distribution], wanted: Wanted) -> set[str]:
    """The distributions ``wanted`` requires, transitively, extras followed, the runtime's SDK left out."""
    found: Wanted = {}
    frontier = [(name, extras) for name, extras in wanted.items()]
    while frontier:
        name, extras = frontier.pop()
        if name in RUNTIME_SDK or name not in dists:
            continue
        known = found.get(name)
        if known is not None and extras <= known:
            continue
        found.setdefault(name, set()).update(extras)
        frontier.extend(dependencies(dists[name], found[name]).items())
    return set(found)


def drop_runtime_sdk(site: Path, wanted: Wanted) -> list[str]:
    """Remove boto3/botocore/s3transfer and every distribution only they required."""
    dists = distributions(site)
    keep = needed(dists, wanted)
    removed = sorted(name for name in dists if name not in keep)
    for name in removed:
        remove_files(site, dist_files(site, dists[name]))
    return removed


def subtract(site: Path, other: Path) -> list[str]:
    """Remove from ``site`` every distribution ``other`` holds; the versions must be the same."""
    mine, theirs = distributions(site), distributions(other)
    shared = sorted(set(mine) & set(theirs))
    differing = [
        f"{name} {mine[name].version} here, {theirs[name].version} in the other layer"
        for name in shared
        if mine[name].version != theirs[name].version
    ]
    if differing:
        raise SystemExit("this layer would shadow the other's packages: " + "; ".join(differing))
    for name in shared:
        remove_files(site, dist_files(site, mine[name]))
    return shared


def strip(site: Path) -> None:
    for dirpath, dirnames, _filenames in os.walk(site):
        for name in [d for d in dirnames if d in STRIPPED_DIRS]:
            shutil.rmtree(Path(dirpath, name))
            dirnames.remove(name)
    shutil.rmtree(site / "bin", ignore_errors=True)
    for pyc in site.rglob("*.pyc"):
        pyc.unlink()


def compile_bytecode(site: Path) -> None:
    ok = compileall.compile_dir(
        site, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not ok:
        raise SystemExit("some modules do not compile for the runtime's Python (printed above)")


def build(args: argparse.Namespace) -> None:
    out: Path = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="layer-") as tmp:
        site = Path(tmp, "site")
        pip_install(site, args.requirements + args.without, args.arch)
        removed = drop_runtime_sdk(site, requirement_names(args.requirements + args.without))
        print(f"not shipped (the runtime's SDK and what only it needs): {', '.join(removed) or '-'}")
        if args.without:
            other = Path(tmp, "other")
            pip_install(other, args.without, args.arch)
            drop_runtime_sdk(other, requirement_names(args.without))
            shared = subtract(site, other)
            print(f"left to the other layer: {', '.join(shared)}")
        for package in args.package:
            shutil.copytree(package, site / package.name, dirs_exist_ok=True)
        strip(site)
        compile_bytecode(site)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(site, out, symlinks=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--requirements", type=Path, action="append", required=True)
    parser.add_argument(
        "--without", type=Path, action="append", default=[], help="another layer's requirements"
    )
    parser.add_argument("--package", type=Path, action="append", default=[], help="a package folder to ship")
    parser.add_argument("--out", type=Path, required=True, help="the layer's python/ folder (replaced)")
    parser.add_argument("--arch", choices=sorted(ARCHES), default=os.environ.get("LAYER_ARCH") or "arm64")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(f"run this with python{'.'.join(map(str, RUNTIME))}: the bytecode is the runtime's")
    build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
