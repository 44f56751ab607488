#!/usr/bin/env bash
# Debian packages the tests use besides the services: libfaketime (a worker whose clock
# runs ahead, in the lease test), kcat (an independent Kafka client) and Node.js with npm
# (kafkajs, in the CloudEvents test). Idempotent.
set -euo pipefail
missing=()
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || missing+=(faketime)
command -v kcat >/dev/null || missing+=(kcat)
# Node.js and npm: a kafkajs consumer reads the events as a Node team would.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "test-tools: install ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "test-tools: installing ${missing[*]}" >&2
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
}
