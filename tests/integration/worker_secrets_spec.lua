-- No secret leaves the worker binary: neither its own access token nor a
-- task's temporary access token or certificate shows in its log (debug
-- lines included), in an error, in any uploaded artifact or in the task
-- script's environment, through claims, reclaims with fresh credentials,
-- failures, credentials that expired mid-run and refused credentials.
local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

-- Every temporary credential a script saw on fd 3, from the state files
-- (task.lua's collect_creds), and their secret parts.
local function task_secrets(env)
  local secrets = {}
  for _, name in ipairs(fs.listdir(env.state_dir) or {}) do
    if name:match("%.creds$") then
      for line in assert(fs.read_file(env.state_dir .. "/" .. name)):gmatch("[^\n]+") do
        local c = assert(json.decode(line))
        secrets[#secrets + 1] = c.accessToken
        if c.certificate then
          secrets[#secrets + 1] = c.certificate
          local cert = assert(json.decode(c.certificate))
          secrets[#secrets + 1] = cert.seed
          secrets[#secrets + 1] = cert.signature
        end
      end
    end
  end
  return secrets
end

-- {label = text} of every artifact of every run of the tasks, as stored
-- and decoded.
local function all_artifacts(env, ids)
  local out = {}
  for _, id in ipairs(ids) do
    local info = env.fx:task_info(id)
    for run = 1, #info.artifacts do
      for _, a in ipairs(info.artifacts[run]) do
        if a.storageType == "s3" or a.storageType == "object" then
          local got = env:artifact(id, run - 1, a.name)
          if got then
            out[string.format("%s/%d/%s", id, run - 1, a.name)] = got.raw
            out[string.format("%s/%d/%s (decoded)", id, run - 1, a.name)] = got.body
          end
        end
      end
    end
  end
  return out
end

-- The first secret found in one of the texts, as "label" (never the
-- secret itself, which would land in the test output).
local function leak(texts, secrets)
  for label, text in pairs(texts) do
    for i, s in ipairs(secrets) do
      if text:find(s, 1, true) then
        return string.format("secret #%d in %s", i, label)
      end
    end
  end
  return nil
end

describe("worker: secrets", function()
  local fx, env, worker
  local ids = {}

  setup(function()
    -- Claims of 4 s: reclaims hand out new credentials every 2 s or so.
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 4 })
    env = worker_env.new(fx, "secrets")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("keeps the worker's credentials out of the script's environment", function()
    -- the worker's own credentials come from the environment here
    local cfg = env:config("w1")
    cfg.credentials = nil
    worker = env:start_worker({
      config_path = env:write_config("w1", cfg),
      env = {
        TASKCLUSTER_CLIENT_ID = env.credentials.clientId,
        TASKCLUSTER_ACCESS_TOKEN = env.credentials.accessToken,
        TASKCLUSTER_ROOT_URL = fx.root_url,
        TASKCLUSTER_PROXY_URL = "http://taskcluster",
      },
    })
    local id = env:create_task({ dump_env = true, collect_creds = 3, print = { "collecting" } })
    ids[#ids + 1] = id
    assert.are.equal("completed", env:wait_resolved(id).state)
    local vars = {}
    for line in assert(env:artifact(id, 0, "public/env.txt")).body:gmatch("[^\n]+") do
      local k, v = line:match("^([^=]+)=(.*)$")
      vars[k] = v
    end
    assert.are.same({
      TASK_ID = id,
      RUN_ID = "0",
      TASKCLUSTER_ROOT_URL = fx.root_url,
      TASKCLUSTER_CREDENTIALS_FD = "3",
      SW_TEST_STATE = env.state_dir,
    }, {
      TASK_ID = vars.TASK_ID,
      RUN_ID = vars.RUN_ID,
      TASKCLUSTER_ROOT_URL = vars.TASKCLUSTER_ROOT_URL,
      TASKCLUSTER_CREDENTIALS_FD = vars.TASKCLUSTER_CREDENTIALS_FD,
      SW_TEST_STATE = vars.SW_TEST_STATE,
    })
    for k in pairs(vars) do
      assert.is_true(not k:match("^TASKCLUSTER_") or k == "TASKCLUSTER_ROOT_URL"
        or k == "TASKCLUSTER_CREDENTIALS_FD", k)
    end
    -- several sets of credentials were handed out during the run
    assert.is_true(#task_secrets(env) >= 2 * 4)
  end)

  it("runs a failing task and a task whose credentials expire mid-run", function()
    local failing = env:create_task({ stderr = { "oops" }, exit = 1 })
    ids[#ids + 1] = failing
    assert.are.equal("failed", env:wait_resolved(failing).state)
    -- Two hours later (the Queue's clock), the run's certificate and claim
    -- have expired: reclaim and upload calls are refused.
    local id = env:create_task({ collect_creds = 3, run0 = { sleep = 600 } })
    ids[#ids + 1] = id
    assert(env:wait_script(id, 0))
    sched.run(sched.sleep, 1)
    fx:advance_clock(2 * 3600 * 1000)
    local st = env:wait_resolved(id, 60, 0)
    assert.are.same({ "exception", "claim-expired" }, { st.runs[1].state, st.runs[1].reasonResolved })
    fx:set_clock_offset(0)
    -- the Queue retries it; the retry runs to the end
    assert.are.equal("completed", env:wait_resolved(id, 60).state)
  end)

  it("never logs a secret, even for credentials the Queue refuses", function()
    local cfg = env:config("w2")
    cfg.credentials.accessToken = "wrong-token-" .. ("x"):rep(20)
    local w2 = env:start_worker({ worker_id = "w2", config_path = env:write_config("w2", cfg) })
    assert(w2:wait_log("claimWork failed error=\"claimWork: HTTP 401 AuthenticationFailed"))
    assert.are.same({ code = 0 }, w2:stop())
    assert.is_nil(leak({ ["w2 log"] = w2:log() }, { cfg.credentials.accessToken, env.credentials.accessToken }))
  end)

  it("never shows a secret in the log or an artifact", function()
    assert.are.same({ code = 0 }, worker:stop())
    local secrets = task_secrets(env)
    secrets[#secrets + 1] = env.credentials.accessToken
    local texts = all_artifacts(env, ids)
    texts["worker log"] = worker:log()
    -- the log really covers reclaims, failures and refused calls
    assert.truthy(texts["worker log"]:find("reclaimed taken_until=", 1, true))
    assert.truthy(texts["worker log"]:find("reclaimTask answered 409", 1, true))
    assert.is_nil(leak(texts, secrets))
  end)

  it("never prints a secret in a start-up error", function()
    local token = "s3cret-" .. ("y"):rep(24)
    for i, creds in ipairs({ '["id", "' .. token .. '"]', '"' .. token .. '"' }) do
      local path = env:write_config("bad" .. i, "work_dir: w\ncredentials: " .. creds .. "\n"
        .. "github_oauth_token: 123456789\n")
      local r = sched.run(function()
        return assert(proc.run({ argv = { worker_env.BIN, path }, env = { PATH = os.getenv("PATH") }, timeout = 30 }))
      end)
      assert.are.equal(2, r.code)
      assert.truthy(r.stderr:find(": credentials: expected dict, got ", 1, true))
      assert.truthy(r.stderr:find(": github_oauth_token: expected str, got int\n", 1, true))
      assert.is_nil(r.stderr:find(token, 1, true))
      assert.is_nil(r.stderr:find("123456789", 1, true))
    end
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
