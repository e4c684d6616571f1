#!/usr/bin/env python3
"""Check that a fresh resolve, as a dependent crate sees it, meets our MSRV.

Usage: python3 scripts/msrv_check.py [--target TRIPLE ...]

Creates a scratch crate in a temporary directory (outside this repository, so
its `.cargo/config.toml` and `Cargo.lock` play no part) that depends on this
crate by path with every feature, resolves it from scratch with
`cargo generate-lockfile` (latest compatible versions, as a new user gets
them), and reads `cargo metadata`. Every package a dependent builds (this
crate's normal dependencies, transitively, build dependencies included;
never dev-dependencies) must declare a `rust-version` no newer than ours. The
offenders are listed with the chain that pulls each one in, and the script
exits 1. Which packages are built comes from `cargo tree` (cargo's feature
resolver); `cargo metadata`'s graph would also list optional dependencies
that no enabled feature turns on.

Target-specific dependencies are walked for the host by default; each
`--target` (any target rustc knows: no toolchain or std is downloaded) adds a
walk for that platform. `cfg(loom)` dependencies never count: RUSTFLAGS is
cleared, as in a user's build.

It also fails if a `.rs` or `.toml` file names clippy's `incompatible_msrv`
lint (to allow it) or a clippy.toml sets `msrv`: clippy must keep checking the
source against `rust-version`.

No toolchain is downloaded: the check compares declared `rust-version`s, it
does not compile anything. Packages that declare no `rust-version` are
listed but do not fail the check. Needs the registry index (network, or a
source replacement configured in CARGO_HOME).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def version_key(v: str) -> tuple:
    parts = [int(p) for p in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def clean_env() -> dict:
    env = dict(os.environ)
    # Nothing may change what a dependent resolves, or how cfg()s evaluate.
    for key in list(env):
        if "RUSTFLAGS" in key or key in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"):
            del env[key]
    # Cargo's own default (new in 1.84 is only under resolver "3" with a
    # rust-version): newest compatible versions, whatever they need. Overrides
    # any `resolver.incompatible-rust-versions` in a config file.
    env["CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS"] = "allow"
    return env


def cargo(args: list, cwd: pathlib.Path, env: dict) -> str:
    proc = subprocess.run(
        ["cargo", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"msrv_check: `cargo {' '.join(args)}` failed in {cwd}")
    return proc.stdout


def stray_configs(scratch: pathlib.Path) -> list:
    """Config files on the scratch crate's path, other than CARGO_HOME's."""
    home = pathlib.Path(os.environ.get("CARGO_HOME", pathlib.Path.home() / ".cargo"))
    found = []
    for d in [scratch, *scratch.parents]:
        for name in ("config.toml", "config"):
            f = d / ".cargo" / name
            if f.is_file() and f.parent.resolve() != home.resolve():
                found.append(f)
    return found


def host_triple(env: dict) -> str:
    out = subprocess.run(
        ["rustc", "-vV"], env=env, stdout=subprocess.PIPE, text=True, check=True
    ).stdout
    return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("host:"))


def lint_overrides() -> list:
    """Places that would switch clippy's `incompatible_msrv` off or move its MSRV."""
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git")]
        for f in filenames:
            path = pathlib.Path(dirpath, f)
            if f in ("clippy.toml", ".clippy.toml"):
                if re.search(r"^\s*msrv\s*=", path.read_text(), re.M):
                    found.append(f"{path.relative_to(ROOT)}: sets msrv")
            if f.endswith((".rs", ".toml")) and "incompatible_msrv" in path.read_text(errors="replace"):
                found.append(f"{path.relative_to(ROOT)}: names incompatible_msrv")
    return found


def main() -> int:
    args = sys.argv[1:]
    extra = []
    while args:
        if args[0] == "--target" and len(args) > 1:
            extra.append(args[1])
            args = args[2:]
        else:
            sys.exit(__doc__)

    overrides = lint_overrides()
    if overrides:
        print("FAIL: clippy's incompatible_msrv must stay on, checking rust-version:")
        for o in overrides:
            print(f"  {o}")
        return 1

    env = clean_env()
    meta = json.loads(
        cargo(["metadata", "--no-deps", "--format-version", "1"], ROOT, env)
    )
    manifest = str(ROOT / "Cargo.toml")
    ours = next(p for p in meta["packages"] if p["manifest_path"] == manifest)
    name, msrv = ours["name"], ours["rust_version"]
    if not msrv:
        sys.exit(f"msrv_check: {name} declares no rust-version")
    features = sorted(f for f in ours["features"] if f != "default")

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="msrv-check-")).resolve()
    try:
        if ROOT in [scratch, *scratch.parents]:
            sys.exit(f"msrv_check: scratch dir {scratch} is inside the repository (TMPDIR?)")
        stray = stray_configs(scratch)
        if stray:
            sys.exit(f"msrv_check: config files would apply to the scratch crate: {stray}")
        (scratch / "src").mkdir()
        (scratch / "src" / "lib.rs").write_text("")
        # No rust-version and edition 2021 (resolver "2"): the plain,
        # MSRV-unaware resolve every Cargo performs for such a crate.
        (scratch / "Cargo.toml").write_text(
            "[package]\n"
            'name = "msrv-check-dependent"\n'
            'version = "0.0.0"\n'
            'edition = "2021"\n'
            "publish = false\n\n"
            "[workspace]\n\n"
            "[dependencies]\n"
            f"{name} = {{ path = {json.dumps(str(ROOT))}, features = {json.dumps(features)} }}\n"
        )
        cargo(["generate-lockfile", "--quiet"], scratch, env)

        targets = [host_triple(env), *extra]
        # Declared rust-versions, by (name, version), from the resolve.
        m = json.loads(cargo(["metadata", "--format-version", "1", "--locked"], scratch, env))
        declared = {(p["name"], p["version"]): p["rust_version"] for p in m["packages"]}
        offenders, undeclared, built = {}, {}, {}
        for target in targets:
            # Which packages a dependent builds: cargo tree applies the real
            # feature resolver (cargo metadata's graph also lists optional
            # dependencies no enabled feature turns on). Normal and build
            # edges only, target-specific ones for this target.
            tree = cargo(
                ["tree", "--locked", "-e", "normal,build", "--target", target,
                 "--prefix", "depth", "--format", "{p}"],
                scratch,
                env,
            )
            stack, seen = [], set()
            for line in tree.splitlines():
                depth = int(re.match(r"\d+", line).group())
                pkg_name, ver = line[len(str(depth)):].split()[:2]
                pkg = (pkg_name, ver.lstrip("v"))
                del stack[depth:]
                stack.append(pkg_name)
                if depth == 0 or pkg in seen:
                    continue
                seen.add(pkg)
                label = f"{pkg[0]} {pkg[1]}"
                chain = " <- ".join(reversed(stack[1:]))
                rv = declared[pkg]
                if rv is None:
                    undeclared.setdefault(label, chain)
                    continue
                if pkg_name != name:
                    built[label] = rv
                if version_key(rv) > version_key(msrv):
                    offenders.setdefault(label, (rv, chain, set()))[2].add(target)
            print(f"{target}: {len(seen)} packages a dependent builds")

        print(f"{name} rust-version = {msrv}; features checked: {', '.join(features) or '(none)'}")
        for label, rv in sorted(built.items(), key=lambda kv: version_key(kv[1]), reverse=True):
            print(f"  {rv:>8}  {label}")
        for label, chain in sorted(undeclared.items()):
            print(f"  no rust-version declared: {label} ({chain})")
        if offenders:
            print(f"\nFAIL: a fresh resolve needs a newer Rust than {name}'s rust-version {msrv}:")
            for label, (rv, chain, tgts) in sorted(
                offenders.items(), key=lambda kv: version_key(kv[1][0]), reverse=True
            ):
                print(f"  {label} needs {rv}  ({chain}; on {', '.join(sorted(tgts))})")
            print(
                "Raise rust-version, or bound the dependency, and say why in docs/design.md (MSRV)."
            )
            return 1
        print(f"ok: every package declares rust-version <= {msrv}")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
