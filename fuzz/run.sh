#!/bin/sh
# Run one fuzz target (or all) for a while, seeded with the vendor guide's
# payloads and every input kept in regressions/.
#   fuzz/run.sh ics_active_users 600     # one target, 10 minutes
#   fuzz/run.sh all 300                  # every target, 5 minutes each
# New crashers land in fuzz/artifacts/<target>/; copy them into
# fuzz/regressions/<target>/ so `cargo test` replays them forever.
set -eu
cd "$(dirname "$0")"
target=${1:-all}
seconds=${2:-60}
export RUSTC_BOOTSTRAP=1
if [ "$target" = all ]; then
    targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v ivanti-exporter-fuzz)
else
    targets=$target
fi
for t in $targets; do
    mkdir -p "corpus/$t"
    cp regressions/"$t"/* "corpus/$t/"
    dict=""
    [ -f "dict/$t.dict" ] && dict="-dict=dict/$t.dict"
    echo "== $t for ${seconds}s"
    cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 $dict
done
