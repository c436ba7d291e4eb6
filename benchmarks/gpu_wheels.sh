#!/usr/bin/env bash
# Downloads, here (where PyPI is reachable), the wheels that the lent GPU
# machine (Python 3.12, no network) lacks for benchmarks/gpu_check.sh: its
# benchmarks need ml_collections, and flatbuffers where they turn the
# compilation cache on (freedarts_jax/exported.py); its notebook step needs nbclient, nbformat,
# ipykernel and their dependencies that the machine's image does not hold
# (the image's package list: the device tool's KINDS.md). Versions are the
# ones this project's venv runs with. Usage, from the repository root:
#   bash benchmarks/gpu_wheels.sh [DIR]     # default .whl (git-ignored)
# then pass DIR in the device call's `carry`; gpu_check.sh installs
# .whl/*.whl into /tmp/site before it starts.
set -euo pipefail
dir=${1:-.whl}
mkdir -p "$dir"
if [ "$dir" = .whl ] && ! grep -qx '/.whl/' .git/info/exclude 2>/dev/null; then
  echo /.whl/ >> "$(git rev-parse --git-path info/exclude)"
fi
wheels=(
  ml_collections==1.1.0 flatbuffers==25.12.19
  # notebooks/execute.py: nbclient, nbformat, a kernel, and what they import
  nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0 ipython==9.18.1
  jupyter_client==8.10.0 jupyter_core==5.9.1 traitlets==5.16.1
  pyzmq==27.3.0 tornado==6.6.1 fastjsonschema==2.22.3 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  comm==0.2.3 debugpy==1.8.22 nest-asyncio2==1.7.4 matplotlib-inline==0.2.2
  ipython_pygments_lexers==1.1.1 jedi==0.20.1 parso==0.8.7 pexpect==4.9.0
  ptyprocess==0.7.0 prompt_toolkit==3.0.53 wcwidth==0.9.4 stack-data==0.6.3
  executing==2.3.0 asttokens==3.0.2 pure_eval==0.2.4 platformdirs==4.14.8
)
platforms=()
for n in 28 27 17; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for w in "${wheels[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp "${platforms[@]}" \
    -d "$dir" "$w"
done
ls "$dir"
du -sh "$dir"
