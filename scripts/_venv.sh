# Shared by scripts/run-demo and scripts/test: create .venv with this project installed (editable) if it is not
# there or the install inputs changed. Source it, then call `ensure_venv EXTRAS`.
set -euo pipefail

ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: $python is not Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" --version)…"
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)-${extras//[^a-z]/}"
  if [ ! -f "$stamp" ]; then
    echo "Installing SRA-Seg Studio and its dependencies into .venv (the first time takes a few minutes)…"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".$extras"
    touch "$stamp"
  fi
}
