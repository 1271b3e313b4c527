-- sw.cot.verify: chain-of-trust verification, the Python scriptworker's
-- verify_chain_of_trust (cot/VERIFY.md), stricter where it marks a quirk.
-- This file holds the mechanism: building the chain, downloading and
-- checking chain-of-trust artifacts, signatures and upstream artifacts,
-- and walking the phases in order. Every rule that decides something is
-- asked of the policy set (sw.policy): task types, worker implementations,
-- products (through the resolved config) and the instance policy.
--
--   local verify = require("sw.cot.verify")
--   local ok, msg, status = verify.verify_chain({
--     config = config, policy = set, queue = client, task_id = id,
--     task = definition, work_dir = dir, log_path = path,
--   })
--
-- Returns true, chain on success; nil, message, status on failure, where
-- status is "malformed-payload" (the chain does not hold) or
-- "intermittent-task" (a Queue or mirror could not be reached after the
-- retries: not evidence of tampering, so the task is retried).
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local log = require("sw.log")
local regex = require("sw.regex")
local sched = require("sw.sched")
local schema = require("sw.schema")
local secrets = require("sw.secrets")
local config_mod = require("sw.config")
local ed25519 = require("sw.ed25519")
local queue_mod = require("sw.queue")
local link_mod = require("sw.cot.link")
local graph = require("sw.cot.graph")
local tree = require("sw.cot.tree")
local v2 = require("sw.cot.v2")
local v2_fetch = require("sw.cot.v2.fetch")
local sw_url = require("sw.url")

local M = {}

local type, ipairs, pairs, format, tostring = type, ipairs, pairs, string.format, tostring
local fail, fail_transient, show = link_mod.fail, link_mod.fail_transient, link_mod.show
local is_object, is_array = link_mod.is_object, link_mod.is_array

M.COT_NAME = "public/chain-of-trust.json"
M.SIG_NAME = "public/chain-of-trust.json.sig"
-- Largest chain-of-trust body accepted (a real one lists every artifact of
-- a task: a few hundred KiB for the biggest l10n tasks).
M.MAX_COT_BYTES = 32 * 1024 * 1024
M.MAX_SIG_BYTES = 4096
-- A taskId as the Queue makes them (slugid, 22 characters).
local TASK_ID = "^[A-Za-z0-9_-]+$"

-- ---- the audit log ------------------------------------------------------

-- Each step goes to sw.log and to the chain-of-trust log file, in the
-- Python worker's format (`%(asctime)s %(levelname)8s - %(message)s`),
-- redacted like every log line.
local Audit = {}
Audit.__index = Audit

local function new_audit(path)
  local self = setmetatable({ path = path }, Audit)
  if path then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      fs.mkdirp(dir)
    end
    -- Created without following a link that could be waiting there.
    local f = io.open(path, "a")
    self.file = f
  end
  return self
end

local LEVEL_NAMES = { error = "ERROR", warn = "WARNING", info = "INFO", debug = "DEBUG" }

function Audit:say(level, msg, fields)
  log[level](msg, fields)
  if self.file then
    local text = msg
    if fields then
      local keys = {}
      for k in pairs(fields) do
        keys[#keys + 1] = k
      end
      table.sort(keys)
      for _, k in ipairs(keys) do
        text = text .. format(" %s=%s", k, tostring(fields[k]))
      end
    end
    -- One line per event: a newline in a field (a file name from a task)
    -- cannot forge another line.
    text = text:gsub("[%c]", function(c)
      return format("\\x%02x", c:byte())
    end)
    self.file:write(format("%s %8s - %s\n", os.date("!%Y-%m-%dT%H:%M:%S"), LEVEL_NAMES[level],
      log.redact(text)))
    self.file:flush()
  end
end

function Audit:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
end

-- ---- helpers ------------------------------------------------------------

local function http_redact(url)
  return require("sw.http").redact_url(url)
end

local function is_transient(err)
  if type(err) ~= "table" then
    return false
  end
  if type(err.status) == "number" then
    return err.status >= 500 or err.status == 429
  end
  return queue_mod.RETRY_CODES[err.code] == true
end

local function set_of(list)
  local s = {}
  if type(list) == "table" then
    for _, v in ipairs(list) do
      s[v] = true
    end
  end
  return s
end

-- Shell-glob (fnmatch) pattern -> Lua pattern: `*` matches anything,
-- `/` included; `?` one character; `[...]` a class (`[!...]` negated).
local function glob_pattern(glob)
  local out, i = { "^" }, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      out[#out + 1] = ".*"
    elseif c == "?" then
      out[#out + 1] = "."
    elseif c == "[" then
      local j = glob:find("]", i + 2, true)
      if not j then
        out[#out + 1] = "%["
      else
        local body = glob:sub(i + 1, j - 1)
        local neg = body:sub(1, 1) == "!"
        if neg then
          body = body:sub(2)
        end
        body = body:gsub("[%%%^%]]", "%%%0")
        out[#out + 1] = "[" .. (neg and "^" or "") .. body .. "]"
        i = j
      end
    else
      out[#out + 1] = c:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end
M.glob_pattern = glob_pattern

local cot_validator
local function validate_cot(body)
  if not cot_validator then
    cot_validator = assert(schema.load(config_mod.data_dir() .. "/cot_v1_schema.json"))
  end
  return cot_validator(body)
end

-- ---- the engine ---------------------------------------------------------

local Engine = {}
Engine.__index = Engine

-- Calls a policy function through the loader's budget (sw.policy.call);
-- a function the policy does not define passes.
function Engine:call(tbl, fname, ...)
  if tbl[fname] == nil then
    return true
  end
  return require("sw.policy").call(self.policy, tbl, fname, ...)
end

function Engine:say(level, msg, fields)
  self.audit:say(level, msg, fields)
end

function Engine:link_by_id(task_id)
  return self.by_id[task_id]
end

-- The links that phases 5 and 6 verify: chain.links when the root's taskId
-- is one of them, else the root and the links.
function Engine:all_links()
  if self.by_id[self.root.task_id] and self.by_id[self.root.task_id] ~= self.root then
    return self.links
  end
  local all = { self.root }
  for _, l in ipairs(self.links) do
    all[#all + 1] = l
  end
  return all
end

-- The context handed to policy functions.
function Engine:policy_ctx()
  if self.ctx then
    return self.ctx
  end
  local engine = self
  self.ctx = {
    config = self.config,
    root = self.root,
    links = self.links,
    restricted = self.restricted or false,
    null = json.null,
    get_link = function(task_id)
      if task_id == engine.root.task_id and not engine.by_id[task_id] then
        return engine.root
      end
      return engine.by_id[task_id]
    end,
    regex_search = function(pattern, subject)
      return regex.search(pattern, subject)
    end,
    json_equal = function(a, b)
      return schema.equal(a, b)
    end,
    parse_url = function(s)
      return sw_url.parse(s)
    end,
  }
  return self.ctx
end

-- Fetches a task definition from the Queue.
function Engine:fetch_task(name, task_id)
  local def, err = self.queue:call("task", task_id)
  if not def then
    if is_transient(err) then
      fail_transient("%s %s: can't fetch the task definition: %s", name, task_id, tostring(err))
    end
    fail("%s %s: can't fetch the task definition: %s", name, task_id, tostring(err))
  end
  return def
end

function Engine:cot_dir(task_id)
  return self.work_dir .. "/cot/" .. task_id
end

function Engine:write_task_json(l)
  local dir = self:cot_dir(l.task_id)
  local ok, err = fs.mkdirp(dir)
  if not ok then
    error(format("cot: cannot create %s: %s", dir, tostring(err)))
  end
  local text = assert(json.encode(l.task, { canonical = true }))
  -- A scratch file for the script, like work_dir/task.json: a plain
  -- write (an fsync per link costs more than the rest of a long chain).
  local f, oerr = io.open(dir .. "/task.json", "wb")
  if not f then
    error(format("cot: cannot write %s/task.json: %s", dir, tostring(oerr)))
  end
  assert(f:write(text))
  assert(f:close())
end

function Engine:add_link(name, task_id, task)
  local l, err = link_mod.new(self.policy, name, task_id, task, self:policy_ctx(),
    function(tbl, fname, ...)
      return self:call(tbl, fname, ...)
    end)
  if not l then
    fail("%s", err)
  end
  self.links[#self.links + 1] = l
  self.by_id[task_id] = l
  self:write_task_json(l)
  self:say("info", format("found dependency %s %s (%s on %s)", name, task_id, l.task_type, l.worker_impl))
  return l
end

-- Runs fn(item) for every item in parallel, at most max_concurrent_downloads
-- at a time. Failures are collected; the first non-transient one wins, and
-- the failure is transient only when every failure was.
function Engine:parallel(items, fn)
  local sem = sched.semaphore(math.max(1, math.tointeger(self.config.max_concurrent_downloads) or 5))
  local tasks = {}
  for i, item in ipairs(items) do
    tasks[i] = sched.spawn(function()
      return sem:with(function()
        local ok, err = pcall(fn, item)
        if ok then
          return true
        end
        return nil, err, link_mod.is_failure(err) and err.code or "internal"
      end)
    end)
  end
  local results = sched.wait_all(tasks)
  local failures, all_transient = {}, true
  for _, r in ipairs(results) do
    local ok, good, err = r[1], r[2], r[3]
    if not ok then
      -- the task itself failed (cancelled): a bug, not a verdict
      error(format("cot: a parallel step failed: %s", tostring(good)))
    end
    if not good then
      if not link_mod.is_failure(err) then
        error(err, 0)
      end
      failures[#failures + 1] = err
      all_transient = all_transient and err.transient
    end
  end
  if #failures > 0 then
    local msgs = {}
    for i, f in ipairs(failures) do
      msgs[i] = f.message
    end
    table.sort(msgs)
    -- A chain of thousands of links fails with a message of readable size.
    local shown = #msgs > 20 and { table.unpack(msgs, 1, 20) } or msgs
    local msg = table.concat(shown, "\n")
    if #msgs > #shown then
      msg = msg .. format("\n(and %d more)", #msgs - #shown)
    end
    if all_transient then
      fail_transient("%s", msg)
    end
    fail("%s", msg)
  end
end

-- Phase 1: the chain, breadth first, siblings in list order.
function Engine:build_chain()
  local max_len = math.tointeger(self.config.max_chain_length) or 20
  local seen = {}
  for _, l in ipairs(self.links) do
    seen[l.task_id] = true
  end
  local frontier = { self.links[1] or self.root }
  while #frontier > 0 do
    local next_frontier = {}
    for _, node in ipairs(frontier) do
      local _, colons = node.name:gsub(":", "")
      if colons > max_len then
        fail("%s: too deep recursion: the name has %d levels, more than max_chain_length %d",
          node.who, colons, max_len)
      end
      local deps, err = link_mod.dependencies(node)
      if not deps then
        fail("%s", err)
      end
      local kept = {}
      for _, d in ipairs(deps) do
        local dname, dtid = d[1], d[2]
        if not dtid:match(TASK_ID) or #dtid > 64 then
          fail("%s: dependency %s: %s is not a taskId", node.who, dname, show(dtid))
        end
        if not seen[dtid] then
          seen[dtid] = true
          kept[#kept + 1] = d
        end
      end
      local defs = {}
      self:parallel(kept, function(d)
        defs[d[2]] = self:fetch_task(d[1], d[2])
      end)
      for _, d in ipairs(kept) do
        next_frontier[#next_frontier + 1] = self:add_link(d[1], d[2], defs[d[2]])
      end
    end
    frontier = next_frontier
  end
end

-- The Queue's getLatestArtifact URL of name, checked against
-- valid_artifact_rules: the rule's taskId group must be the link's.
function Engine:check_artifact_url(l, name)
  local task_id = l.task_id
  local url = self.queue:build_url("getLatestArtifact", task_id, name)
  local rules = self.config.valid_artifact_rules
  local matched = tree.match_url_regex(rules, url, function(m)
    if type(m.taskId) == "string" and type(m.filepath) == "string" then
      return m
    end
    return nil
  end)
  if not matched then
    fail("%s: %s: can't validate url %s against valid_artifact_rules", l.who, name, http_redact(url))
  end
  if matched.taskId ~= task_id then
    fail("%s: %s: url %s names task %s, not %s", l.who, name, http_redact(url), tostring(matched.taskId), task_id)
  end
  return url
end

-- Downloads artifact name of task_id into work_dir/cot/TASKID/NAME.
-- Returns the local path.
function Engine:download(l, name, opts)
  opts = opts or {}
  local url = self:check_artifact_url(l, name)
  local dir = self:cot_dir(l.task_id)
  assert(fs.mkdirp(dir))
  local path, perr = fs.safe_join(dir, name)
  if not path then
    fail("%s: %s: local path refused: %s", l.who, name, tostring(perr))
  end
  local parent = path:match("^(.*)/[^/]*$")
  local ok, merr = fs.mkdirp(parent)
  if not ok then
    fail("%s: %s: cannot create %s: %s", l.who, name, parent, tostring(merr))
  end
  -- mkdirp may have followed nothing but what safe_join allowed; check the
  -- joined path again now that its parents exist.
  path, perr = fs.safe_join(dir, name)
  if not path then
    fail("%s: %s: local path refused: %s", l.who, name, tostring(perr))
  end
  local q = self.queue
  if name:sub(1, 7) ~= "public/" and self.private_queue then
    q = self.private_queue
  end
  self:say("info", format("downloading %s of %s", name, l.who), { url = http_redact(url) })
  local res, err = q:download_artifact(l.task_id, nil, name, path, { max_body = opts.max_body })
  if not res then
    if is_transient(err) then
      fail_transient("%s: can't download %s (%s): %s", l.who, name, http_redact(url), tostring(err))
    end
    fail("%s: can't download %s (%s): %s", l.who, name, http_redact(url), tostring(err))
  end
  return path
end

-- Phase 2: every link's chain-of-trust artifact (and signature).
function Engine:download_cots()
  local items = {}
  for _, l in ipairs(self.links) do
    items[#items + 1] = { l, M.COT_NAME, M.MAX_COT_BYTES }
    if self.config.verify_cot_signature then
      items[#items + 1] = { l, M.SIG_NAME, M.MAX_SIG_BYTES }
    end
  end
  self:parallel(items, function(it)
    local l = it[1]
    local path = self:download(l, it[2], { max_body = it[3] })
    if it[2] == M.COT_NAME then
      l.cot_path = path
    else
      l.sig_path = path
    end
  end)
end

-- The trusted keys of a worker implementation: the config's
-- ed25519_public_keys when the config file sets it, else the policy's.
function Engine:keys_for(impl)
  local by_impl = self.config.ed25519_public_keys
  local list
  if self.keys_from_config and is_object(by_impl) then
    list = by_impl[impl]
  else
    local p = self.policy.worker_impls[impl]
    list = p and p.keys
  end
  local keys = {}
  for i, text in ipairs(type(list) == "table" and list or {}) do
    local key = type(text) == "string" and ed25519.public_key_from_string(text)
    if not key then
      fail("ed25519_public_keys.%s[%d]: not a base64 ed25519 public key", impl, i)
    end
    keys[#keys + 1] = { key = key, text = text }
  end
  return keys
end

-- Phase 3: signatures, then each body: JSON, the cot_v1 schema, its
-- taskId, and its embedded task equal to the Queue's.
function Engine:verify_cots()
  for _, l in ipairs(self.links) do
    local body = fs.read_file(l.cot_path, M.MAX_COT_BYTES)
    if not body then
      fail("%s: can't read %s", l.who, M.COT_NAME)
    end
    if self.config.verify_cot_signature then
      local sig = fs.read_file(l.sig_path, M.MAX_SIG_BYTES)
      if not sig then
        fail("%s: can't read %s", l.who, M.SIG_NAME)
      end
      local keys = self:keys_for(l.worker_impl)
      if #keys == 0 then
        fail("%s: signature: no ed25519 public keys for worker implementation %s", l.who, l.worker_impl)
      end
      local who = ed25519.find_signer(keys, body, sig)
      if not who then
        fail("%s: signature: %s is not signed by any of the %d trusted %s keys", l.who, M.COT_NAME, #keys,
          l.worker_impl)
      end
      self:say("info", format("%s: signature verified with %s key %s", l.who, l.worker_impl, who.text))
    end
    local cot, jerr = json.decode(body)
    if cot == nil then
      fail("%s: %s: invalid chain-of-trust JSON: %s", l.who, M.COT_NAME, tostring(jerr))
    end
    if not is_object(cot) then
      fail("%s: %s: expected an object", l.who, M.COT_NAME)
    end
    local ok, problems = validate_cot(cot)
    if not ok then
      fail("%s: %s does not match the cot_v1 schema: %s", l.who, M.COT_NAME, table.concat(problems, "; "))
    end
    if cot.taskId ~= l.task_id then
      fail("%s: %s: chain of trust artifact taskId %s doesn't match task taskId %s", l.who, M.COT_NAME,
        show(cot.taskId), l.task_id)
    end
    if not schema.equal(cot.task, l.task) then
      fail("%s: %s: the embedded task definition differs from the one the Queue returns", l.who, M.COT_NAME)
    end
    l.cot = cot
  end
end

-- Checks a downloaded file against the CoT entry of its link.
function Engine:check_hashes(l, name, path)
  local arts = l.cot and l.cot.artifacts
  if not is_object(arts) then
    fail("%s: %s has no artifacts", l.who, M.COT_NAME)
  end
  local entry = arts[name]
  if entry == nil then
    fail("%s: %s is not in its chain-of-trust artifact (docker-worker does not fail on undeclared "
      .. "artifacts: check the task's artifacts)", l.who, name)
  end
  if not is_object(entry) or next(entry) == nil then
    fail("%s: %s: the chain-of-trust entry lists no digest", l.who, name)
  end
  local allowed = set_of(self.config.valid_hash_algorithms)
  local algs = {}
  for alg in pairs(entry) do
    algs[#algs + 1] = alg
  end
  table.sort(algs)
  for _, alg in ipairs(algs) do
    local expected = entry[alg]
    if not allowed[alg] or (alg ~= "sha256" and alg ~= "sha512") then
      fail("%s: %s: BAD HASH ALGORITHM %s", l.who, name, show(alg))
    end
    if type(expected) ~= "string" then
      fail("%s: %s: %s digest: expected a string, got %s", l.who, name, alg, show(expected))
    end
    local got, herr = hash.file(path, alg)
    if not got then
      error(format("cot: cannot hash %s: %s", path, tostring(herr)))
    end
    if got ~= expected then
      fail("%s: %s: BAD HASH: %s is %s, the chain of trust says %s", l.who, name, alg, got, expected)
    end
  end
end

-- What phase 4 downloads: per taskId, {path -> optional}.
function Engine:artifacts_to_fetch()
  local per = {}
  local order = {}
  local function want(task_id, path, optional)
    if not per[task_id] then
      per[task_id] = {}
      order[#order + 1] = task_id
    end
    local cur = per[task_id][path]
    per[task_id][path] = (cur == true) or optional or false
  end
  for _, l in ipairs(self.links) do
    local tt = self.policy.task_types[l.task_type]
    for _, p in ipairs(tt and tt.artifacts or {}) do
      want(l.task_id, p, false)
    end
  end
  local ua = self.root.task.payload.upstreamArtifacts
  for _, e in ipairs(is_array(ua) and ua or {}) do
    for _, p in ipairs(e.paths) do
      want(e.taskId, p, e.optional == true)
    end
  end
  return per, order
end

-- Phase 4: upstream and parent artifacts, hash-checked. An optional
-- artifact that fails is removed and verification goes on.
function Engine:download_artifacts()
  local per, order = self:artifacts_to_fetch()
  local mandatory, optional = {}, {}
  for _, task_id in ipairs(order) do
    local l = self.by_id[task_id]
    if not l then
      fail("task %s of payload.upstreamArtifacts is not a link of the chain", task_id)
    end
    local paths = {}
    for p in pairs(per[task_id]) do
      paths[#paths + 1] = p
    end
    table.sort(paths)
    local listing
    for _, p in ipairs(paths) do
      local opt = per[task_id][p]
      local names = { p }
      if p:find("*", 1, true) then
        if not listing then
          local list, err = self.queue:list_all_artifacts(task_id, nil)
          if not list then
            if is_transient(err) then
              fail_transient("%s: can't list its artifacts: %s", l.who, tostring(err))
            end
            fail("%s: can't list its artifacts: %s", l.who, tostring(err))
          end
          listing = {}
          for _, a in ipairs(list) do
            if type(a) == "table" and type(a.name) == "string" then
              listing[#listing + 1] = a.name
            end
          end
        end
        names = {}
        local pat = glob_pattern(p)
        for _, n in ipairs(listing) do
          if n:match(pat) then
            names[#names + 1] = n
          end
        end
        self:say("info", format("%s: %s matches %d artifacts", l.who, p, #names))
      end
      for _, n in ipairs(names) do
        local item = { l, n }
        if opt then
          optional[#optional + 1] = item
        else
          mandatory[#mandatory + 1] = item
        end
      end
    end
  end
  local function fetch_one(item)
    local l, name = item[1], item[2]
    local path = self:download(l, name)
    local ok, err = pcall(self.check_hashes, self, l, name, path)
    if not ok then
      os.remove(path)
      error(err, 0)
    end
    self:say("info", format("%s: %s verified", l.who, name))
    l.files = l.files or {}
    l.files[name] = path
  end
  self:parallel(mandatory, fetch_one)
  -- Optional artifacts: a failure is a warning, and nothing unverified is
  -- left where the script looks.
  self:parallel(optional, function(item)
    local ok, err = pcall(fetch_one, item)
    if not ok then
      if not link_mod.is_failure(err) then
        error(err, 0)
      end
      self:say("warn", format("optional artifact skipped: %s", err.message))
    end
  end)
end

-- The task graph entries of the children of parent l (decoded: only those
-- keys, whatever the graph's size).
local function graph_entries(l, ids)
  local path = l.files and l.files["public/task-graph.json"]
  if not path or not fs.exists(path) then
    fail("%s: public/task-graph.json doesn't exist", l.who)
  end
  local entries, err = json.decode_file(path, { keys = ids })
  if entries == nil then
    fail("%s: can't load public/task-graph.json: %s", l.who, config_mod.user_message(err, path))
  end
  return entries
end

-- The inputs of sw.cot.v2: remote files over HTTP (rebased on the mirror
-- of cot_input_urls), the decision's artifacts from work_dir/cot.
function Engine:inputs()
  if self.v2_inputs then
    return self.v2_inputs
  end
  local engine = self
  local urls = json.object({})
  for k, v in pairs(is_object(self.config.cot_input_urls) and self.config.cot_input_urls or {}) do
    urls[k] = v
  end
  urls.projects = urls.projects
  self.v2_inputs = {
    urls = urls,
    cache = {},
    fetch_text = function(url, headers)
      local body, err, code = engine.fetch_text(url, headers)
      if body == nil and v2_fetch.is_transient(code) then
        engine.transient_fetch = err or true
      end
      if body ~= nil then
        engine:say("info", "fetched", { url = http_redact(url), bytes = #body })
      end
      return body, err, code
    end,
    fetch_artifact = v2.file_artifacts(self.work_dir),
  }
  return self.v2_inputs
end

-- GitHub lookups for pull-request detection, over the same fetcher.
function Engine:github()
  local engine = self
  local inputs = self:inputs()
  local function get(url)
    local real = v2_fetch.rebase(inputs, url)
    local body, err, code = inputs.fetch_text(real, engine.github_headers)
    if body == nil then
      return nil, format("%s: %s", http_redact(real), tostring(err)), code or "fetch"
    end
    return body
  end
  return {
    commit_landed = function(owner, name, rev)
      local body, err, code = get(format("https://github.com/%s/%s/branch_commits/%s", owner, name, rev))
      if not body then
        return nil, err, code
      end
      return body:match("%S") ~= nil
    end,
    tag_commit = function(owner, name, tag)
      local body, err, code = get(format("https://api.github.com/repos/%s/%s/git/ref/tags/%s", owner, name, tag))
      if not body then
        return nil, err, code
      end
      local doc = json.decode(body)
      local sha = is_object(doc) and is_object(doc.object) and doc.object.sha
      if type(sha) ~= "string" then
        return nil, "the tag " .. tag .. " does not name one commit", "parse"
      end
      return sha
    end,
  }
end

-- The worker pool a link's task type requires (decision and docker-image
-- pools of the product).
function Engine:check_pool(l, tt)
  if tt.worker_pools then
    local pools = self.config[tt.worker_pools]
    local pool = link_mod.task_queue(l.task)
    if not pool or not set_of(is_array(pools) and pools or {})[pool] then
      fail("%s: %s is not in %s for %s", l.who, show(pool), tt.worker_pools, tostring(self.config.cot_product))
    end
  end
end

-- Phase 5: task types: the worker implementations and pools a type allows,
-- the task graph of parents, the v2 rebuild, and the type's own rule.
function Engine:verify_task_types()
  local all = self:all_links()
  for _, l in ipairs(all) do
    local tt = self.policy.task_types[l.task_type]
    self:say("info", format("Verifying %s as a %s task...", l.who, l.task_type))
    if tt.worker_impls then
      local ok = false
      for _, impl in ipairs(tt.worker_impls) do
        ok = ok or impl == l.worker_impl
      end
      if not ok then
        fail("%s: a %s task must be run from %s, not %s", l.who, l.task_type, table.concat(tt.worker_impls, " or "),
          l.worker_impl)
      end
    end
    self:check_pool(l, tt)
    if tt.parent then
      self:verify_parent(l, all)
    end
    local ok, err = self:call(tt, "verify", l, self:policy_ctx())
    if not ok then
      fail("%s: task type %s: %s", l.who, l.task_type, tostring(err or "refused"))
    end
  end
end

function Engine:verify_parent(l, all)
  if l ~= self.root or self.by_id[l.task_id] == l then
    local children = graph.children_to_check(l, all)
    local ids = {}
    for i, c in ipairs(children) do
      ids[i] = c.task_id
    end
    local entries = graph_entries(l, ids)
    local errors = {}
    for _, c in ipairs(children) do
      local ok, errs = graph.verify_link(l, entries, c)
      if not ok then
        for _, e in ipairs(errs) do
          errors[#errors + 1] = e
        end
      end
    end
    if #errors > 0 then
      fail("%s", table.concat(errors, "\n"))
    end
    self:say("info", format("%s: %d children found in its task graph", l.who, #children))
  end
  local decision
  if l.decision_task_id == l.task_id then
    decision = l
  else
    decision = self:policy_ctx().get_link(l.decision_task_id)
    if not decision then
      fail("%s: its decision task %s is not a link of the chain", l.who, l.decision_task_id)
    end
  end
  self.transient_fetch = nil
  local ok, msg = v2.verify_parent_task_definition({
    name = l.name,
    task_id = l.task_id,
    task = l.task,
    decision_task_id = l.decision_task_id,
    decision_task = decision.task,
    config = self.config,
    inputs = self:inputs(),
  })
  if not ok then
    if self.transient_fetch then
      fail_transient("%s", msg)
    end
    fail("%s", msg)
  end
  self:say("info", format("%s: its definition matches the rebuild from .taskcluster.yml", l.who))
end

-- Phase 6: each link's worker implementation policy.
function Engine:verify_worker_impls()
  for _, l in ipairs(self:all_links()) do
    local impl = self.policy.worker_impls[l.worker_impl]
    if not impl then
      fail("%s: unknown worker implementation %s", l.who, l.worker_impl)
    end
    local ok, err = self:call(impl, "verify", l, self:policy_ctx())
    if not ok then
      fail("%s: %s: %s", l.who, l.worker_impl, tostring(err or "refused"))
    end
  end
end

-- Phase 7: trace back to the tree.
function Engine:trace_back()
  self.transient_fetch = nil
  local ok, errs = tree.trace_back(self.root, self.links, self.config, self:github())
  if not ok then
    local msg = type(errs) == "table" and table.concat(errs, "\n") or tostring(errs)
    if self.transient_fetch then
      fail_transient("%s", msg)
    end
    fail("%s", msg)
  end
end

-- Claim-time checks of the root's upstreamArtifacts (Python raises them
-- outside the task run; here they fail the task as malformed-payload).
local function check_upstream_paths(root)
  local ua = root.task.payload.upstreamArtifacts
  if ua == nil or ua == json.null then
    return
  end
  if not is_array(ua) then
    fail("%s: payload.upstreamArtifacts: expected a list", root.who)
  end
  for i, e in ipairs(ua) do
    local where = format("%s: payload.upstreamArtifacts[%d]", root.who, i - 1)
    if not is_object(e) then
      fail("%s: expected an object", where)
    end
    if not is_array(e.paths) then
      fail("%s.paths: expected a list, got %s", where, show(e.paths))
    end
    if e.optional ~= nil and e.optional ~= json.null and type(e.optional) ~= "boolean" then
      fail("%s.optional: expected a boolean, got %s", where, show(e.optional))
    end
    for j, p in ipairs(e.paths) do
      local pw = format("%s.paths[%d]", where, j - 1)
      if type(p) ~= "string" or p == "" then
        fail("%s: expected a path, got %s", pw, show(p))
      end
      if not utf8.len(p) then
        fail("%s: %s is not UTF-8", pw, show(p))
      end
      if p:sub(1, 1) == "/" then
        fail("%s: %s is an absolute path", pw, show(p))
      end
      for seg in p:gmatch("[^/]+") do
        if seg == ".." then
          fail("%s: %s contains \"..\"", pw, show(p))
        end
      end
      if p:find("%z") or p:find("[%c]") then
        fail("%s: %s contains a control character", pw, show(p))
      end
      if p:find("*", 1, true) and e.optional ~= true then
        fail("%s: %s has a wildcard in an entry that is not optional", pw, show(p))
      end
    end
  end
end

local function default_fetch_text(retry_delay)
  return function(url, headers)
    return v2_fetch.get_text(url, headers, { retry_delay = retry_delay })
  end
end

-- verify_chain(opts) -> true, chain | nil, message, status. opts:
--   config       the resolved config
--   policy       the policy set (sw.policy)
--   queue        a Queue client for reading tasks and public artifacts
--   private_queue  a client for other artifacts (optional; default queue)
--   task_id, task  the task being verified (the root)
--   work_dir     where cot/TASKID/... goes
--   log_path     the chain-of-trust log file (optional)
--   check_task   also verify the root's own chain-of-trust artifact
--   keys_from_config  the config file sets ed25519_public_keys
--   retry_delay  first delay between attempts of remote fetches (1 s)
--   fetch_text   fn(url, headers) -> body | nil, msg, code (default:
--                sw.http with retries)
function M.verify_chain(opts)
  local config = opts.config
  local audit = new_audit(opts.log_path)
  local engine = setmetatable({
    config = config,
    policy = opts.policy,
    queue = opts.queue,
    private_queue = opts.private_queue,
    work_dir = opts.work_dir,
    audit = audit,
    links = {},
    by_id = {},
    keys_from_config = opts.keys_from_config,
    fetch_text = opts.fetch_text or default_fetch_text(opts.retry_delay or 1),
  }, Engine)
  if type(config.github_oauth_token) == "string" and config.github_oauth_token ~= "" then
    secrets.add(config.github_oauth_token)
    engine.github_headers = { Authorization = "token " .. config.github_oauth_token }
  end
  local started = sched.monotonic()
  audit:say("info", "Running scriptworker version " .. require("sw.cli").VERSION)
  if opts.policy and opts.policy.digest then
    audit:say("info", "policy set " .. tostring(opts.policy.dir) .. " digest " .. opts.policy.digest)
  end
  local ok, err = pcall(function()
    local job = config.cot_job_type
    if type(job) ~= "string" then
      fail("cot_job_type: expected a task type, got %s", show(job))
    end
    local root, rerr = link_mod.new(engine.policy, job, opts.task_id, opts.task, engine:policy_ctx(),
      function(tbl, fname, ...)
        return engine:call(tbl, fname, ...)
      end)
    if not root then
      fail("%s", rerr)
    end
    root.is_root = true
    engine.root = root
    engine.ctx = nil
    local restricted, serr = tree.restricted_scopes(root.task, config)
    if restricted == nil then
      fail("%s: %s", root.who, tostring(serr))
    end
    engine.restricted = #restricted > 0
    engine.ctx = nil
    check_upstream_paths(root)
    audit:say("info", format("verifying the chain of trust of %s (%s on %s)", root.who, root.task_type,
      root.worker_impl))
    if opts.check_task then
      local def = engine:fetch_task(job, opts.task_id)
      engine:add_link(job, opts.task_id, def)
    end
    engine:build_chain()
    engine.ctx = nil
    -- A parent that is not a decision or action task is checked against
    -- no task graph in Python (VERIFY.md #78): refuse it before anything
    -- is downloaded for it.
    local pok, perrs = graph.check_parents(engine:all_links())
    if not pok then
      fail("%s", table.concat(perrs, "\n"))
    end
    -- A link is a parent by its name ("NAME:parent"), whatever task it is:
    -- a build named as the parent would fail on its missing task graph.
    -- Python fails such a task on the decision pools (VERIFY.md #29, #78);
    -- so does this, before any download.
    for _, l in ipairs(engine.links) do
      local tt = engine.policy.task_types[l.task_type]
      if tt and tt.parent then
        engine:check_pool(l, tt)
      end
    end
    audit:say("info", format("the chain has %d links", #engine.links))
    engine:download_cots()
    engine:verify_cots()
    engine:download_artifacts()
    engine:verify_task_types()
    engine:verify_worker_impls()
    engine:trace_back()
    local instance = engine.policy.instance
    if instance then
      local iok, ierr = engine:call(instance, "verify", { root = root, links = engine.links }, engine:policy_ctx())
      if not iok then
        fail("%s: instance policy %s: %s", root.who, tostring(instance.name), tostring(ierr or "refused"))
      end
    end
  end)
  local elapsed = string.format("%.3f", sched.monotonic() - started)
  if ok then
    audit:say("info", "Good.", { seconds = elapsed })
    audit:close()
    return true, { root = engine.root, links = engine.links }
  end
  local status = "malformed-payload"
  local msg
  if link_mod.is_failure(err) then
    msg = err.message
    if err.transient then
      status = "intermittent-task"
    end
  else
    -- A bug in the engine or a policy that raised outside the budget:
    -- still a failure, never a pass.
    msg = "chain of trust verification error: " .. tostring(err)
  end
  -- The message goes to the Queue's task log and the caller's logs: the
  -- secrets cut from every log line (the GitHub token, credentials) must
  -- not reach them through a quoted field either.
  msg = log.redact(msg)
  audit:say("error", "Chain of Trust verification error! " .. msg)
  audit:close()
  return nil, msg, status
end

-- The hook sw.task calls with verify_chain_of_trust on. t: the running
-- task (config, task, task_id, queue, policy, cot_log_path).
function M.verify(t)
  local config = t.config
  local reader = queue_mod.new({
    root_url = config.taskcluster_root_url,
    retries = math.max(0, (config.queue_retries or 5) - 1),
  })
  return M.verify_chain({
    config = config,
    policy = t.policy,
    queue = reader,
    private_queue = t.queue,
    task_id = t.task_id,
    task = t.task,
    work_dir = config.work_dir,
    log_path = t.cot_log_path or (config.task_log_dir .. "/chain_of_trust.log"),
    keys_from_config = t.keys_from_config,
  })
end

return M
