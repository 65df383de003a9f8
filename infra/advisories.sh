#!/usr/bin/env bash
# Offline advisory check: every crate in Cargo.lock against a snapshot of the RustSec
# advisory database, with cargo-deny. Fails on any advisory that applies, unless
# deny.toml allows it by id with its reason (docs/supply-chain.md).
#
# The machines reach crates.io but not the database's git host, so the database comes
# from a snapshot in the team folder: $STUDIO_ADVISORY_DB, else ../shared/advisory-db
# beside this repository, else /work/shared/advisory-db. Without one the check is
# skipped, except under CI=true, where it fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# A debug build: it installs in 2.5 to 4 minutes on 2 cores, depending on what else
# runs (a release build took 8), and checks the lock in 4 to 5 seconds (the release
# build in 1.4).
DENY_VERSION=0.20.2
deny=.tools/cargo-deny/bin/cargo-deny
# cargo-deny keeps a database in db-path (deny.toml) under a directory named after the
# database's URL: the last path segment and the XxHash64 of the URL. This is the name
# for its default URL (the RustSec database); with another name it finds no database
# and fails.
db_dir=.tools/advisory-dbs/advisory-db-3157b0e258782691

fail() {
    echo "advisories: $*" >&2
    exit 1
}

find_snapshot() {
    if [ -n "${STUDIO_ADVISORY_DB:-}" ]; then
        [ -d "$STUDIO_ADVISORY_DB/crates" ] ||
            fail "STUDIO_ADVISORY_DB=$STUDIO_ADVISORY_DB holds no advisory database (no crates/ folder)"
        echo "$STUDIO_ADVISORY_DB"
        return
    fi
    local dir
    for dir in "$root/../shared/advisory-db" /work/shared/advisory-db; do
        if [ -d "$dir/crates" ]; then
            (cd "$dir" && pwd)
            return
        fi
    done
}

snapshot=$(find_snapshot)
if [ -z "$snapshot" ]; then
    if [ "${CI:-}" = true ]; then
        fail "no advisory database snapshot: looked in \$STUDIO_ADVISORY_DB (unset), $root/../shared/advisory-db and /work/shared/advisory-db"
    fi
    echo "advisories: SKIPPED, no advisory database snapshot (set STUDIO_ADVISORY_DB to one)"
    exit 0
fi
advisory_count=$(find "$snapshot/crates" -name 'RUSTSEC-*.md' | wc -l)
[ "$advisory_count" -gt 0 ] || fail "$snapshot/crates holds no advisories"

# The snapshot's date, from its SNAPSHOT.md: cargo-deny only sees the scratch commit
# made below, so the age is checked here. A stale snapshot warns rather than fails:
# the team folder is replaced from outside this repository.
snapshot_date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/SNAPSHOT.md" 2>/dev/null | head -n 1 || true)
if [ -n "$snapshot_date" ]; then
    age_days=$((($(date -u +%s) - $(date -u -d "$snapshot_date" +%s)) / 86400))
    echo "advisory database: $snapshot ($advisory_count advisories, taken $snapshot_date, $age_days days ago)"
    if [ "$age_days" -gt 90 ]; then
        echo "advisories: WARNING: the snapshot is $age_days days old; advisories published since are not checked"
    fi
else
    echo "advisory database: $snapshot ($advisory_count advisories, date unknown: no SNAPSHOT.md)"
fi

if ! "$deny" --version 2>/dev/null | grep -qx "cargo-deny $DENY_VERSION"; then
    echo "installing cargo-deny $DENY_VERSION into .tools/cargo-deny (from crates.io)"
    start=$SECONDS
    cargo install --quiet --locked --debug --version "$DENY_VERSION" --root .tools/cargo-deny cargo-deny
    echo "cargo-deny installed in $((SECONDS - start)) s"
fi

# cargo-deny opens the database as a git repository: a scratch copy (the team folder
# may be read-only), committed, laid anew each run so it is the snapshot as it is now.
rm -rf "$db_dir"
mkdir -p "$db_dir"
cp -R "$snapshot/." "$db_dir/"
chmod -R u+w "$db_dir"
rm -rf "$db_dir/.git"
git -C "$db_dir" -c init.defaultBranch=main init --quiet
git -C "$db_dir" add --all
git -C "$db_dir" -c user.name=advisories -c user.email=advisories@localhost \
    -c commit.gpgsign=false commit --quiet --no-verify -m "RustSec snapshot $snapshot_date"

# cargo metadata (which cargo-deny runs offline) needs every platform's crates, which a
# build does not fetch.
cargo fetch --quiet --locked

start=$SECONDS
status=0
"$deny" --color never --offline --locked --config deny.toml \
    check --hide-inclusion-graph advisories || status=$?
echo "advisory check took $((SECONDS - start)) s"
[ "$status" -eq 0 ] || fail "an advisory applies to Cargo.lock: update the crate, or allow the advisory in deny.toml with the reason"
