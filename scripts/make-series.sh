#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Generate build/series/: the whole patch set as a series that qemu-devel
# can review, against pristine QEMU, new files included.  Each commit of
# build/qemu (pristine..HEAD, in order) becomes one patch, to which the new
# files that belong with it are added, as scripts/series.map says; patches
# of new files only (tests that QEMU's build does not run) follow, then
# git format-patch writes the series and its cover letter.  The commits
# that scripts/series.map calls 'fix' (fixes to QEMU that the feature does
# not need to be reviewed with) come first in build/qemu and go to a small
# series of their own, build/series-fixes/, on which build/series/ is
# based.
#
# The new files are taken as committed in this repository (HEAD, or
# $SERIES_REV), never from the work tree, so the same commits give the
# same files.  Authorship and Signed-off-by are this repository's
# user.name and user.email.  The work happens in a scratch clone,
# build/series-work; build/qemu is only read.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/qemu"
work="$top/build/series-work"
out="$top/build/series"
fixout="$top/build/series-fixes"
map="$top/scripts/series.map"
rev=${SERIES_REV:-HEAD}
. "$top/scripts/overlay-dirs.sh"

die() {
    echo "make-series: $*" >&2
    exit 1
}
note() {
    echo "make-series: $*" >&2
}

name=$(git -C "$top" config user.name) ||
    die "no git user.name in $top: set it with git config user.name 'Full Name'"
email=$(git -C "$top" config user.email) ||
    die "no git user.email in $top: set it with git config user.email you@example.org"
if [ -z "$name" ] || [ -z "$email" ]; then
    die "git user.name or user.email is empty in $top"
fi
ident="$name <$email>"

[ -d "$tree/.git" ] || die "no build/qemu (run make tree)"
git -C "$tree" rev-parse -q --verify pristine >/dev/null ||
    die "build/qemu has no tag 'pristine'"
head=$(git -C "$tree" rev-parse HEAD)
rev=$(git -C "$top" rev-parse --verify "$rev^{commit}") || die "no commit $rev"
revdate=$(git -C "$top" log -1 --format=%cd --date=raw "$rev")

if [ "$(cat "$top"/patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)" != \
     "$(cat "$tree/.git/qemu-power-series" 2>/dev/null)" ]; then
    note "warning: the commits of build/qemu are not those of patches/" \
         "(make patches, or make tree); the series follows build/qemu"
fi
if [ -n "$(git -C "$top" status --porcelain -- $OVERLAY_DIRS)" ]; then
    note "note: uncommitted changes in the overlay are not in the series"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The table, as lines "S<tab>KIND<tab>SUBJECT", "B<tab>TEXT", "P<tab>PATH".
awk -v map="$map" '
    function fail(msg) { printf "make-series: %s:%d: %s\n", map, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
    /^[ \t]*(#|$)/ { next }
    /^(patch|fix|append|cover|fixcover|omit) / {
        kind = $1; sub(/^[a-z]+ +/, ""); sub(/[ \t]+$/, "")
        if ($0 == "") fail(kind " without a subject")
        if (kind == "cover" && ncover++) fail("a second cover")
        if (kind == "fixcover" && nfixcover++) fail("a second fixcover")
        print "S\t" kind "\t" $0; insec = 1; next
    }
    /^[ \t]+\|/ {
        if (!insec) fail("text outside a section")
        sub(/^[ \t]+\| ?/, ""); print "B\t" $0; next
    }
    /^[ \t]+[^ \t]+[ \t]*$/ {
        if (!insec) fail("path outside a section")
        print "P\t" $1; next
    }
    { fail("cannot read this line") }
    END {
        if (!bad && !ncover) { printf "make-series: %s: no cover section\n", map > "/dev/stderr"; exit 1 }
        if (!bad && !nfixcover) { printf "make-series: %s: no fixcover section\n", map > "/dev/stderr"; exit 1 }
    }
' "$map" > "$tmp/map" || exit 1

# Every overlay file git knows (committed at $rev, or in the index), and
# the section of each: exactly one entry must match it, and every entry
# must match something.
{
    git -C "$top" ls-tree -r --name-only "$rev" -- $OVERLAY_DIRS
    git -C "$top" ls-files -- $OVERLAY_DIRS
} | sort -u > "$tmp/files"
git -C "$top" ls-tree -r --name-only "$rev" -- $OVERLAY_DIRS | sort > "$tmp/committed"
if grep -q '[[:space:]]' "$tmp/files"; then
    die "a file name with white space in the overlay"
fi
awk -F'\t' '
    FILENAME == ARGV[1] { file[++nf] = $0; next }
    $1 == "S" { sec++ }
    $1 == "P" { ent[++ne] = $2; entsec[ne] = sec }
    END {
        for (i = 1; i <= nf; i++) {
            hit = 0
            for (j = 1; j <= ne; j++) {
                e = ent[j]
                if (file[i] == e || (e ~ /\/$/ && index(file[i], e) == 1)) {
                    hit++; s = entsec[j]; used[j] = 1
                }
            }
            if (hit == 0) { print "make-series: " file[i] " is in no patch: add it to scripts/series.map" > "/dev/stderr"; bad = 1 }
            else if (hit > 1) { print "make-series: " file[i] " is in more than one entry of scripts/series.map" > "/dev/stderr"; bad = 1 }
            else print s "\t" file[i]
        }
        for (j = 1; j <= ne; j++)
            if (!used[j]) { print "make-series: scripts/series.map: " ent[j] " matches no file" > "/dev/stderr"; bad = 1 }
        exit bad
    }
' "$tmp/files" "$tmp/map" > "$tmp/assign" ||
    die "scripts/series.map does not cover the overlay exactly (see above)"
if ! cmp -s "$tmp/files" "$tmp/committed"; then
    comm -3 "$tmp/files" "$tmp/committed" | sed 's/^[[:space:]]*/    /' >&2
    note "note: the files above are staged but not committed, or the" \
         "reverse; the series has those of $rev"
fi

# Section N's subject, kind, text and files.
section() {     # N FIELD
    awk -F'\t' -v n="$1" -v f="$2" '
        $1 == "S" { s++; if (s == n) { if (f == "kind") print $2; if (f == "subject") print $3 } }
        $1 == "B" && s == n && f == "text" { print $2 }
    ' "$tmp/map"
}
files_of() {    # N, only those committed at $rev
    awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$tmp/assign" |
        grep -xF -f "$tmp/committed" || true
}

# The scratch clone: a local clone shares build/qemu's objects through
# hard links and never writes to it.
g() {
    GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
        git -C "$work" -c core.autocrlf=false -c gc.auto=0 "$@"
}
rm -rf "$work"
git clone -q --no-checkout "$tree" "$work"
g checkout -q --detach pristine

export GIT_AUTHOR_NAME="$name" GIT_AUTHOR_EMAIL="$email"
export GIT_COMMITTER_NAME="$name" GIT_COMMITTER_EMAIL="$email"

# Add section N's files and commit with message file $tmp/msg.
commit_with_files() {   # N DATE
    f=$(files_of "$1")
    if [ -n "$f" ]; then
        for x in $f; do
            [ ! -e "$work/$x" ] || die "$x would replace a file of QEMU"
        done
        # shellcheck disable=SC2086
        git -C "$top" archive --format=tar "$rev" -- $f | tar -xf - -C "$work"
        # shellcheck disable=SC2086
        g add -- $f
    fi
    GIT_AUTHOR_DATE=$2 GIT_COMMITTER_DATE=$2 \
        g commit -q --no-verify --cleanup=whitespace -F "$tmp/msg"
}
signoff() {
    sed '/^Signed-off-by: /d' |
        g interpret-trailers --trailer "Signed-off-by: $ident"
}

nsec=$(grep -c '^S' "$tmp/map")
used=""
feature=""
fixtip=""
for c in $(g rev-list --reverse "pristine..$head"); do
    subj=$(g log -1 --format=%s "$c")
    n=$(awk -F'\t' -v s="$subj" '$1 == "S" { i++; if (($2 == "patch" || $2 == "fix") && $3 == s) print i }' "$tmp/map")
    case $n in
    "") die "commit '$subj' has no section in scripts/series.map" ;;
    *[!0-9]*) die "commit '$subj' has more than one section in scripts/series.map" ;;
    esac
    case " $used " in
    *" $n "*) die "two commits are called '$subj'" ;;
    esac
    used="$used $n"
    if [ "$(section "$n" kind)" = fix ]; then
        [ -z "$feature" ] ||
            die "fix '$subj' comes after '$feature' in build/qemu: the" \
                "fixes go first, they are a series of their own"
    else
        feature=${feature:-$subj}
    fi
    g cherry-pick --no-commit "$c" >/dev/null
    # the maintainer is whoever posts the series, as its author is
    if g diff --cached --name-only | grep -qx MAINTAINERS; then
        # (sed's replacement: a '&', '|' or '\' of the name stays itself)
        m=$(printf '%s' "$ident" | sed 's/[&|\\]/\\&/g')
        sed -i "s|^M: .*<qemu-power@localhost>\$|M: $m|" "$work/MAINTAINERS"
        ! grep -q '@localhost' "$work/MAINTAINERS" ||
            die "MAINTAINERS still names an address at localhost"
        g add MAINTAINERS
    fi
    g log -1 --format=%B "$c" | signoff > "$tmp/msg"
    commit_with_files "$n" "$(g log -1 --format=%ad --date=raw "$c")"
    [ "$(section "$n" kind)" != fix ] || fixtip=$(g rev-parse HEAD)
done
[ -n "$fixtip" ] || die "no 'fix' commit, but scripts/series.map has a fixcover"

i=0
while [ "$i" -lt "$nsec" ]; do
    i=$((i + 1))
    case $(section "$i" kind) in
    patch|fix)
        case " $used " in
        *" $i "*) ;;
        *) die "no commit of build/qemu is called '$(section "$i" subject)'" \
               "(scripts/series.map)" ;;
        esac
        ;;
    append)
        { section "$i" subject; echo; section "$i" text; } | signoff > "$tmp/msg"
        commit_with_files "$i" "$revdate"
        ;;
    omit)
        note "not posted ($(section "$i" subject)): $(files_of "$i" | wc -l) files"
        ;;
    esac
done
[ -z "$(g status --porcelain)" ] || die "files left uncommitted in $work"

# A series: format-patch of RANGE into OUT, with the cover letter of
# section KIND (cover or fixcover) of scripts/series.map; the date and
# author of the cover letter are fixed like the patches'.  BASE is what
# the series applies to.
write_series() {    # KIND RANGE OUT BASE
    rm -rf "$3"
    GIT_COMMITTER_DATE=$revdate g format-patch -q --zero-commit \
        --no-signature --abbrev=12 --cover-letter -o "$3" "$2"
    total=$(g rev-list --count "$2")
    cover=$(awk -F'\t' -v k="$1" '$1 == "S" { i++; if ($2 == k) print i }' "$tmp/map")
    {
        section "$cover" text
        echo
        echo "The series applies to $4."
        echo "It is generated by scripts/make-series.sh of the qemu-power"
        echo "repository, from its patches to QEMU's files and its overlay of new"
        echo "files (commit $(git -C "$top" rev-parse --short=12 "$rev"))."
        echo
        g log --reverse --format=%s "$2" |
            awk -v t="$total" '{ printf "  %0" length(t) "d/%d %s\n", NR, t, $0 }'
    } > "$tmp/blurb"
    awk -v subj="$(section "$cover" subject)" -v blurb="$tmp/blurb" '
        /\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subj) }
        /^\*\*\* BLURB HERE \*\*\*$/ { while ((getline l < blurb) > 0) print l; next }
        { print }
    ' "$3/0000-cover-letter.patch" > "$tmp/cover"
    mv "$tmp/cover" "$3/0000-cover-letter.patch"
    echo "make-series: $total patches and a cover letter in" \
         "build/$(basename "$3")"
}

version="QEMU $(cat "$work/VERSION")"
fixcover=$(awk -F'\t' '$1 == "S" { i++; if ($2 == "fixcover") print i }' "$tmp/map")
write_series fixcover "pristine..$fixtip" "$fixout" "$version"
write_series cover "$fixtip..HEAD" "$out" \
    "$version, after the fixes of build/series-fixes"
echo "make-series: $(wc -l < "$tmp/assign") new files"
