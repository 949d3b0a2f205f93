#!/usr/bin/env bash
# Usage: [PYTHON=...] [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#        bash tools/dist_train.sh CONFIG GPUS [train.py args...]
. "$(dirname "$0")/find_python.sh"  # sets REPO_DIR and PYTHON, defines torchrun_tool
CONFIG=$1
GPUS=$2
torchrun_tool train.py "$GPUS" "$CONFIG" --launcher pytorch "${@:3}"
