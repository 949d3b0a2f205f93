# Sourced by the launch scripts: REPO_DIR (the checkout) and PYTHON, the interpreter to run:
# $PYTHON if set, else the active virtualenv's, else the checkout's .venv, else python on PATH;
# and torchrun_tool, the torchrun command line that dist_train.sh / dist_test.sh share.
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "$PYTHON" ]; then
    if [ -n "$VIRTUAL_ENV" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    elif [ -x "$REPO_DIR/.venv/bin/python" ]; then
        PYTHON="$REPO_DIR/.venv/bin/python"
    else
        PYTHON="$(command -v python || command -v python3)"
    fi
fi

# torchrun_tool TOOL NPROC [ARGS...]: tools/TOOL ARGS under torch.distributed.run with NPROC
# processes on this node; NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1) and PORT (29500)
# from the environment, as in OpenMMLab's launchers.
torchrun_tool() {
    local tool=$1 nproc=$2
    shift 2
    PYTHONPATH="$REPO_DIR":$PYTHONPATH \
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" --nproc_per_node="$nproc" \
        --master_port="${PORT:-29500}" "$REPO_DIR/tools/$tool" "$@"
}
