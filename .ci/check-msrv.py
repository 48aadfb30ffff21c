#!/usr/bin/env python3
"""Fails when a package that the workspace builds needs a newer Rust than the workspace declares.

Reads `cargo metadata` for this machine's platform: the workspace's `rust-version` (every member
inherits it) against the `rust-version` of every package in the resolved graph (normal, build and
dev dependencies alike, since the README's test command builds them all). A package that declares
none is taken to build on any Rust.
"""
import json
import subprocess
import sys


def version(text):
    """'1.88' or '1.88.0' as a comparable tuple."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    host = next(
        line.split(": ", 1)[1]
        for line in subprocess.run(
            ["rustc", "-vV"], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        if line.startswith("host: ")
    )
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    members = [packages[i] for i in meta["workspace_members"]]
    declared = {p["rust_version"] for p in members}
    if None in declared or len(declared) != 1:
        print(f"msrv: every member must declare the same rust-version, found {sorted(map(str, declared))}")
        return 1
    msrv = declared.pop()
    resolved = {node["id"] for node in meta["resolve"]["nodes"]}
    too_new = sorted(
        (version(p["rust_version"]), p["name"], p["version"], p["rust_version"])
        for i, p in packages.items()
        if i in resolved and p["rust_version"] and version(p["rust_version"]) > version(msrv)
    )
    if too_new:
        print(f"msrv: the workspace declares rust-version {msrv}, but these need newer:")
        for _, name, ver, needs in too_new:
            print(f"  {name} {ver} needs Rust {needs}")
        return 1
    newest = max(
        (version(p["rust_version"]) for i, p in packages.items() if i in resolved and p["rust_version"]),
        default=(0, 0, 0),
    )
    print(f"msrv: rust-version {msrv} covers all {len(resolved)} packages (the newest needs {'.'.join(map(str, newest))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
