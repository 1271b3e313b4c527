-- `scriptworker run-task TASK_JSON [CONFIG]`: the task pipeline for a task
-- definition from a file, without Taskcluster: task.json, the script, its
-- log, the artifacts left in artifact_dir with a signed chain-of-trust
-- artifact, and a summary on stdout.
local M = {}

local function eprint(...)
  io.stderr:write(table.concat({ ... }), "\n")
end

local USAGE = [[
usage: scriptworker run-task TASK_JSON [CONFIG]

Runs the task pipeline for the task definition in TASK_JSON without a
Queue: writes task.json, runs task_script, leaves the script's artifacts in
artifact_dir with a chain-of-trust artifact (signed when the config names
a key), and prints a summary.
CONFIG defaults to ./scriptworker.yaml. Exits 0 when the script succeeded.
]]

function M.run(args)
  if args[1] == "--help" or args[1] == "-h" then
    io.stdout:write(USAGE)
    return 0
  end
  local task_path, config_path = args[1], args[2] or "scriptworker.yaml"
  if not task_path or #args > 2 then
    eprint("usage: scriptworker run-task TASK_JSON [CONFIG]")
    return 2
  end
  local json = require("sw.json")
  local task_def, err = json.decode_file(task_path)
  if task_def == nil then
    eprint("scriptworker: run-task: ", require("sw.config").user_message(err))
    return 2
  end
  if json.type(task_def) ~= "object" then
    eprint("scriptworker: run-task: ", task_path, ": a task definition must be a JSON object")
    return 2
  end
  local config_mod = require("sw.config")
  -- No Queue is involved: credentials are optional here.
  local config, msgs = config_mod.load(config_path, {
    env = function(k)
      if k == "TASKCLUSTER_CLIENT_ID" then
        return os.getenv(k) or "run-task"
      elseif k == "TASKCLUSTER_ACCESS_TOKEN" then
        return os.getenv(k) or "run-task-no-token"
      end
      return os.getenv(k)
    end,
  })
  if not config then
    for _, m in ipairs(msgs) do
      eprint("scriptworker: ", m)
    end
    return 2
  end
  require("sw.log").set_level(config.verbose and "debug" or "info")
  local sched = require("sw.sched")
  local worker = require("sw.worker")
  local task_id = task_path:match("([^/]+)%.json$") or "local-task"
  local summary, rerr = sched.run(worker.run_local, config, task_def, { task_id = task_id })
  if not summary then
    eprint("scriptworker: run-task: ", tostring(rerr))
    return 2
  end
  local artifacts = require("sw.artifacts")
  local files = artifacts.collect(config.artifact_dir)
  local out = {}
  out[#out + 1] = string.format("task %s: status %d (%s%s)", summary.task_id, summary.status,
    summary.resolution, summary.reason and (" " .. summary.reason) or "")
  out[#out + 1] = "artifacts in " .. config.artifact_dir .. ":"
  for _, f in ipairs(files) do
    out[#out + 1] = string.format("  %s (%d bytes)", f.name, f.size)
  end
  if summary.cot then
    out[#out + 1] = "chain of trust: " .. summary.cot .. (summary.cot_sig and " (signed)" or " (unsigned)")
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return summary.status == 0 and 0 or 1
end

return M
