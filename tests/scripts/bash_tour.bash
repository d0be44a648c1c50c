# The same kind of tour for bash (run by bash-static, the tools from the
# host's PATH): arrays, [[ ]], functions with locals, process
# substitution. `bash bash_tour.bash DATA_DIR`; it exits 3 on purpose.
set -u
D=$1
trap 'echo "exit trap: status $?"' EXIT
trap 'echo "got USR1"; usr1=$((usr1+1))' USR1
usr1=0
declare -A count
fruits=()
while read -r name qty; do
  fruits+=("$name")
  count[$name]=$(( ${count[$name]:-0} + qty ))
done < "$D/fruit.txt"
echo "fruits: ${#fruits[@]} first=${fruits[0]} last=${fruits[-1]}"
for k in $(printf '%s\n' "${!count[@]}" | sort); do echo "$k=${count[$k]}"; done
classify() {
  local n=$1 kind
  if [[ $n =~ ^[0-9]+$ && $n -gt 2 ]]; then kind=big; elif [[ $n == 1 ]]; then kind=one; else kind=other; fi
  echo "$n:$kind"
}
for n in 1 2 3 x; do classify "$n"; done
echo "kind still unset: ${kind:-unset}"
out=/tmp/bash_out.$$
printf '%s\n' b a c > "$out"
echo d >> "$out"
sort < "$out" | tr '\n' ' '; echo
ls /nonexistent-dir > "$out.err" 2>&1; echo "ls status $?"
echo "errlines $(wc -l < "$out.err")"
diff <(sort "$out") <(printf '%s\n' a b c d) && echo "process substitution ok"
mapfile -t lines < <(grep -rh needle "$D" | sort)
echo "mapfile: ${#lines[@]} ${lines[1]}"
r=$( (exit 4) ); echo "subshell status $?"
sleep 0.1 & p1=$!
(exit 9) & p2=$!
wait $p1; echo "wait p1 $?"
wait $p2; echo "wait p2 $?"
kill -USR1 $$
kill -USR1 $$
echo "usr1=$usr1"
find "$D" -type f -name '*.txt' | sort | xargs -n1 basename
awk 'NR%2==1 {print NR": "$0}' "$D/fruit.txt"
sed -e 's/ [0-9]*$//' "$D/fruit.txt" | sort -u | paste -sd, 
t=/tmp/bash_tar.$$
mkdir -p "$t/x"
tar -C "$D" -cf "$t/a.tar" .
tar -tf "$t/a.tar" | sort
tar -C "$t/x" -xf "$t/a.tar"
diff -r "$D" "$t/x" && echo "trees equal"
rm -rf "$t" "$out" "$out.err"
exit 3
