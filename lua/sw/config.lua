-- The worker's configuration: a scriptworker.yaml written for the Python
-- scriptworker loads unchanged. Defaults are the Python worker's
-- DEFAULT_CONFIG (lua/sw/data/default-config.json); `by-cot-product` values
-- are resolved for cot_product; every key is type-checked against its
-- default as the Python check_config does (docs/config.md lists them all).
local json = require("sw.json")
local yaml = require("sw.yaml")
local fs = require("sw.fs")
local regex = require("sw.regex")

local M = {}

-- What a user reads at start-up names the file and the problem, not the
-- function that met it: "fs.read_file: a.yaml: No such file or directory"
-- becomes "a.yaml: No such file or directory"; without_prefix (the file
-- the message is already about) goes too. CORE_MODULES: the modules
-- whose "<module>.<function>: " (or "<module>: ") prefix is dropped.
M.CORE_MODULES = {
  fs = true, proc = true, log = true, http = true, hash = true, sign = true, sched = true, yaml = true,
  json = true, regex = true,
}
function M.user_message(err, without_prefix)
  local s = tostring(err)
  local module, rest = s:match("^(%l+)%.[%l_]+: (.*)$")
  if not module then
    module, rest = s:match("^(%l+): (.*)$")
  end
  if module and M.CORE_MODULES[module] then
    s = rest
  end
  if without_prefix and s:sub(1, #without_prefix + 2) == without_prefix .. ": " then
    s = s:sub(#without_prefix + 3)
  end
  return s
end

local function data_dir()
  local here = package.searchpath("sw.config", package.path)
  return (here and here:match("^(.*)/config%.lua$") or ".") .. "/data"
end
M.data_dir = data_dir

local defaults_cache

-- {DEFAULT_CONFIG = {...}, STATUSES = {...}} decoded once.
function M.defaults()
  if not defaults_cache then
    local path = data_dir() .. "/default-config.json"
    local d, err = json.decode_file(path)
    if not d then
      error("config: cannot load the defaults: " .. tostring(err))
    end
    defaults_cache = d
  end
  return defaults_cache
end

-- Keys this worker adds to the Python set. Each has a default and a type.
M.EXTRA_KEYS = {
  -- "s3" (the Python worker's only kind) or "object" (the object service).
  artifact_storage_type = "s3",
  -- Seconds between SIGTERM and SIGKILL when stopping the task script.
  script_stop_grace = 10,
  -- Attempts per Taskcluster call (5xx, timeouts, connection errors).
  queue_retries = 5,
  -- Seconds one attempt of a Taskcluster call may take before it is
  -- abandoned (and retried): a Queue that never answers must not hold the
  -- worker.
  queue_timeout = 30,
  -- The same for claimWork, which the Queue holds open up to 20 s when
  -- there is no task (its long poll).
  claim_work_timeout = 45,
  -- Parallel artifact uploads.
  max_concurrent_uploads = 10,
  -- Mirrors of the remote inputs of chain-of-trust verification: `hg`,
  -- `github_raw`, `github_api` (and `github`) replace the bases
  -- https://hg.mozilla.org, https://raw.githubusercontent.com,
  -- https://api.github.com (and https://github.com) in every URL the
  -- verifier fetches outside the Queue.
  cot_input_urls = json.object({}),
  -- The worker's private directory (its own task logs, the snapshot of
  -- artifact_dir that is hashed and uploaded), out of the task script's
  -- reach; null: <log_dir>/state.
  state_dir = json.null,
  -- The policy folder, when there is one: it must not be inside work_dir
  -- or artifact_dir, which are emptied before every task.
  policy_dir = json.null,
  -- Started as root with this set, the worker runs the task script as
  -- this user (and its primary group).
  task_script_user = json.null,
  -- The worker stops claiming (exit 3) after this many tasks in a row
  -- failed for its own reasons (the script could not start, a pipeline
  -- error); a script's own exit codes never count.
  max_consecutive_internal_errors = 3,
}

-- The keys whose values come from a product policy (policies/products/),
-- by cot_product, unless the config file sets them.
M.PRODUCT_KEYS = {
  "cot_product_type", "cot_restricted_scopes", "cot_restricted_trees", "official_github_repos_owner",
  "prebuilt_docker_image_task_types", "source_env_prefix", "trusted_vcs_rules", "valid_decision_worker_pools",
  "valid_docker_image_worker_pools", "valid_tasks_for",
}

-- Keys a config for `verify-cot` may leave out: only the worker needs them.
M.WORKER_ONLY_KEYS = {
  artifact_dir = true, credentials = true, ed25519_private_key_path = true, log_dir = true,
  task_log_dir = true, task_script = true, work_dir = true, worker_id = true, worker_group = true,
  worker_type = true, provisioner_id = true,
}

-- Keys of EXTRA_KEYS that may be null; when set they are strings.
M.NULLABLE = { state_dir = true, policy_dir = true, task_script_user = true }

-- {key, minimum} of the keys above, by name (the order of the messages).
M.MINIMUMS = { { "claim_work_timeout", 1 }, { "max_concurrent_uploads", 1 }, { "max_consecutive_internal_errors", 1 },
  { "queue_retries", 1 }, { "queue_timeout", 1 }, { "script_stop_grace", 0 } }

local ID_PATTERN = "^[a-zA-Z0-9-_]{1,38}$"

-- The Python type name of a value, for messages.
local function pytype(v)
  if v == nil or v == json.null then
    return "NoneType"
  end
  local t = type(v)
  if t == "boolean" then
    return "bool"
  elseif t == "number" then
    return math.type(v) == "integer" and "int" or "float"
  elseif t == "string" then
    return "str"
  elseif t == "table" then
    return json.type(v) == "array" and "list" or "dict"
  end
  return t
end
M.pytype = pytype

local function short(v)
  local s
  if type(v) == "table" then
    s = json.encode(v) or tostring(v)
  else
    s = tostring(v)
  end
  if #s > 60 then
    s = s:sub(1, 57) .. "..."
  end
  return string.format("%q", s)
end

local function deepcopy(v)
  if type(v) ~= "table" then
    return v
  end
  local c = {}
  for k, x in pairs(v) do
    c[k] = deepcopy(x)
  end
  return setmetatable(c, getmetatable(v))
end
M.deepcopy = deepcopy

local function is_by_product(v)
  return type(v) == "table" and json.type(v) == "object" and v["by-cot-product"] ~= nil
end

-- Resolves every top-level {"by-cot-product": {...}} for config.cot_product.
function M.apply_product_config(config, messages, path)
  local product = config.cot_product
  local missing = {}
  for key, value in pairs(config) do
    if is_by_product(value) then
      if product == nil or product == json.null then
        config[key] = json.null
      else
        local v = value["by-cot-product"][product]
        if v == nil then
          missing[#missing + 1] = string.format("%sProduct %s not specified for key %s",
            path and (path .. ": ") or "", product, key)
        else
          config[key] = v
        end
      end
    end
  end
  -- One line per key, in a stable order (pairs has none).
  table.sort(missing)
  for _, m in ipairs(missing) do
    messages[#messages + 1] = m
  end
end

-- Reads credentials the Python way: ./secrets.json, then ~/.scriptworker
-- (each a JSON or YAML mapping with a "credentials" key), then the
-- TASKCLUSTER_CLIENT_ID / TASKCLUSTER_ACCESS_TOKEN / TASKCLUSTER_CERTIFICATE
-- environment variables. Returns the credentials and where they came from.
function M.read_worker_creds(env)
  env = env or os.getenv
  local home = env("HOME") or "/etc/"
  -- The real working directory, as Python's relative open() uses: $PWD
  -- may be stale or unset (`env -` in the Mozilla images).
  local cwd = fs.realpath(".") or "."
  for _, path in ipairs({ cwd .. "/secrets.json", home .. "/.scriptworker" }) do
    if fs.exists(path) then
      local text = fs.read_file(path, 1024 * 1024)
      local doc = text and (json.decode(text) or yaml.load(text))
      if type(doc) == "table" and type(doc.credentials) == "table" then
        return doc.credentials, path
      end
    end
  end
  local client_id, token = env("TASKCLUSTER_CLIENT_ID"), env("TASKCLUSTER_ACCESS_TOKEN")
  if client_id and token and client_id ~= "" and token ~= "" then
    local creds = json.object({ clientId = client_id, accessToken = token })
    local cert = env("TASKCLUSTER_CERTIFICATE")
    if cert and cert ~= "" then
      creds.certificate = cert
    end
    return creds, "environment"
  end
  return nil
end

-- Keys whose values are secrets: a message names their type, never their
-- value (the log's redaction does not see start-up errors).
M.SECRET_KEYS = { credentials = true, github_oauth_token = true }

local function check_type(path, key, value, default, messages)
  if value == nil or value == json.null then
    return
  end
  local want, got = pytype(default), pytype(value)
  if want == "NoneType" then
    return
  end
  -- YAML has no int/float distinction for whole numbers the way people
  -- write them; Python does, and so do we, except that an int is accepted
  -- where a float is expected.
  if want ~= got and not (want == "float" and got == "int") then
    messages[#messages + 1] = string.format(
      "%s: %s: expected %s, got %s%s", path, key, want, got, M.SECRET_KEYS[key] and "" or (" " .. short(value)))
  end
end

-- Validates a resolved config; returns a list of messages.
function M.check(config, path, defaults)
  local messages = {}
  for key in pairs(defaults) do
    if config[key] == nil then
      messages[#messages + 1] = string.format("%s: %s: missing", path, key)
    end
  end
  local keys = {}
  for key in pairs(config) do
    keys[#keys + 1] = key
  end
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  for _, key in ipairs(keys) do
    local value = config[key]
    local default = defaults[key]
    if default == nil then
      messages[#messages + 1] = string.format("%s: unknown key %s", path, short(key))
    elseif value == json.null then
      -- credentials: load() says where it looked instead
      if key ~= "cot_product" and key ~= "credentials" and not M.NULLABLE[key]
          and not is_by_product(default) and default ~= json.null then
        messages[#messages + 1] = string.format("%s: %s: must not be null", path, key)
      end
    elseif value == "..." then
      messages[#messages + 1] = string.format("%s: %s: needs to be defined", path, key)
    elseif not is_by_product(value) then
      -- (A value left a by-cot-product mapping was reported by
      -- apply_product_config, "Product X not specified for key K": its
      -- type says nothing more.)
      local d = default
      if is_by_product(d) then
        local p = config.cot_product
        d = (p ~= nil and p ~= json.null) and d["by-cot-product"][p] or json.null
      end
      if key == "cot_product" or M.NULLABLE[key] then
        d = ""
      end
      check_type(path, key, value, d, messages)
    end
  end
  for _, key in ipairs({ "provisioner_id", "worker_group", "worker_type", "worker_id" }) do
    local v = config[key]
    if type(v) == "string" and v ~= "..." and not regex.fullmatch(ID_PATTERN, v) then
      messages[#messages + 1] = string.format(
        "%s: %s: must match %s, got %s", path, key, ID_PATTERN, short(v))
    end
  end
  if config.verify_chain_of_trust == true and (config.cot_product == nil or config.cot_product == json.null) then
    messages[#messages + 1] = string.format(
      "%s: cot_product: must be set when verify_chain_of_trust is true", path)
  end
  -- The keys this worker adds have a floor (the Python keys have none):
  -- no upload slot would hang the first upload for ever.
  for _, r in ipairs(M.MINIMUMS) do
    local v = config[r[1]]
    if type(v) == "number" and v < r[2] then
      messages[#messages + 1] = string.format("%s: %s: must be at least %d, got %s", path, r[1], r[2], short(v))
    end
  end
  -- worker.log follows log_fmt as Python's logging would: a field it does
  -- not know would make every line fail there.
  if type(config.log_fmt) == "string" then
    local ok, ferr = require("sw.log").check_format(config.log_fmt)
    if not ok then
      messages[#messages + 1] = string.format("%s: log_fmt: %s, got %s", path, ferr, short(config.log_fmt))
    end
  end
  local st = config.artifact_storage_type
  if st ~= nil and st ~= "s3" and st ~= "object" then
    messages[#messages + 1] = string.format(
      "%s: artifact_storage_type: expected \"s3\" or \"object\", got %s", path, short(st))
  end
  return messages
end

-- An absolute, normalised path ("." and ".." resolved), with symbolic
-- links resolved in the longest part that exists, so that two spellings
-- of one directory compare equal.
function M.canonical_path(p, cwd)
  if p:sub(1, 1) ~= "/" then
    p = (cwd or fs.realpath(".") or ".") .. "/" .. p
  end
  local parts = {}
  for c in p:gmatch("[^/]+") do
    if c == ".." then
      parts[#parts] = nil
    elseif c ~= "." then
      parts[#parts + 1] = c
    end
  end
  -- The longest existing prefix through realpath, then the rest as is.
  for n = #parts, 0, -1 do
    local head = "/" .. table.concat(parts, "/", 1, n)
    local real = fs.realpath(head)
    if real then
      local rest = table.concat(parts, "/", n + 1)
      if rest == "" then
        return real
      end
      return (real == "/" and "" or real) .. "/" .. rest
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- Whether path a is b or inside it.
local function within(a, b)
  return a == b or b == "/" or a:sub(1, #b + 1) == b .. "/"
end

-- work_dir and artifact_dir belong to the task script and are emptied
-- before every task: they must not overlap each other, nor hold what the
-- worker keeps from the script (or would lose). Returns messages.
function M.check_dirs(config, path, cwd)
  local messages = {}
  local function canon(key)
    local v = config[key]
    if type(v) == "string" and v ~= "..." and v ~= "" then
      return M.canonical_path(v, cwd)
    end
    return nil
  end
  local work, art = canon("work_dir"), canon("artifact_dir")
  if work and art then
    if work == art then
      messages[#messages + 1] = string.format("%s: work_dir: must not be artifact_dir, got %s", path, work)
    elseif within(work, art) then
      messages[#messages + 1] = string.format("%s: work_dir: must not be inside artifact_dir (%s), got %s",
        path, art, work)
    elseif within(art, work) then
      messages[#messages + 1] = string.format("%s: artifact_dir: must not be inside work_dir (%s), got %s",
        path, work, art)
    end
  end
  local held = {
    { "ed25519_private_key_path", canon("ed25519_private_key_path") },
    { "the config file", M.canonical_path(path, cwd) },
    { "log_dir", canon("log_dir") },
    { "state_dir", canon("state_dir") },
    { "policy_dir", canon("policy_dir") },
  }
  for _, d in ipairs({ { "work_dir", work }, { "artifact_dir", art } }) do
    for _, h in ipairs(held) do
      if d[2] and h[2] and within(h[2], d[2]) then
        messages[#messages + 1] = string.format("%s: %s: must not hold %s (%s), got %s",
          path, d[1], h[1], h[2], d[2])
      end
    end
  end
  return messages
end

-- Loads and validates a config file. Returns config, credentials (the
-- credentials are removed from config, as the Python worker does), or nil,
-- the list of messages (each names the file and the key) and a code.
-- opts.env: a getenv function (tests).
function M.load(path, opts)
  opts = opts or {}
  local env = opts.env or os.getenv
  local text, err, code
  if path == nil then
    -- verify-cot without a CONFIG: the defaults alone.
    path, text = "(defaults)", "{}"
  else
    text, err, code = fs.read_file(path, 16 * 1024 * 1024)
  end
  if not text then
    return nil, { string.format("%s: cannot read the config: %s", path, M.user_message(err, path)) }, code
  end
  local doc
  doc, err, code = yaml.load(text)
  if doc == nil then
    return nil, { string.format("%s: %s", path, err) }, code
  end
  if doc == json.null then
    doc = json.object({})
  end
  if type(doc) ~= "table" or json.type(doc) ~= "object" then
    return nil, { string.format("%s: the config must be a mapping, got %s", path, pytype(doc)) }, "invalid"
  end
  -- Command-line options act as if the file set them.
  for k, v in pairs(opts.overrides or {}) do
    doc[k] = v
  end
  local d = M.defaults()
  local defaults = deepcopy(d.DEFAULT_CONFIG)
  for k, v in pairs(M.EXTRA_KEYS) do
    defaults[k] = v
  end
  local set = opts.policy
  if type(set) == "function" then
    local errs
    set, errs, code = set(doc)
    if not set then
      return nil, errs, code
    end
  end
  if set then
    M.apply_policy_defaults(defaults, set)
  end
  local config = deepcopy(defaults)
  local messages = {}
  for k, v in pairs(doc) do
    if type(k) ~= "string" then
      messages[#messages + 1] = string.format("%s: keys must be strings, got %s", path, short(k))
    else
      config[k] = v
    end
  end
  -- The instance policy says what this worker is; it wins over the file.
  local info = { overrides = {}, notes = {} }
  local instance = set and set.instance
  if instance then
    for _, k in ipairs({ "cot_job_type", "cot_product" }) do
      local v = instance[k]
      if v ~= nil then
        if doc[k] ~= nil and doc[k] ~= v then
          info.notes[#info.notes + 1] = string.format("%s: the policy %s sets %s to %s; the config's %s is not used",
            path, tostring(instance.name), k, short(v), short(doc[k]))
        end
        config[k] = v
      end
    end
  end
  if set then
    for _, k in ipairs(M.PRODUCT_KEYS) do
      if doc[k] ~= nil then
        info.overrides[#info.overrides + 1] = k
      end
    end
    if doc.ed25519_public_keys ~= nil then
      info.overrides[#info.overrides + 1] = "ed25519_public_keys"
    end
    table.sort(info.overrides)
  end
  info.keys_from_config = doc.ed25519_public_keys ~= nil
  local creds_source = path
  if opts.verify_only then
    -- verify-cot: anonymous unless credentials are there to be found.
    for k in pairs(M.WORKER_ONLY_KEYS) do
      if doc[k] == nil and k ~= "credentials" then
        config[k] = json.null
      end
    end
  end
  if doc.credentials == nil or doc.credentials == json.null
      or (type(doc.credentials) == "table" and next(doc.credentials) == nil) then
    local creds, source = M.read_worker_creds(env)
    config.credentials = creds or json.null
    creds_source = source
  end
  -- Environment overrides documented in docs/config.md. In the Python
  -- worker SCRIPTWORKER_WORKER_ID is the default of worker_id: a config
  -- that sets worker_id wins.
  local wid = env("SCRIPTWORKER_WORKER_ID")
  if wid and wid ~= "" and doc.worker_id == nil then
    config.worker_id = wid
  end
  local root = env("TASKCLUSTER_ROOT_URL")
  if root and root ~= "" and doc.taskcluster_root_url == nil then
    config.taskcluster_root_url = root
  end
  -- reversed_statuses: exit code -> status; YAML gives integer keys, the
  -- defaults' JSON strings: use integers.
  if type(config.reversed_statuses) == "table" then
    local rs = json.object({})
    for k, v in pairs(config.reversed_statuses) do
      local n = math.tointeger(tonumber(k))
      if n == nil then
        messages[#messages + 1] = string.format(
          "%s: reversed_statuses: keys must be exit codes, got %s", path, short(k))
      else
        rs[n] = v
      end
    end
    config.reversed_statuses = rs
  end
  M.apply_product_config(config, messages, path)
  local defaults_resolved = defaults
  for _, m in ipairs(M.check(config, path, defaults_resolved)) do
    messages[#messages + 1] = m
  end
  local creds = config.credentials
  if opts.verify_only then
    local kept = {}
    for _, m in ipairs(messages) do
      local key = m:match("^[^:]*: ([%w_]+):")
      if not (key and M.WORKER_ONLY_KEYS[key]) then
        kept[#kept + 1] = m
      end
    end
    messages = kept
    if creds == json.null or type(creds) ~= "table" or type(creds.clientId) ~= "string"
        or type(creds.accessToken) ~= "string" or creds.clientId == "..." then
      creds = nil
    end
  elseif creds == json.null or creds == nil then
    messages[#messages + 1] = string.format(
      "%s: credentials: none found in the config, ./secrets.json, ~/.scriptworker "
      .. "or TASKCLUSTER_CLIENT_ID/TASKCLUSTER_ACCESS_TOKEN", path)
  elseif type(creds) == "table" then
    for _, k in ipairs({ "clientId", "accessToken" }) do
      if type(creds[k]) ~= "string" or creds[k] == "..." or creds[k] == "" then
        messages[#messages + 1] = string.format("%s: credentials.%s: needs to be defined (from %s)",
          path, k, tostring(creds_source))
      end
    end
    local cert = creds.certificate
    if cert ~= nil and cert ~= json.null and type(cert) ~= "string" then
      messages[#messages + 1] = string.format("%s: credentials.certificate: expected str, got %s (from %s)",
        path, pytype(cert), tostring(creds_source))
    end
  end
  if type(config.cot_input_urls) == "table" then
    for k, v in pairs(config.cot_input_urls) do
      if not ({ hg = true, github_raw = true, github_api = true, github = true })[k] then
        messages[#messages + 1] = string.format(
          "%s: cot_input_urls: unknown key %s (expected hg, github_raw, github_api or github)", path, short(k))
      elseif type(v) ~= "string" or not v:match("^https?://[^/]") then
        messages[#messages + 1] = string.format("%s: cot_input_urls.%s: expected an http(s) URL, got %s",
          path, k, short(v))
      end
    end
  end
  if set and type(config.cot_product) == "string" and not set.products[config.cot_product] then
    messages[#messages + 1] = string.format("%s: cot_product: %s has no product policy in %s/products/",
      path, short(config.cot_product), tostring(set.dir))
  end
  if #messages > 0 then
    return nil, messages, "invalid"
  end
  config.credentials = nil
  if set and set.dir then
    -- The folder the rules come from, whichever way it was chosen: the
    -- directory checks below keep it out of the script's reach.
    config.policy_dir = set.dir
  end
  if not opts.verify_only then
    if config.state_dir == json.null then
      config.state_dir = config.log_dir .. "/state"
    end
    messages = M.check_dirs(config, path)
    if #messages > 0 then
      return nil, messages, "invalid"
    end
  end
  -- Where the config was read from: a file the task script must not be
  -- able to publish (sw.task protects it by inode).
  config.config_path = path
  -- The file the worker's credentials came from (the config,
  -- ./secrets.json, ~/.scriptworker), or nil (the environment, none):
  -- checked for who can read it (sw.worker, sw.task).
  config.credentials_path = creds ~= nil and creds ~= json.null and creds_source ~= "environment"
    and creds_source or nil
  info.policy = set
  if set and not set.instance and set.instances then
    -- Without --policy, the config's cot_job_type names the instance
    -- policy (there may be none: the task type's rules still apply).
    set.instance = set.instances[config.cot_job_type]
  end
  return config, creds, info
end

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

-- load_with_policy(path, opts) -> config, creds, info | nil, messages, code:
-- loads the policy set, then the config over it. The set is the folder of
-- opts.policy_file (`--policy FILE`, whose basename names the instance
-- policy), else the file's policy_dir, else the installed policies.
-- info.policy is the set (with .instance), info.overrides the policy keys
-- the file sets, info.notes what the policy overrode in the file.
function M.load_with_policy(path, opts)
  opts = opts or {}
  local policy = require("sw.policy")
  local policy_file = opts.policy_file
  local o = {}
  for k, v in pairs(opts) do
    o[k] = v
  end
  o.policy = function(doc)
    local dir, instance_name
    if policy_file then
      if not fs.exists(policy_file) then
        return nil, { string.format("--policy %s: No such file or directory", policy_file) }, "ENOENT"
      end
      dir = dirname(policy_file)
      instance_name = policy_file:match("([^/]+)%.lua$")
      if not instance_name then
        return nil, { string.format("--policy %s: expected an instance policy FILE.lua", policy_file) }, "invalid"
      end
    elseif type(doc.policy_dir) == "string" then
      dir = doc.policy_dir
    else
      dir = policy.default_dir()
    end
    local set, errs, pcode = policy.load(dir)
    if not set then
      return nil, errs, pcode
    end
    if instance_name then
      local inst = set.instances[instance_name]
      if not inst then
        return nil, { string.format("--policy %s: not an instance policy of %s (those are: %s)", policy_file, dir,
          table.concat(M.sorted_keys(set.instances), ", ")) }, "invalid"
      end
      set.instance = inst
    end
    return set
  end
  return M.load(path, o)
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

-- Replaces the product data and the trusted keys of the Python defaults
-- with the policy set's: a `by-cot-product` mapping built from every
-- product policy (a key a product leaves out resolves to null), and the
-- keys of every worker implementation.
function M.apply_policy_defaults(defaults, set)
  for _, k in ipairs(M.PRODUCT_KEYS) do
    local by = json.object({})
    for name, p in pairs(set.products) do
      local v = p[k]
      if v == nil then
        v = json.null
      end
      by[name] = deepcopy(v)
    end
    defaults[k] = json.object({ ["by-cot-product"] = by })
  end
  local keys = json.object({})
  for name, impl in pairs(set.worker_impls) do
    keys[name] = json.array(deepcopy(impl.keys or {}))
  end
  defaults.ed25519_public_keys = keys
end

return M
