#!/usr/bin/env bash
# The newest-versions stage: every dependency at the newest release pyproject.toml allows (not the
# lock), in its own environment, and a short smoke set through real processes: help through a closed
# pipe, a bad input on a TensorFlow path, a 2,000-image training, the board. A failure names the step
# and the versions that broke it.
set -uo pipefail
cd "$(dirname "$0")/.."
env_dir=.venv-newest
rm -rf "$env_dir"
uv venv -q "$env_dir" && uv pip install -q --python "$env_dir/bin/python" --upgrade -e . || {
  echo "newest-versions stage: the newest releases allowed by pyproject.toml do not install together: failing"; exit 1; }
bin="$env_dir/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TF_CPP_MIN_LOG_LEVEL=3 XDG_CACHE_HOME="$work/cache" MNISTBENCH_ARTIFACTS="$work/models"
data=()
if [ -f ../shared/data/mnist.npz ]; then data=(--data ../shared/data/mnist.npz); fi
db="sqlite:///$work/board.db"
versions=$("$bin/python" -c "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in ('typer', 'rich', 'sqlalchemy', 'keras', 'tensorflow', 'numpy')))")
failed=0
step() {  # step NAME EXPECTED_RC COMMAND...: the command's rc must be EXPECTED_RC and stderr free of tracebacks
  local name=$1 expected=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" -ne "$expected" ] || grep -q "Traceback" "$work/err"; then
    echo "newest-versions stage: '$name' failed (exit $rc, expected $expected) with $versions:"
    tail -n 5 "$work/err"
    failed=1
  fi
}
pipe_help() { "$bin/mnistbench" --help | head -1 >/dev/null; return "${PIPESTATUS[0]/141/0}"; }
step "mnistbench --help | head -1" 0 pipe_help
step "a bad input on a TensorFlow path" 1 "$bin/mnistbench" train accuracy --model no-such-model --db "$db" "${data[@]}"
step "a 2,000-image training" 0 "$bin/mnistbench" train accuracy --model tiny --train-size 2000 --epochs 1 --db "$db" "${data[@]}"
step "mnistbench board" 0 "$bin/mnistbench" board --db "$db"
if [ "$failed" -eq 0 ] && ! grep -q "tiny" "$work/out"; then
  echo "newest-versions stage: 'mnistbench board' does not show the run just trained ($versions)"; failed=1
fi
[ "$failed" -eq 0 ] && echo "newest-versions stage: smoke set passed with $versions"
exit "$failed"
