-- `scriptworker [--policy FILE] [CONFIG]`: the worker. CONFIG defaults to
-- ./scriptworker.yaml. A bad config stops start-up with exit 2 and one
-- line per problem, each naming the file and the key.
local M = {}

local function eprint(...)
  io.stderr:write(table.concat({ ... }), "\n")
end

function M.parse(args, usage)
  local opts = {}
  local positional = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--policy" then
      opts.policy = args[i + 1]
      if not opts.policy then
        return nil, "--policy needs a FILE", "usage"
      end
      i = i + 2
    elseif a:match("^%-%-policy=") then
      opts.policy = a:sub(10)
      i = i + 1
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a .. "\n" .. usage, "usage"
    else
      positional[#positional + 1] = a
      i = i + 1
    end
  end
  if #positional > 1 then
    return nil, "too many arguments\n" .. usage, "usage"
  end
  opts.config = positional[1] or "scriptworker.yaml"
  return opts
end

function M.run(args, cli)
  local opts, err = M.parse(args, cli.usage)
  if not opts then
    eprint("scriptworker: ", err)
    return 2
  end
  local config_mod = require("sw.config")
  local config, creds, info = config_mod.load_with_policy(opts.config, { policy_file = opts.policy })
  if not config then
    for _, m in ipairs(creds) do
      eprint("scriptworker: ", m)
    end
    return 2
  end
  local log = require("sw.log")
  log.set_level(config.verbose and "debug" or "info")
  local worker = require("sw.worker")
  local lok, lerr = worker.open_log(config)
  if not lok then
    eprint("scriptworker: ", opts.config, ": ", lerr)
    return 2
  end
  local set = info.policy
  for _, n in ipairs(info.notes) do
    log.info(n)
  end
  log.info("policy set loaded", {
    dir = set.dir,
    digest = set.digest,
    instance = set.instance and set.instance.name or "none",
    overridden_by_config = #info.overrides > 0 and table.concat(info.overrides, ",") or "none",
  })
  local sched = require("sw.sched")
  return sched.run(worker.run, config, creds, {
    policy = set,
    -- Where a reload reads the config and the set again (sw.reload).
    config_path = opts.config,
    policy_file = opts.policy,
    keys_from_config = info.keys_from_config,
    exit_when_idle = os.getenv("SW_EXIT_WHEN_IDLE") == "1",
    max_tasks = tonumber(os.getenv("SW_MAX_TASKS") or ""),
  })
end

return M
