# Sourced by the install-*.sh scripts that take a tool from Debian's packages.
# apt_install NAME VAR PACKAGE...: installs PACKAGE... with apt-get (as root, or with sudo -n),
# quietly, its output on stderr. Fails naming NAME and VAR when there is no apt-get or no root.
apt_install() {
    local name=$1 var=$2
    shift 2
    if ! command -v apt-get >/dev/null; then
        echo "install-$name: no $name and no apt-get; install it and set $var" >&2
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "install-$name: apt-get needs root (or sudo)" >&2; return 1; }
        sudo="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}
