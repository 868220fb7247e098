#!/bin/sh
# Run a command with the network unavailable: in a private network namespace that has only
# loopback (the Jupyter kernels and the browser driver talk over it). Needs root, as in CI.
# Where a namespace cannot be made, the command still runs; the browser test then blocks
# every network request with Chromium's own flags and says so.
if unshare -n true 2>/dev/null; then
    export XENT_NETWORK=namespace
    exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "offline.sh: cannot create a network namespace here; relying on Chromium's proxy/resolver flags" >&2
export XENT_NETWORK=flags
exec "$@"
