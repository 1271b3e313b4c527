-- `scriptworker policy check [--policy FILE] [CONFIG]`: loads and validates
-- a policy folder as the worker would, then prints its digest and what it
-- defines, or every error. The folder is the one holding FILE (an instance
-- policy such as policies/signing.lua), else CONFIG's policy_dir when the
-- config sets one, else the folder installed with the runtime.
-- Exit status 0 valid, 1 invalid, 2 usage.
local policy = require("sw.policy")

local M = {}

M.USAGE = [[
usage: scriptworker policy check [--policy FILE] [CONFIG]

Loads the policy folder holding FILE (else CONFIG's policy_dir, else the
installed policies/), checks every file, and prints the digest of the folder,
the task types, worker implementations, products and instance policies it
defines, or every error found. Exit status 0 valid, 1 invalid, 2 usage.
]]

local function eprint(...)
  io.stderr:write(table.concat({ ... }), "\n")
end

local function parse(args)
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
    elseif a == "-h" or a == "--help" then
      opts.help = true
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      return nil, "unknown option " .. a, "usage"
    else
      positional[#positional + 1] = a
      i = i + 1
    end
  end
  if positional[1] ~= "check" and not opts.help then
    return nil, positional[1] and ("unknown subcommand " .. positional[1]) or "expected a subcommand", "usage"
  end
  if #positional > 2 then
    return nil, "too many arguments", "usage"
  end
  opts.config = positional[2]
  return opts
end

-- policy_dir from the config file, if it sets one. Only that key is read:
-- checking policies must not need the worker's credentials.
local function config_policy_dir(path)
  local yaml = require("sw.yaml")
  local doc, err, code = yaml.load_file(path)
  if doc == nil then
    return nil, string.format("%s: %s", path, err), code
  end
  if type(doc) == "table" and type(doc.policy_dir) == "string" then
    return doc.policy_dir
  end
  return false
end

local function names(tbl)
  local list = {}
  for k in pairs(tbl) do
    list[#list + 1] = k
  end
  table.sort(list)
  return list
end

function M.run(args)
  local opts, err = parse(args)
  if not opts then
    eprint("policy: ", err)
    io.stderr:write(M.USAGE)
    return 2
  end
  if opts.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  local dir
  if opts.policy then
    dir = opts.policy:match("^(.*)/[^/]*$") or "."
    if dir == "" then
      dir = "/"
    end
    local parent = dir:match("([^/]+)$")
    if parent == "task_types" or parent == "worker_impls" or parent == "products" then
      eprint("policy: ", opts.policy, ": not an instance policy (instance policies sit directly in ",
        "the policy folder, e.g. policies/signing.lua)")
      return 1
    end
  elseif opts.config then
    local cdir, cerr = config_policy_dir(opts.config)
    if cdir == nil then
      eprint("policy: ", cerr)
      return 1
    end
    dir = cdir or policy.default_dir()
  else
    dir = policy.default_dir()
  end

  local set, errors = policy.load(dir)
  if not set then
    eprint("policy: ", dir, ": ", #errors, #errors == 1 and " error" or " errors")
    for _, e in ipairs(errors) do
      eprint(e)
    end
    return 1
  end
  local out = io.stdout
  out:write("policy folder: ", dir, "\n")
  out:write("digest: ", set.digest, "\n")
  local labels = {
    task_types = "task types", worker_impls = "worker implementations",
    products = "products", instances = "instance policies",
  }
  for _, kind in ipairs(policy.KINDS) do
    local list = names(set[kind])
    out:write(string.format("%s (%d): %s\n", labels[kind], #list, table.concat(list, " ")))
  end
  if opts.policy then
    -- FILE must be one of the set's instance policies, not a product or a
    -- task type that happens to sit in the folder.
    local stem = opts.policy:match("([^/]+)%.lua$")
    local inst = stem and set.instances[stem]
    if not inst then
      eprint("policy: ", opts.policy, ": not an instance policy of ", dir,
        " (an instance policy is a .lua file directly in the folder)")
      return 1
    end
    out:write(string.format("instance: %s (cot_job_type %s, cot_product %s)\n", inst.name, inst.cot_job_type,
      inst.cot_product or "from the config"))
  end
  out:write("ok\n")
  return 0
end

return M
