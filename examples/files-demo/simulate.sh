#!/bin/sh
# The files demo of `npm start -- --files`: each instance reads its shard of the data and the parameters it was
# given as resources, and leaves its result under out/, which the action brings back to the workspace.
set -eu
shard="$1"
scale=$(sed -n 's/^scale=//p' examples/files-demo/params.env)
mkdir -p out
total=0
for file in examples/files-demo/data/*.csv; do
  line=$(sed -n "$((shard + 1))p" "$file")
  total=$((total + ${line:-0} * scale))
done
echo "shard $shard: $total" > "out/shard-$shard.txt"
echo "shard $shard: $total, from row $((shard + 1)) of $(ls examples/files-demo/data | wc -l) data files"
