"""Narrow mamba-ssm's setup.py to one GPU architecture (sm_90, the H200's) before building it:
its -gencode list is fixed in the file (nine or more architectures, about 1.5 CPU-hours); one pair
builds in minutes. Exits 1, saying why, when the file no longer has the place this edits.

    python benchmarks/gpu_narrow_build.py path/to/mamba-ssm/setup.py [--arch 90]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ANCHOR = "    # HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI"  # the line after the -gencode list


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("setup", type=Path)
    parser.add_argument("--arch", default="90")
    args = parser.parse_args()
    text = args.setup.read_text()
    if ANCHOR not in text or "cc_flag" not in text:
        sys.exit(f"{args.setup}: no -gencode list where mamba-ssm 2.2 has it; cannot narrow the build")
    only = (
        '    cc_flag = [f for f in cc_flag if f != "-gencode" and not f.startswith("arch=")]'
        f' + ["-gencode", "arch=compute_{args.arch},code=sm_{args.arch}"]\n'
    )
    args.setup.write_text(text.replace(ANCHOR, only + ANCHOR, 1))
    print(f"{args.setup}: builds for sm_{args.arch} only")


if __name__ == "__main__":
    main()
