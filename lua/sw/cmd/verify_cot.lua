-- `scriptworker verify-cot --task-type TYPE TASKID [options] [CONFIG]` (also
-- `verify_cot`, the Python command's name): verifies the chain of trust of
-- a real task against the configured Queue, as the worker would before
-- running its script, and prints the chain, each check and the verdict.
-- Exit status: 0 the chain holds, 1 it does not, 2 usage or configuration.
local M = {}

M.USAGE = [[
usage: scriptworker verify-cot --task-type TYPE TASKID [--policy FILE]
                               [--cot-product PRODUCT] [--verify-sigs]
                               [--no-check-task] [--cleanup] [-v] [CONFIG]
       verify_cot TASKID --task-type TYPE [...]

Verifies the chain of trust of task TASKID as a TYPE task (signing,
beetmover, decision, ...) against the Queue of CONFIG's taskcluster_root_url
(or TASKCLUSTER_ROOT_URL), exactly as the worker does before running its
script: the chain of upstream tasks, their chain-of-trust artifacts and
signatures, the upstream artifacts' digests, the task graph, the rebuild of
decision and action tasks from .taskcluster.yml, and the trace back to a
trusted repository. Prints the chain, each check and the verdict.

CONFIG (YAML or JSON) needs only what verification reads: for example
taskcluster_root_url, cot_product and the keys it overrides. Without
credentials the Queue is called anonymously.

Options:
  --task-type TYPE      the task type of TASKID (required)
  --policy FILE         an instance policy; its folder is the policy set
                        (default: CONFIG's policy_dir, else the installed one)
  --cot-product P       the product (default: CONFIG's, else firefox)
  --verify-sigs         check ed25519 signatures whatever CONFIG says
  --no-check-task       do not verify TASKID's own chain-of-trust artifact
  --cleanup             remove the working directory at the end
  -v, --verbose         debug logging
  -h, --help            this help

The GitHub token may come from SCRIPTWORKER_GITHUB_OAUTH_TOKEN.
Exit status: 0 the chain holds, 1 it does not, 2 usage or configuration error.
]]

local function eprint(...)
  io.stderr:write(table.concat({ ... }), "\n")
end

function M.parse(args)
  local o = { check_task = true }
  local positional = {}
  local i = 1
  local function value(name)
    local v = args[i + 1]
    if v == nil then
      return nil, name .. " needs a value", "usage"
    end
    i = i + 1
    return v
  end
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    if name then
      a = name
      table.insert(args, i + 1, inline)
    end
    local err
    if a == "--task-type" then
      o.task_type, err = value(a)
    elseif a == "--policy" then
      o.policy, err = value(a)
    elseif a == "--cot-product" then
      o.cot_product, err = value(a)
    elseif a == "--verify-sigs" then
      o.verify_sigs = true
    elseif a == "--no-check-task" then
      o.check_task = false
    elseif a == "--cleanup" then
      o.cleanup = true
    elseif a == "-v" or a == "--verbose" then
      o.verbose = true
    elseif a == "-h" or a == "--help" then
      o.help = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a, "usage"
    else
      positional[#positional + 1] = a
    end
    if err then
      return nil, err, "usage"
    end
    i = i + 1
  end
  if o.help then
    return o
  end
  if not o.task_type then
    return nil, "--task-type is required", "usage"
  end
  if #positional < 1 then
    return nil, "TASKID is required", "usage"
  end
  if #positional > 2 then
    return nil, "too many arguments", "usage"
  end
  o.task_id = positional[1]
  o.config = positional[2]
  if not o.task_id:match("^[A-Za-z0-9_-]+$") then
    return nil, string.format("%q is not a taskId", o.task_id), "usage"
  end
  return o
end

local function run(o)
  local config_mod = require("sw.config")
  local fs = require("sw.fs")
  local log = require("sw.log")
  local json = require("sw.json")
  local queue = require("sw.queue")
  local secrets = require("sw.secrets")
  local verify = require("sw.cot.verify")

  local overrides = {}
  if o.cot_product then
    overrides.cot_product = o.cot_product
  end
  local env_root = os.getenv("TASKCLUSTER_ROOT_URL")
  local config, creds, info = config_mod.load_with_policy(o.config, {
    policy_file = o.policy,
    verify_only = true,
    overrides = overrides,
  })
  if not config then
    for _, m in ipairs(creds) do
      eprint("verify-cot: ", m)
    end
    return 2
  end
  if (config.cot_product == nil or config.cot_product == json.null) and not o.cot_product then
    -- The Python command's default product.
    local c2
    c2, creds, info = config_mod.load_with_policy(o.config, {
      policy_file = o.policy, verify_only = true, overrides = { cot_product = "firefox" },
    })
    config = c2
    if not config then
      for _, m in ipairs(creds) do
        eprint("verify-cot: ", m)
      end
      return 2
    end
  end
  if o.config == nil and env_root and env_root ~= "" then
    config.taskcluster_root_url = env_root
  end
  local set = info.policy
  if not set.task_types[o.task_type] then
    eprint(string.format("verify-cot: --task-type: %q is not a task type of %s (%s)", o.task_type, set.dir,
      table.concat(config_mod.sorted_keys(set.task_types), ", ")))
    return 2
  end
  config.cot_job_type = o.task_type
  if o.verify_sigs then
    config.verify_cot_signature = true
  end
  local token = os.getenv("SCRIPTWORKER_GITHUB_OAUTH_TOKEN")
  if token and token ~= "" then
    secrets.add(token)
    config.github_oauth_token = token
  end
  log.set_level(o.verbose and "debug" or "info")
  local work_dir = assert(fs.tmpdir("verify-cot-"))
  config.work_dir = work_dir
  for _, n in ipairs(info.notes) do
    log.info(n)
  end
  log.info("policy set", { dir = set.dir, digest = set.digest })
  local q = queue.new({
    root_url = config.taskcluster_root_url,
    credentials = creds,
    retries = math.max(0, (config.queue_retries or 5) - 1),
  })
  local task, err = q:call("task", o.task_id)
  if not task then
    eprint("verify-cot: task ", o.task_id, ": ", tostring(err))
    if o.cleanup then
      fs.rmtree(work_dir)
    end
    return 1
  end
  local log_path = work_dir .. "/chain_of_trust.log"
  local ok, chain_or_msg, status = verify.verify_chain({
    config = config,
    policy = set,
    queue = q,
    task_id = o.task_id,
    task = task,
    work_dir = work_dir,
    log_path = log_path,
    check_task = o.check_task,
    keys_from_config = info.keys_from_config,
  })
  local out = io.stdout
  if ok then
    local chain = chain_or_msg
    out:write(string.format("%s %s (%s on %s)\n", chain.root.name, chain.root.task_id, chain.root.task_type,
      chain.root.worker_impl))
    for _, l in ipairs(chain.links) do
      out:write(string.format("  %s %s (%s on %s)\n", l.name, l.task_id, l.task_type, l.worker_impl))
    end
    out:write(string.format("chain of trust verified (%d links; policy digest %s)\n", #chain.links,
      tostring(set.digest)))
  else
    out:write(string.format("chain of trust verification FAILED (%s):\n%s\n", status, chain_or_msg))
  end
  if o.cleanup then
    fs.rmtree(work_dir)
  else
    out:write("work directory: " .. work_dir .. " (log: " .. log_path .. ")\n")
  end
  return ok and 0 or 1
end

function M.run(args)
  local o, err = M.parse(args)
  if not o then
    eprint("verify-cot: ", err)
    io.stderr:write(M.USAGE)
    return 2
  end
  if o.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  local sched = require("sw.sched")
  return sched.run(run, o)
end

return M
