#!/usr/bin/env bash
# Usage: [PYTHON=...] bash tools/dist_train.sh CONFIG GPUS [train.py args...]
. "$(dirname "$0")/find_python.sh"  # sets REPO_DIR and PYTHON
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$REPO_DIR":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$REPO_DIR/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
