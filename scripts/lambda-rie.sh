#!/usr/bin/env bash
# The AWS Lambda Runtime Interface Emulator, for the tests of AWS_LAMBDA identity providers: a
# real Lambda runtime (the one AWS ships in its container images) that runs a function binary
# locally and serves the Lambda Invoke API on loopback.
#
#   scripts/lambda-rie.sh path    install aws-lambda-rie if needed and print its path
#
# It is installed with `go install` into a cache outside the repository (never into go.mod):
# $TRANSFERD_RIE_CACHE, by default ${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test/aws-lambda-rie-VERSION.
# The module has no release tags on the Go module proxy; VERSION pins the commit tested here.
set -euo pipefail

MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
VERSION=v0.0.0-20261030222936-bef5c4ba774d
CACHE=${TRANSFERD_RIE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/transferd-test/aws-lambda-rie-$VERSION}
BIN=$CACHE/bin/aws-lambda-rie

die() { echo "lambda-rie: $*" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

install() { go_install_cached aws-lambda-rie "$MODULE/cmd/aws-lambda-rie@$VERSION" "$CACHE" || die "install failed"; }

case "${1:-}" in
path) install; echo "$BIN" ;;
*) die "usage: $0 path" ;;
esac
