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
all_extras() {
    python3 -c 'import tomllib; print(",".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]))'
}
