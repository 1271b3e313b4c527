-- The worker binary's configuration (docs/config.md): a scriptworker.yaml
-- written for the Python worker runs a task unchanged, so does one with
-- every key of the Python DEFAULT_CONFIG; a config with an unknown key, a
-- value of the wrong type or a missing value stops start-up with exit
-- status 2 and one line per problem naming the file and the key, before
-- any call to the Queue.
local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local support = require("support")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local PYTHON_YAML = worker_env.FIXTURES .. "/python-scriptworker.yaml"
local PYTHON_DEFAULTS = support.shared .. "/conformance/scriptworker/default-config.json"

-- Runs the binary to completion: {code, stdout, stderr}.
local function run_binary(env, args, extra_env)
  local e = { PATH = os.getenv("PATH"), HOME = env.dir }
  for k, v in pairs(extra_env or {}) do
    e[k] = v
  end
  local argv = { worker_env.BIN }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a
  end
  return sched.run(function()
    return assert(proc.run({ argv = argv, env = e, cwd = env.dir, timeout = 60 }))
  end)
end

local function lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do
    out[#out + 1] = line
  end
  return out
end

-- A valid config with `overrides`, as YAML (one `key: JSON` line each).
local function yaml(env, overrides)
  local cfg = env:config("bad", overrides)
  local keys = {}
  for k in pairs(cfg) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    out[#out + 1] = k .. ": " .. assert(json.encode(cfg[k]))
  end
  return table.concat(out, "\n") .. "\n"
end

describe("worker: configuration", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "config")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("runs a task with a scriptworker.yaml written for the Python worker, unchanged", function()
    local dir = env.dir .. "/python"
    assert(fs.mkdirp(dir))
    assert(fs.copy_file(PYTHON_YAML, dir .. "/scriptworker.yaml"))
    assert(fs.copy_file(env.private_key, dir .. "/ed25519_privkey"))
    local w = env:start_worker({
      worker_id = "python",
      config_path = dir .. "/scriptworker.yaml",
      args = { "scriptworker.yaml" },
      cwd = dir,
      env = {
        TASKCLUSTER_ROOT_URL = fx.root_url,
        TASKCLUSTER_CLIENT_ID = env.credentials.clientId,
        TASKCLUSTER_ACCESS_TOKEN = env.credentials.accessToken,
        -- the config's worker_id wins, as in the Python worker
        SCRIPTWORKER_WORKER_ID = "python-config-2",
      },
    })
    local id = env:create_task(nil, { taskQueueId = "proj-releng/python-config", retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.same({ "completed", "python-config-1" }, { st.state, st.runs[1].workerId })
    assert.are.equal(id .. "\n", assert(env:artifact(id, 0, "public/task-id.txt")).body)
    assert.are.equal("hello from a python config\nexit code: 0\n",
      assert(env:artifact(id, 0, "public/logs/live_backing.log")).body)
    local cot = assert(env:artifact(id, 0, "public/chain-of-trust.json")).body
    local sig = assert(env:artifact(id, 0, "public/chain-of-trust.json.sig")).body
    assert.is_true(env:check_cot(cot, sig).signatureValid)
    assert.are.same({ code = 0 }, w:stop())
    -- log_dir/worker.log in the config's log_fmt and log_datefmt, with a
    -- line per claimWork poll, as the Python worker writes it
    local wl = assert(fs.read_file(dir .. "/log/worker.log"))
    assert.matches("\n%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d     INFO %- Calling claimWork for wg%-1/python%-config%-1\n",
      wl)
    assert.truthy(wl:find("     INFO - [" .. id .. "] Going to run taskId " .. id, 1, true), wl)
    -- the relative paths were the worker's directory's
    assert.is_true(fs.exists(dir .. "/work"))
    assert.is_true(fs.exists(dir .. "/artifacts/public/logs"))
  end)

  it("starts with every key of the Python DEFAULT_CONFIG at its default", function()
    local defaults = assert(json.decode(assert(fs.read_file(PYTHON_DEFAULTS)))).DEFAULT_CONFIG
    local mine = env:config("defaults")
    local out = {}
    local keys = {}
    for k in pairs(defaults) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = defaults[k]
      -- placeholders and what must point at this test's world
      if v == "..." or k == "credentials" or k == "provisioner_id" or k == "worker_type"
          or k == "worker_group" or k == "worker_id" or k == "taskcluster_root_url" or k == "poll_interval"
          or k == "task_script" then
        v = mine[k]
      end
      if k ~= "cot_schema_path" then
        out[#out + 1] = k .. ": " .. assert(json.encode(v))
      end
    end
    local path = env:write_config("python-defaults", table.concat(out, "\n") .. "\n")
    local r = run_binary(env, { path }, { SW_EXIT_WHEN_IDLE = "1" })
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(r.stderr:find("INFO scriptworker stopped tasks=0", 1, true))
    assert.are.equal("", r.stdout)
  end)

  it("refuses unknown keys and wrong types: exit 2, one line per problem, no Queue call", function()
    local before = fx:stats().requests.claimWork or 0
    local path = env:write_config("bad", yaml(env, {
      poll_intervall = 10,
      reclaim_interval = "300",
      verbose = 1,
      task_max_timeout = 1.5,
      sign_chain_of_trust = "yes",
      task_script = "bash -c true",
    }))
    local r = run_binary(env, { path })
    assert.are.same({
      code = 2,
      stdout = "",
      stderr = {
        "scriptworker: " .. path .. ": unknown key \"poll_intervall\"",
        "scriptworker: " .. path .. ": reclaim_interval: expected int, got str \"300\"",
        "scriptworker: " .. path .. ": sign_chain_of_trust: expected bool, got str \"yes\"",
        "scriptworker: " .. path .. ": task_max_timeout: expected int, got float \"1.5\"",
        "scriptworker: " .. path .. ": task_script: expected list, got str \"bash -c true\"",
        "scriptworker: " .. path .. ": verbose: expected bool, got int \"1\"",
      },
    }, { code = r.code, stdout = r.stdout, stderr = lines(r.stderr) })
    assert.are.equal(before, fx:stats().requests.claimWork or 0)
  end)

  it("refuses a config with one unknown key: exit 2 naming it", function()
    local path = env:write_config("typo", yaml(env, { artifact_upload_timout = 1200 }))
    local r = run_binary(env, { path })
    assert.are.same({ 2, { "scriptworker: " .. path .. ": unknown key \"artifact_upload_timout\"" } },
      { r.code, lines(r.stderr) })
  end)

  it("refuses missing values, nulls and bad ids, naming each key", function()
    local path = env:write_config("missing", table.concat({
      "provisioner_id: proj-releng",
      "worker_type: \"bad type\"",
      "work_dir: null",
      "log_dir: ...",
      "credentials: {clientId: c, accessToken: t}",
    }, "\n") .. "\n")
    local r = run_binary(env, { path })
    assert.are.same({ 2, {
      "scriptworker: " .. path .. ": artifact_dir: needs to be defined",
      "scriptworker: " .. path .. ": ed25519_private_key_path: needs to be defined",
      "scriptworker: " .. path .. ": log_dir: needs to be defined",
      "scriptworker: " .. path .. ": task_log_dir: needs to be defined",
      "scriptworker: " .. path .. ": work_dir: must not be null",
      "scriptworker: " .. path .. ": worker_type: must match ^[a-zA-Z0-9-_]{1,38}$, got \"bad type\"",
    } }, { r.code, lines(r.stderr) })
  end)

  it("says once that no credentials were found", function()
    local cfg = env:config("nocreds")
    cfg.credentials = nil
    local path = env:write_config("nocreds", cfg)
    local r = run_binary(env, { path })
    assert.are.same({ 2, {
      "scriptworker: " .. path .. ": credentials: none found in the config, ./secrets.json, ~/.scriptworker "
        .. "or TASKCLUSTER_CLIENT_ID/TASKCLUSTER_ACCESS_TOKEN",
    } }, { r.code, lines(r.stderr) })
  end)

  it("reads ./secrets.json from the real working directory, whatever $PWD says", function()
    local cfg = env:config("secrets")
    cfg.credentials = nil
    local path = env:write_config("secrets", cfg)
    local secrets = env.dir .. "/secrets.json"
    support.write(secrets, '{"credentials": {"clientId": "...", "accessToken": "not-a-real-token"}}')
    local r = run_binary(env, { path }, { PWD = "/nonexistent" })
    os.remove(secrets)
    assert.are.same({ 2, {
      "scriptworker: " .. path .. ": credentials.clientId: needs to be defined (from "
        .. fs.realpath(env.dir) .. "/secrets.json)",
    } }, { r.code, lines(r.stderr) })
  end)

  it("refuses a missing file, bad YAML and a bad command line with exit 2", function()
    local r = run_binary(env, { env.dir .. "/none.yaml" })
    -- what the user reads names the file, not the function that failed
    assert.are.same({ 2, { "scriptworker: " .. env.dir .. "/none.yaml: cannot read the config: "
      .. "No such file or directory" } }, { r.code, lines(r.stderr) })
    local path = env:write_config("syntax", "a: [\n")
    r = run_binary(env, { path })
    assert.are.same({ 2, { "scriptworker: " .. path .. ": yaml: line 2 column 1: did not find expected node "
      .. "content (while parsing a flow node at line 2 column 1)" } }, { r.code, lines(r.stderr) })
    r = run_binary(env, { "--frobnicate" })
    assert.are.equal(2, r.code)
    assert.are.equal("scriptworker: unknown option --frobnicate", lines(r.stderr)[1])
  end)

  it("says why log_dir/worker.log cannot be written, naming no function", function()
    local cfg = env:config("nolog")
    cfg.log_dir = "/proc/no-such-dir/log"
    local path = env:write_config("nolog", cfg)
    local r = run_binary(env, { path })
    assert.are.equal(2, r.code)
    assert.are.equal("scriptworker: " .. path .. ": log_dir: cannot write /proc/no-such-dir/log/worker.log: "
      .. "/proc/no-such-dir/log: No such file or directory", lines(r.stderr)[#lines(r.stderr)])
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
