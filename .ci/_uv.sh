# Sourced by .ci/lock and .ci/matrix: the uv they use, installed from PyPI into .ci/.tools on first use.
UV_VERSION=0.13.8
export UV_PYTHON_DOWNLOADS=never # use the interpreters on this machine (pyenv), never fetch one

uv_bin() {
    local tools=.ci/.tools
    if [[ ! -x $tools/bin/uv ]]; then
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet "uv==$UV_VERSION"
    fi
    echo "$tools/bin/uv"
}

# Every extra pyproject.toml declares, comma-separated (what the constraint files are resolved for).
# awk, not tomllib: python3 may be 3.10 here.
all_extras() {
    awk '/^\[/ { inside = ($0 == "[project.optional-dependencies]") ; next }
         inside && /^[A-Za-z0-9_.-]+ *= *\[/ { sub(/ *=.*/, ""); names = names (names ? "," : "") $0 }
         END { print names }' pyproject.toml
}
