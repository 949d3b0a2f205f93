#!/usr/bin/env bash
# Usage: [PYTHON=...] [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#        bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
. "$(dirname "$0")/find_python.sh"  # sets REPO_DIR and PYTHON, defines torchrun_tool
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
torchrun_tool test.py "$GPUS" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
