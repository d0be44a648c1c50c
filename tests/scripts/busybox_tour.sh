# A tour of busybox sh and the applets scripts lean on; run as
# `busybox sh busybox_tour.sh DATA_DIR`. Output must not depend on pids,
# times or the order the host lists directories in.
set -u
bb=/bin/busybox
D=$1
trap 'echo "exit trap: done"' EXIT
trap 'echo "got USR1"' USR1
echo "== pipelines"
$bb cat "$D/fruit.txt" | $bb sort | $bb uniq | $bb wc -l
$bb awk '{s[$1]+=$2} END {for (k in s) print k, s[k]}' "$D/fruit.txt" | $bb sort
echo "== redirections"
out=/tmp/bbt_out.$$
echo first > "$out"
echo second >> "$out"
$bb ls /nonexistent-dir > "$out.err" 2>&1; echo "ls status $?"
$bb wc -l < "$out"
$bb sed 's/[0-9]*$/X/' "$out.err" | $bb head -c 20; echo
{ echo to-stderr >&2; echo to-stdout; } 2>&1 | $bb sort
echo "== subshells and substitution"
x=$(echo inner; (exit 3)); echo "x=$x status=$?"
( cd /; pwd ); pwd >/dev/null
n=$( $bb seq 1 10 | $bb awk '{t+=$1} END{print t}' ); echo "sum=$n"
echo "== background jobs"
( $bb sleep 0.1; echo bg1 > "$out.bg1" ) &
p1=$!
( exit 7 ) &
p2=$!
wait $p1; echo "wait p1: $?"
wait $p2; echo "wait p2: $?"
$bb cat "$out.bg1"
echo "== signal trap"
kill -USR1 $$
echo "after kill"
echo "== find xargs grep sed"
( cd "$D" && $bb find . -type f | $bb sort )
( cd "$D" && $bb find . -name '*.txt' -print0 | $bb xargs -0 $bb wc -l | $bb sort )
( cd "$D" && $bb grep -r needle . | $bb sort )
$bb grep -c apple "$D/fruit.txt"
$bb sed -n '2,3p;s/apple/APPLE/p' "$D/fruit.txt"
echo "== tar"
t=/tmp/bbt_tar.$$
$bb mkdir -p "$t/x"
( cd "$D" && $bb tar cf "$t/a.tar" . )
$bb tar tf "$t/a.tar" | $bb sort
( cd "$t/x" && $bb tar xf "$t/a.tar" )
( cd "$t/x" && $bb find . -type f | $bb sort | $bb xargs $bb md5sum )
$bb diff -r "$D" "$t/x" && echo "trees equal"
$bb rm -rf "$t" "$out" "$out.err" "$out.bg1"
echo end
