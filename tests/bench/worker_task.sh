#!/usr/bin/env bash
# The task script of bench_worker.sh: writes 10 small text artifacts and
# records its own start and end ($EPOCHREALTIME, no fork) in
# TIMES_DIR/<taskId>.<runId>.json.
# usage: worker_task.sh ARTIFACT_DIR TIMES_DIR
start=$EPOCHREALTIME
dir="$1/public/bench"
mkdir -p "$dir"
for i in 0 1 2 3 4 5 6 7 8 9; do
  printf 'artifact %d of task %s run %s\n' "$i" "$TASK_ID" "$RUN_ID" >"$dir/file$i.txt"
done
end=$EPOCHREALTIME
printf '{"start": %s, "finish": %s}\n' "$start" "$end" >"$2/$TASK_ID.$RUN_ID.json"
