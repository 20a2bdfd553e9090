# Shared by the scripts that install test tools. Source it; it defines functions only.

# go_install_cached NAME PACKAGE@VERSION CACHE: installs a Go command into CACHE/bin with
# `go install` (outside the repository and its go.mod) unless CACHE/bin/NAME is there already.
# Several test processes may ask at once: one installs, the others wait for it (flock).
go_install_cached() {
  local name=$1 pkg=$2 cache=$3
  [ -x "$cache/bin/$name" ] && return
  mkdir -p "$cache"
  exec 9>"$cache/install.lock"
  command -v flock >/dev/null && flock 9
  if [ ! -x "$cache/bin/$name" ]; then
    echo "$name: installing $pkg into $cache (the first time takes a while)" >&2
    (cd "$cache" && GOBIN="$cache/bin" GOFLAGS= GOWORK=off go install "$pkg") || {
      exec 9>&-
      echo "$name: go install $pkg failed" >&2
      return 1
    }
  fi
  exec 9>&-
}
