#!/usr/bin/env bash
# An example task script, as a real one (signing, beetmover...) would be
# run: it reads the task from work_dir/task.json, writes its results under
# artifact_dir, and says what it does on stdout (streamed into
# public/logs/live_backing.log). Its exit code decides the resolution.
set -euo pipefail
work_dir=${SW_DEMO_WORK_DIR:-$PWD}
artifact_dir=${SW_DEMO_ARTIFACT_DIR:-$work_dir/../artifacts}
echo "demo-task: task $TASK_ID run $RUN_ID on $TASKCLUSTER_ROOT_URL"
echo "demo-task: payload is $(tr -d '\n' < "$work_dir/task.json" | head -c 200)..."
if [ -n "${TASKCLUSTER_CREDENTIALS_FD:-}" ]; then
  creds=$(cat <&"$TASKCLUSTER_CREDENTIALS_FD")
  echo "demo-task: temporary credentials for ${#creds} bytes of JSON on fd $TASKCLUSTER_CREDENTIALS_FD"
fi
mkdir -p "$artifact_dir/public/build"
echo "hello from the demo task" > "$artifact_dir/public/build/hello.txt"
printf '{"task": "%s", "files": 2}\n' "$TASK_ID" > "$artifact_dir/public/build/manifest.json"
head -c 4096 /dev/zero | tr '\0' 'x' > "$artifact_dir/public/build/target.bin"
echo "demo-task: wrote 3 artifacts" >&2
exit "${SW_DEMO_EXIT:-0}"
