# Sourced by the launch scripts: REPO_DIR (the checkout) and PYTHON, the interpreter to run:
# $PYTHON if set, else the active virtualenv's, else the checkout's .venv, else python on PATH.
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
