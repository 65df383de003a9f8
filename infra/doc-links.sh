#!/usr/bin/env bash
# Check the links of the project's markdown: every relative link in README.md,
# BENCHMARKS.md, infra/README.md and docs/*.md must name a file or folder that exists
# inside the repository, and a `#section` must name a heading of the file it points at
# (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens). Links to
# http(s) and mailto addresses are not followed. Links inside fenced code blocks and
# inline code are not links.
#
#   infra/doc-links.sh [FILE.md ...]     default: the files above
#
# Offline, no tools beyond bash, awk and coreutils. Called by infra/lint.sh.
# Exit status: 1 when a link is dead or leaves the repository, naming each one.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    files=(README.md BENCHMARKS.md infra/README.md docs/*.md)
fi

# file<TAB>line<TAB>target for every link outside code.
links() {
    awk '
        /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
        fenced { next }
        {
            line = $0
            gsub(/`[^`]*`/, "", line)
            if (match(line, /^[ \t]*\[[^]]+\]:[ \t]+[^ \t]+/)) {
                target = substr(line, RSTART, RLENGTH)
                sub(/^[ \t]*\[[^]]+\]:[ \t]+/, "", target)
                printf "%s\t%d\t%s\n", FILENAME, FNR, target
            }
            while (match(line, /\]\([^)]*\)/)) {
                target = substr(line, RSTART + 2, RLENGTH - 3)
                line = substr(line, RSTART + RLENGTH)
                sub(/[ \t]+"[^"]*"$/, "", target)
                gsub(/^<|>$/, "", target)
                printf "%s\t%d\t%s\n", FILENAME, FNR, target
            }
        }
    ' "$@"
}

# The anchors of a markdown file's headings, one a line.
anchors() {
    LC_ALL=C awk '
        /^[ \t]*(```|~~~)/ { fenced = !fenced; next }
        fenced { next }
        /^#+[ \t]/ {
            h = $0
            sub(/^#+[ \t]+/, "", h)
            sub(/[ \t]+#*$/, "", h)
            h = tolower(h)
            gsub(/[^a-z0-9 _-]/, "", h)
            gsub(/ /, "-", h)
            print h
        }
    ' "$1"
}

dead=0
checked=0
while IFS=$'\t' read -r file line target; do
    case "$target" in
        http://* | https://* | mailto:*) continue ;;
    esac
    checked=$((checked + 1))
    path="${target%%#*}"
    fragment=""
    [[ "$target" == *"#"* ]] && fragment="${target#*#}"
    if [[ "$target" == /* ]]; then
        printf 'doc-links.sh: %s:%s: %s is an absolute path (link relative to the file)\n' \
            "$file" "$line" "$target" >&2
        dead=1
        continue
    fi
    if [[ -z "$path" ]]; then
        resolved="$REPO_ROOT/$file"
    else
        resolved="$(realpath -m "$(dirname "$REPO_ROOT/$file")/$path")"
    fi
    if [[ "$resolved" != "$REPO_ROOT" && "$resolved" != "$REPO_ROOT/"* ]]; then
        printf 'doc-links.sh: %s:%s: %s leaves the repository\n' "$file" "$line" "$target" >&2
        dead=1
    elif [[ ! -e "$resolved" ]]; then
        printf 'doc-links.sh: %s:%s: %s does not exist\n' "$file" "$line" "$target" >&2
        dead=1
    elif [[ -n "$fragment" && "$resolved" == *.md ]] &&
        ! anchors "$resolved" | grep -qxF -- "$fragment"; then
        printf 'doc-links.sh: %s:%s: %s has no heading #%s\n' "$file" "$line" "${path:-$file}" \
            "$fragment" >&2
        dead=1
    fi
done < <(links "${files[@]}")

if [[ "$dead" != 0 ]]; then
    printf 'doc-links.sh: dead links above (%d links checked in %d files)\n' \
        "$checked" "${#files[@]}" >&2
    exit 1
fi
printf 'doc-links.sh: %d links checked in %d files, none dead\n' "$checked" "${#files[@]}" >&2
