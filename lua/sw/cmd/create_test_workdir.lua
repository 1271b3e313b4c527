-- `scriptworker create-test-workdir [--overwrite] TASKID [CONFIG]` (the
-- Python worker's create_test_workdir): fetches a real task from the Queue
-- of CONFIG into a fresh work_dir, as the worker lays it out before it
-- runs the script (task.json, current_task_info.json), so that the task
-- script can be run by hand against it. Nothing is claimed or reported.
-- Exit status: 0 done, 1 the Queue could not give the task, 2 usage or
-- configuration.
local M = {}

M.USAGE = [[
usage: scriptworker create-test-workdir [--overwrite] TASKID [CONFIG]

Fetches task TASKID (its definition and status) from the Queue of CONFIG
(default ./scriptworker.yaml; taskcluster_root_url, or TASKCLUSTER_ROOT_URL)
into CONFIG's work_dir, emptied first, as the worker writes it before it
runs task_script: work_dir/task.json and work_dir/current_task_info.json
(the latest run). artifact_dir and task_log_dir are created if missing.
Then run task_script by hand, from the directory the worker would run in.
Without credentials the Queue is called anonymously. The upstream artifacts
a script reads from work_dir/cot/ come from `scriptworker verify-cot`.

Options:
  --overwrite   empty a work_dir that is not empty (else: exit 2)
  -h, --help    this help
]]

local function eprint(...)
  io.stderr:write(table.concat({ ... }), "\n")
end

function M.parse(args)
  local o = {}
  local positional = {}
  for _, a in ipairs(args) do
    if a == "--overwrite" then
      o.overwrite = true
    elseif a == "-h" or a == "--help" then
      o.help = true
    elseif a:sub(1, 1) == "-" then
      return nil, "unknown option " .. a, "usage"
    else
      positional[#positional + 1] = a
    end
  end
  if o.help then
    return o
  end
  if #positional < 1 or #positional > 2 then
    return nil, "expected TASKID [CONFIG]", "usage"
  end
  o.task_id = positional[1]
  o.config = positional[2] or "scriptworker.yaml"
  return o
end

local function fetch(config, creds, task_id)
  local queue = require("sw.queue")
  local q = queue.new({
    root_url = config.taskcluster_root_url,
    credentials = creds,
    retries = math.max(0, (config.queue_retries or 5) - 1),
  })
  local def, err = q:call("task", task_id)
  if not def then
    return nil, err, err.code
  end
  local status
  status, err = q:call("status", task_id)
  if not status then
    return nil, err, err.code
  end
  return def, status.status
end

function M.run(args)
  local o, perr = M.parse(args)
  if not o then
    eprint("scriptworker create-test-workdir: ", perr)
    io.stderr:write(M.USAGE)
    return 2
  end
  if o.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  local config_mod = require("sw.config")
  local fs = require("sw.fs")
  local sched = require("sw.sched")
  local task = require("sw.task")
  local config, creds = config_mod.load(o.config, { verify_only = true })
  if not config then
    for _, m in ipairs(creds) do
      eprint("scriptworker create-test-workdir: ", m)
    end
    return 2
  end
  for _, k in ipairs({ "work_dir", "artifact_dir", "task_log_dir" }) do
    if type(config[k]) ~= "string" or config[k] == "..." then
      eprint("scriptworker create-test-workdir: ", o.config, ": ", k, ": needs to be defined")
      return 2
    end
  end
  local work_dir = config.work_dir
  local listing = fs.listdir(work_dir)
  if listing and #listing > 0 and not o.overwrite then
    eprint("scriptworker create-test-workdir: ", work_dir, " is not empty (--overwrite empties it)")
    return 2
  end
  local def, status = sched.run(fetch, config, creds, o.task_id)
  if not def then
    eprint("scriptworker create-test-workdir: ", o.task_id, ": ", config_mod.user_message(status))
    return 1
  end
  local runs = type(status) == "table" and status.runs or {}
  local run_id = #runs > 0 and runs[#runs].runId or 0
  fs.rmtree(work_dir)
  local ok, err = fs.mkdirp(work_dir)
  for _, d in ipairs({ config.artifact_dir, config.task_log_dir }) do
    if ok then
      ok, err = fs.mkdirp(d)
    end
  end
  if ok then
    ok, err = task.write_task_files(work_dir, def, o.task_id, run_id)
  end
  if not ok then
    eprint("scriptworker create-test-workdir: ", config_mod.user_message(err))
    return 1
  end
  io.stdout:write(string.format("%s/task.json: task %s (run %d)\n", work_dir, o.task_id, run_id))
  local argv = {}
  for i, a in ipairs(type(config.task_script) == "table" and config.task_script or {}) do
    argv[i] = a:find("[^%w%-_./=:,@+]") and string.format("'%s'", a:gsub("'", "'\\''")) or a
  end
  if #argv > 0 then
    io.stdout:write("run the script from ", fs.realpath(".") or ".", ":\n  ", table.concat(argv, " "), "\n")
  end
  return 0
end

return M
