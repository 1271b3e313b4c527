-- The policy loader: reads a policy folder (task types, worker
-- implementations, products, instance policies; docs/policies.md), runs every
-- file in a sandbox of its own under an instruction budget, validates each
-- table against the schema of its kind, checks the references between files
-- and returns the whole set, or every error at once.
--
-- A policy set is all-or-nothing (as Redis builds a function library and
-- Kong its plugin iterator): the caller swaps the new set in only when
-- load() succeeded, so a broken edit never replaces a working set.
local json = require("sw.json")
local regex = require("sw.regex")
local sign = require("sw.sign")
local hash = require("sw.hash")
local fs = require("sw.fs")
local sandbox = require("sw.sandbox")

-- sw.config requires this module: its message helper is looked up late.
local function user_message(err, about)
  return require("sw.config").user_message(err, about)
end

local M = {}

-- Instructions a file may run while it loads (building its table) and a
-- policy function may run per call. Both are far above what the shipped
-- policies use (a few thousand) and far below a runaway loop's appetite.
M.LOAD_BUDGET = 10000000
M.CALL_BUDGET = 10000000
-- Bytes a file may allocate while it loads, and a policy function per call,
-- beyond what the worker had in use before (docs/policies.md "Limits").
-- The shipped policies need a few kilobytes.
M.LOAD_MEMORY = 64 * 1024 * 1024
M.CALL_MEMORY = 64 * 1024 * 1024
-- The count hook fires every STEP instructions until the budget is spent.
local STEP = 1000
-- A policy file is source text written by people; anything bigger is a
-- mistake (or not a policy).
M.MAX_FILE_SIZE = 1024 * 1024

-- Sub-folders of a policy folder, and the kind of the .lua files directly
-- in the folder.
M.KINDS = { "task_types", "worker_impls", "products", "instances" }
local FOLDER_KIND = { task_types = "task_types", worker_impls = "worker_impls", products = "products" }

--------------------------------------------------------------------------
-- Schemas: data, one table per kind (Kong style). A field is
--   { type = "string" | "boolean" | "function" | "array" | "map" | "record"
--            | "alternatives",
--     required = true?, description = "...",
--     elements = <field> (array), values = <field> (map, string keys),
--     fields = { name = <field> } (record: unknown keys are errors),
--     one_of = { values } (string), alternatives = { <field>, ... },
--     expected = "text for messages" (alternatives),
--     check = function(value) -> true | nil, what (extra rule) }
--------------------------------------------------------------------------

local function compile_check(pattern)
  local r, err = regex.compile(pattern)
  if not r then
    return nil, "does not compile (" .. (err:match('^regex: ".-": (.*)$') or err) .. ")"
  end
  local names = r:info().names or {}
  if not names.path then
    return nil, 'has no (?P<path>...) group, which names the repository path'
  end
  return true
end

local function key_check(text)
  local raw, err = sign.b64decode(text)
  if not raw then
    return nil, "not base64 (" .. err .. ")"
  end
  if #raw ~= 32 then
    return nil, string.format("not an ed25519 public key (decodes to %d bytes, expected 32)", #raw)
  end
  return true
end

local STRING_LIST = { type = "array", elements = { type = "string" } }

local NAME = { type = "string", required = true, description = "the file's basename, without .lua" }
local DESCRIPTION = { type = "string", required = true, description = "one line for people" }

M.SCHEMAS = {
  task_types = {
    name = NAME,
    description = DESCRIPTION,
    worker_impls = { type = "array", elements = { type = "string" },
      description = "the worker implementations allowed to run a task of this type (any when absent)" },
    worker_pools = { type = "string",
      description = "the product field listing the provisionerId/workerType pools allowed to run it" },
    artifacts = { type = "array", elements = { type = "string" },
      description = "artifacts downloaded from every link of this type and checked against its CoT" },
    parent = { type = "boolean",
      description = "decision/action: children are checked against its task-graph.json, its definition rebuilt" },
    verify = { type = "function", description = "verify(link, ctx) -> true | nil, reason" },
  },
  worker_impls = {
    name = NAME,
    description = DESCRIPTION,
    keys = { type = "array", required = true, elements = { type = "string", check = key_check },
      description = "base64 ed25519 public keys of its chain-of-trust signatures" },
    recognise = { type = "function", required = true,
      description = "recognise(task, ctx) -> boolean: the task carries this implementation's marks" },
    verify = { type = "function", required = true,
      description = "verify(link, ctx) -> true | nil, reason" },
  },
  products = {
    name = NAME,
    description = DESCRIPTION,
    cot_product_type = { type = "string", one_of = { "hg", "github" },
      description = "how decision tasks are rebuilt" },
    source_env_prefix = { type = "string", description = "prefix of the repository env variables" },
    official_github_repos_owner = { type = "string", description = "GitHub owner of the official repositories" },
    valid_tasks_for = { type = "array", elements = { type = "string" },
      description = "allowed extra.tasks_for values" },
    valid_decision_worker_pools = { type = "array", elements = { type = "string" }, pools = true,
      description = "provisionerId/workerType of decision and action tasks" },
    valid_docker_image_worker_pools = { type = "array", elements = { type = "string" }, pools = true,
      description = "provisionerId/workerType of docker-image tasks" },
    prebuilt_docker_image_task_types = { type = "alternatives",
      alternatives = { STRING_LIST, { type = "string", one_of = { "any" } } },
      expected = 'a list of task types or "any"',
      description = "task types allowed to run prebuilt or indexed docker images" },
    trusted_vcs_rules = { type = "array", description = "trusted repositories",
      elements = { type = "record", fields = {
        schemes = { type = "array", required = true, elements = { type = "string" } },
        netlocs = { type = "array", required = true, elements = { type = "string" } },
        path_regexes = { type = "array", required = true, elements = { type = "string", check = compile_check } },
        require_secret = { type = "boolean" },
      } } },
    cot_restricted_scopes = { type = "map", values = { type = "string" },
      description = "restricted scope -> tree level" },
    cot_restricted_trees = { type = "map", values = STRING_LIST,
      description = "tree level -> repository paths" },
  },
  instances = {
    name = NAME,
    description = DESCRIPTION,
    cot_job_type = { type = "string", required = true, description = "the task type of this worker's tasks" },
    cot_product = { type = "string", description = "the product, winning over the config's cot_product" },
    verify = { type = "function", description = "verify(chain, ctx) -> true | nil, reason" },
  },
}

--------------------------------------------------------------------------
-- Messages
--------------------------------------------------------------------------

-- A value as messages show it: strings quoted and shortened.
local function show(v)
  if v == nil then
    return "nil"
  elseif v == json.null then
    return "null"
  elseif type(v) == "string" then
    if #v > 60 then
      v = v:sub(1, 57) .. "..."
    end
    return string.format("%q", v)
  elseif type(v) == "table" then
    return "a table"
  elseif type(v) == "function" then
    return "a function"
  end
  return tostring(v)
end
M.show = show

local function key_path(path, k)
  if type(k) == "number" then
    return string.format("%s[%d]", path, k)
  elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return path == "" and k or path .. "." .. k
  end
  return string.format("%s[%s]", path, show(k))
end

local TYPE_TEXT = {
  string = "a string", boolean = "a boolean", ["function"] = "a function",
  array = "a list", map = "a table", record = "a table",
}

-- Validates value against field; appends "<where>: <what>, got <value>"
-- (without the file) to errs.
local function validate(value, field, path, errs)
  local t = field.type
  local function bad(what)
    errs[#errs + 1] = string.format("%s: %s, got %s", path, what, show(value))
  end
  if t == "alternatives" then
    for _, alt in ipairs(field.alternatives) do
      local sub = {}
      validate(value, alt, path, sub)
      if #sub == 0 then
        return
      end
    end
    return bad("expected " .. field.expected)
  elseif t == "string" or t == "boolean" or t == "function" then
    if type(value) ~= t then
      return bad("expected " .. TYPE_TEXT[t])
    end
    if field.one_of then
      local ok = false
      for _, v in ipairs(field.one_of) do
        ok = ok or v == value
      end
      if not ok then
        local quoted = {}
        for i, v in ipairs(field.one_of) do
          quoted[i] = show(v)
        end
        return bad("expected " .. table.concat(quoted, " or "))
      end
    end
    if field.check then
      local ok, what = field.check(value)
      if not ok then
        return bad(what)
      end
    end
    return
  end
  if type(value) ~= "table" or value == json.null then
    return bad("expected " .. TYPE_TEXT[t])
  end
  if t == "array" then
    -- Keys exactly 1..n: a hole or a named key is a mistake, not a list.
    local n = 0
    for k in next, value do
      if math.type(k) ~= "integer" or k < 1 then
        return bad(string.format("expected a list, but it has the key %s", show(k)))
      end
      n = n + 1
    end
    for i = 1, n do
      if rawget(value, i) == nil then
        return bad(string.format("expected a list, but item %d is missing", i))
      end
    end
    for i = 1, n do
      validate(rawget(value, i), field.elements, key_path(path, i), errs)
    end
  elseif t == "map" then
    local keys = {}
    for k in next, value do
      if type(k) ~= "string" then
        errs[#errs + 1] = string.format("%s: keys must be strings, got %s", path, show(k))
      else
        keys[#keys + 1] = k
      end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      validate(rawget(value, k), field.values, key_path(path, k), errs)
    end
  elseif t == "record" then
    local fields = field.fields
    for k in next, value do
      if fields[k] == nil then
        errs[#errs + 1] = string.format("%s: unknown field", key_path(path, k))
      end
    end
    local names = {}
    for k in pairs(fields) do
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = rawget(value, k)
      if v == nil then
        if fields[k].required then
          errs[#errs + 1] = string.format("%s: required field missing", key_path(path, k))
        end
      else
        validate(v, fields[k], key_path(path, k), errs)
      end
    end
  end
end

--------------------------------------------------------------------------
-- The sandbox
--------------------------------------------------------------------------

-- Functions and libraries a policy may use; everything else is absent.
-- string.dump is left out of the copy (it would expose bytecode); note that
-- ("").dump still reaches the real one through the string metatable, which
-- is harmless without a loader for binary chunks in the sandbox.
local ALLOWED_FUNCTIONS = {
  "pairs", "ipairs", "next", "type", "tostring", "tonumber", "select", "error", "assert", "pcall",
  "rawequal", "rawlen",
}
local ALLOWED_LIBRARIES = { "string", "table", "math", "utf8" }
local LEFT_OUT = { string = { dump = true } }

-- A read-only view of a copy of lib: assignments raise, pairs works.
local function readonly(lib, name)
  local copy = {}
  for k, v in pairs(lib) do
    if not (LEFT_OUT[name] and LEFT_OUT[name][k]) then
      copy[k] = v
    end
  end
  return setmetatable({}, {
    __index = copy,
    __newindex = function(_, k)
      error(string.format("%s is read-only (cannot set %s.%s)", name, name, tostring(k)), 2)
    end,
    __pairs = function()
      return next, copy, nil
    end,
    __metatable = false,
  })
end

local function caller_line(level)
  local info = debug.getinfo(level + 1, "l")
  return info and info.currentline or 0
end

-- A fresh global table for one policy file.
local function new_env(file)
  local base = { null = json.null }
  for _, name in ipairs(ALLOWED_FUNCTIONS) do
    base[name] = _G[name]
  end
  for _, name in ipairs(ALLOWED_LIBRARIES) do
    base[name] = readonly(_G[name], name)
  end
  return setmetatable({}, {
    __index = function(_, name)
      local v = base[name]
      if v == nil then
        error(string.format("%s: line %d: global %s is not available to policies",
          file, caller_line(2), show(name)), 0)
      end
      return v
    end,
    __newindex = function(_, name)
      error(string.format("%s: line %d: cannot set global %s (policies use locals and return a table)",
        file, caller_line(2), show(name)), 0)
    end,
    __metatable = false,
  })
end

-- Runs fn(...) under an instruction budget and a memory limit. Returns
-- pcall's results, or false and what stopped it.
--
-- Instructions (Redis style): a count hook adds up instructions; once the
-- budget is spent the hook raises on every line of policy code (functions
-- whose source is in `sources`), so a pcall inside the policy cannot
-- swallow the kill.
--
-- Memory: the executable's allocator (sw.sandbox, core/sandbox.c) refuses
-- to let more than `memory` bytes beyond what is in use at the start be
-- allocated; the refusal raises a memory error where the policy allocated,
-- and the hook then stops policy code as above. Under stock Lua (busted),
-- where the allocator is not ours, the hook watches collectgarbage("count")
-- instead (a full collection first, so garbage does not count).
-- Either way a call that hit a limit fails, even if the policy caught the
-- error itself. The caller's own hook is put back afterwards.
local function run_budgeted(budget, memory, sources, fn, ...)
  local old_hook, old_mask, old_count = debug.gethook()
  local used = 0
  local killed
  local budget_message = string.format("ran out of its instruction budget (%d instructions)", budget)
  local memory_message = string.format("ran out of its memory limit (%d bytes)", memory)
  local token = sandbox.limit_memory(memory)
  local gc_start = not token and collectgarbage("count")
  -- What stopped the policy, or nil while nothing did.
  local function exceeded()
    if token then
      if sandbox.memory_tripped() then
        return memory_message
      end
    elseif (collectgarbage("count") - gc_start) * 1024 > memory then
      collectgarbage("collect")
      if (collectgarbage("count") - gc_start) * 1024 > memory then
        return memory_message
      end
    end
    used = used + STEP
    if used >= budget then
      return budget_message
    end
    return nil
  end
  local function hook()
    if not killed then
      killed = exceeded()
      if not killed then
        return
      end
      debug.sethook(hook, "l", 1)
    end
    local info = debug.getinfo(2, "S")
    if info and sources[info.source] then
      error(killed, 0)
    end
  end
  debug.sethook(hook, "", math.min(STEP, budget))
  local res = table.pack(pcall(fn, ...))
  if old_hook then
    debug.sethook(old_hook, old_mask, old_count)
  else
    debug.sethook()
  end
  local tripped = token and sandbox.restore_memory(token)
  if tripped and not killed then
    killed = memory_message
  end
  if killed then
    res = table.pack(false, killed)
  end
  return res
end

--------------------------------------------------------------------------
-- Loading
--------------------------------------------------------------------------

local function basename(path)
  return path:match("([^/]+)/*$") or path
end

-- The kind and name of a file from its path inside the folder.
local function classify(rel)
  local folder, stem = rel:match("^([^/]+)/([^/]+)%.lua$")
  if folder then
    return FOLDER_KIND[folder], stem
  end
  stem = rel:match("^([^/]+)%.lua$")
  if stem then
    return "instances", stem
  end
  return nil
end

-- The digest of a folder: exactly what
--   cd DIR && LC_ALL=C find . -name '*.lua' | LC_ALL=C sort | xargs sha256sum | sha256sum
-- prints: sha256 over "<hex>  ./<path>\n" lines in bytewise path order
-- (fs.walk sorts that way). contents: optional {rel -> text} already read.
function M.digest(dir, contents)
  local entries, err, code = fs.walk(dir)
  if not entries then
    return nil, err, code
  end
  local h = hash.new("sha256")
  for _, rel in ipairs(entries) do
    if basename(rel):match("%.lua$") then
      local hex
      if contents and contents[rel] then
        hex = hash.string(contents[rel], "sha256")
      else
        local herr, hcode
        hex, herr, hcode = hash.file(dir .. "/" .. rel, "sha256")
        if not hex then
          return nil, herr, hcode
        end
      end
      h:update(hex .. "  ./" .. rel .. "\n")
    end
  end
  return h:hex()
end

-- Loads and checks the policy folder `dir`. Returns the set, or nil, the
-- sorted list of every error ("<folder>/<file>: <where>: <what>, got X") and a code.
-- opts.budget: instructions per file at load (default M.LOAD_BUDGET);
-- opts.call_budget: per policy call (default M.CALL_BUDGET); opts.memory and
-- opts.call_memory: bytes at load and per call (M.LOAD_MEMORY, M.CALL_MEMORY).
function M.load(dir, opts)
  opts = opts or {}
  local budget = opts.budget or M.LOAD_BUDGET
  local memory = opts.memory or M.LOAD_MEMORY
  local real, rerr, rcode = fs.realpath(dir)
  if not real then
    return nil, { string.format("%s: cannot read the policy folder: %s", dir, user_message(rerr, dir)) }, rcode
  end
  local st = fs.stat(real)
  if not st or st.type ~= "dir" then
    return nil, { string.format("%s: not a folder", dir) }, "ENOTDIR"
  end
  local top = basename(real)
  local entries, werr, wcode = fs.walk(real)
  if not entries then
    return nil, { string.format("%s: cannot read the policy folder: %s", dir, user_message(werr, real)) }, wcode
  end

  local set = {
    dir = dir, files = {}, call_budget = opts.call_budget or M.CALL_BUDGET,
    call_memory = opts.call_memory or M.CALL_MEMORY,
    task_types = {}, worker_impls = {}, products = {}, instances = {},
    -- "<folder>/<file>" -> policy table and back; the chunk sources of the
    -- set (for the budget hook).
    policy_of = {}, file_of = {}, sources = {},
  }
  local errors = {}
  local function fail(file, msg)
    errors[#errors + 1] = file .. ": " .. msg
  end
  local contents = {}
  local loaded = {} -- {file, kind, name, tbl}
  -- Names with a file of their kind, valid or not: a reference to a file
  -- that is broken is reported once, by that file.
  local declared = { task_types = {}, worker_impls = {}, products = {}, instances = {} }

  for _, rel in ipairs(entries) do
    if basename(rel):match("%.lua$") then
      local file = top .. "/" .. rel
      set.files[#set.files + 1] = file
      local kind, stem = classify(rel)
      if kind then
        declared[kind][stem] = true
      end
      local text, ferr = fs.read_file(real .. "/" .. rel, M.MAX_FILE_SIZE)
      if text then
        contents[rel] = text
      end
      if not kind then
        fail(file, "not a policy location (policy files live in task_types/, worker_impls/, "
          .. "products/ or directly in the folder)")
      elseif not text then
        fail(file, "cannot read: " .. ferr)
      else
        local source = "@" .. file
        local chunk, lerr = load(text, source, "t", new_env(file))
        if not chunk then
          errors[#errors + 1] = lerr
        else
          set.sources[source] = true
          local res = run_budgeted(budget, memory, set.sources, chunk)
          if not res[1] then
            local msg = tostring(res[2])
            if msg:sub(1, #file + 1) == file .. ":" then
              errors[#errors + 1] = msg
            else
              fail(file, msg)
            end
          elseif type(res[2]) ~= "table" then
            fail(file, "expected the file to return a table, got " .. show(res[2]))
          else
            loaded[#loaded + 1] = { file = file, kind = kind, name = stem, tbl = res[2] }
          end
        end
      end
    end
  end

  -- Shape of every file.
  for _, p in ipairs(loaded) do
    local errs = {}
    validate(p.tbl, { type = "record", fields = M.SCHEMAS[p.kind] }, "", errs)
    if type(p.tbl.name) == "string" and p.tbl.name ~= p.name then
      errs[#errs + 1] = string.format("name: must equal the file's basename %s, got %s", show(p.name),
        show(p.tbl.name))
    end
    for _, e in ipairs(errs) do
      fail(p.file, e)
    end
    if #errs == 0 then
      local by_name = set[p.kind]
      if by_name[p.tbl.name] then
        fail(p.file, string.format("name: %s is also defined by %s, got %s", p.kind,
          set.file_of[by_name[p.tbl.name]], show(p.tbl.name)))
      else
        by_name[p.tbl.name] = p.tbl
        set.policy_of[p.file] = p.tbl
        set.file_of[p.tbl] = p.file
      end
    end
  end

  -- References between files.
  local pool_fields = {}
  for k, f in pairs(M.SCHEMAS.products) do
    if f.pools then
      pool_fields[#pool_fields + 1] = k
    end
  end
  table.sort(pool_fields)
  for _, tt in pairs(set.task_types) do
    local file = set.file_of[tt]
    for i, impl in ipairs(tt.worker_impls or {}) do
      if not declared.worker_impls[impl] then
        fail(file, string.format("worker_impls[%d]: no worker implementation of that name in %s/worker_impls/, got %s",
          i, top, show(impl)))
      end
    end
    if tt.worker_pools and not (M.SCHEMAS.products[tt.worker_pools] or {}).pools then
      fail(file, string.format("worker_pools: expected a pool field of the products (%s), got %s",
        table.concat(pool_fields, " or "), show(tt.worker_pools)))
    end
  end
  for _, inst in pairs(set.instances) do
    local file = set.file_of[inst]
    if not declared.task_types[inst.cot_job_type] then
      fail(file, string.format("cot_job_type: no task type of that name in %s/task_types/, got %s",
        top, show(inst.cot_job_type)))
    end
    if inst.cot_product and not declared.products[inst.cot_product] then
      fail(file, string.format("cot_product: no product of that name in %s/products/, got %s",
        top, show(inst.cot_product)))
    end
  end
  for _, product in pairs(set.products) do
    local file = set.file_of[product]
    local trees = product.cot_restricted_trees or {}
    for scope, level in pairs(product.cot_restricted_scopes or {}) do
      if trees[level] == nil then
        fail(file, string.format("cot_restricted_scopes[%s]: no such level in cot_restricted_trees, got %s",
          show(scope), show(level)))
      end
    end
  end

  -- A folder without task types, worker implementations or products is the
  -- wrong folder, not a policy that allows nothing.
  local needed = { task_types = "task type", worker_impls = "worker implementation", products = "product" }
  for kind, what in pairs(needed) do
    if next(declared[kind]) == nil then
      fail(top, string.format("no %s policy (expected %s/%s/*.lua)", what, top, kind))
    end
  end

  if #errors > 0 then
    table.sort(errors)
    return nil, errors, "invalid"
  end
  local digest, derr, dcode = M.digest(real, contents)
  if not digest then
    return nil, { string.format("%s: cannot compute the digest: %s", dir, derr) }, dcode
  end
  set.digest = digest
  return set
end

-- Calls the function `fn` (a field name, e.g. "verify") of the policy `file`
-- ("<folder>/<file>" as in set.files, or the policy table itself) with the
-- arguments, under the call budget. Returns what the function returns, or
-- nil, "<file>: <fn>: <error>", "error" when it raised or ran out of budget.
function M.call(set, file, fn, ...)
  local tbl = file
  if type(file) == "string" then
    tbl = set.policy_of[file]
  else
    file = set.file_of[tbl]
  end
  if not tbl or not file then
    error(string.format("policy.call: %s is not a policy of this set", show(file)), 2)
  end
  local f = tbl[fn]
  if type(f) ~= "function" then
    error(string.format("policy.call: %s: %s is not a function", file, show(fn)), 2)
  end
  local res = run_budgeted(set.call_budget or M.CALL_BUDGET, set.call_memory or M.CALL_MEMORY, set.sources, f, ...)
  if not res[1] then
    return nil, string.format("%s: %s: %s", file, fn, tostring(res[2])), "error"
  end
  return table.unpack(res, 2, res.n)
end

-- Whether the user u ({uid, gid}, as task.resolve_script_user resolves
-- task_script_user) could change the policy set in `dir`: write to the
-- folder, a sub-folder or a file in it, or rename the folder away through a
-- writable ancestor (a sticky one only lets it move what it owns). The
-- script runs with its uid and primary group only (libuv drops the
-- supplementary groups), so the mode bits tell. Returns true, or nil,
-- "<path> (mode NNNN, uid U, gid G)" naming the first such path, "unsafe".
function M.safe_from(dir, u)
  local real, err, code = fs.realpath(dir)
  if not real then
    return nil, string.format("%s: %s", dir, tostring(err)), code
  end
  local function writable(st)
    return (st.uid == u.uid and st.mode & 128 ~= 0) or (st.gid == u.gid and st.mode & 16 ~= 0)
      or st.mode & 2 ~= 0
  end
  local function describe(path, st)
    return string.format("%s (mode %04o, uid %d, gid %d)", path, st.mode, st.uid, st.gid)
  end
  local paths = { real }
  local entries, werr, wcode = fs.walk(real, { dirs = true })
  if not entries then
    return nil, werr, wcode
  end
  for _, rel in ipairs(entries) do
    paths[#paths + 1] = real .. "/" .. rel
  end
  for _, p in ipairs(paths) do
    local st = fs.stat(p)
    if st and (writable(st) or st.uid == u.uid) then
      -- The owner may chmod it at will.
      return nil, describe(p, st), "unsafe"
    end
  end
  local child, child_st = real, fs.stat(real)
  while child ~= "/" do
    local parent = child:match("^(.*)/[^/]*$")
    parent = parent == "" and "/" or parent
    local st = fs.stat(parent)
    if st and (st.uid == u.uid
        or (writable(st) and not (st.mode & 512 ~= 0 and child_st and child_st.uid ~= u.uid))) then
      return nil, describe(parent, st), "unsafe"
    end
    child, child_st = parent, st
  end
  return true
end

-- The policy folder installed with the runtime: beside lua/ (the source
-- tree, or PREFIX/share/scriptworker after `make install`).
function M.default_dir()
  local here = package.searchpath("sw.policy", package.path)
  local home = here and ("/" .. here):match("^(.*)/lua/sw/policy%.lua$")
  if home then
    home = home:sub(2)
    return (home == "" and "." or home) .. "/policies"
  end
  local sw_home = rawget(_G, "SW_HOME")
  return (sw_home or ".") .. "/policies"
end

return M
