# Sourced by the drill commands: drills/requirements.txt (pinned) in $RUN_DIR/venv-drills,
# installed when missing or stale.
ensure_drills_venv() {
    local venv=$RUN_DIR/venv-drills req=drills/requirements.txt want
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null
        echo "$want" >"$venv/.requirements.sha256"
    fi
}
