-- The worker binary with verify_chain_of_trust on and --policy
-- policies/signing.lua, against the local Queue and generated chains
-- (tests/cot_chain.lua) whose root is a task of the worker's own queue:
-- a verified task's script finds the upstream artifacts in work_dir/cot/
-- and chain_of_trust.log is uploaded; a tampered chain is reported
-- malformed-payload with the log, live_backing.log a link to it, and the
-- script never starts; an unreachable mirror gives intermittent-task.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue
local cot_chain = require("cot_chain")
local support = require("support")
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local policy = require("sw.policy")
local queue = require("sw.queue")

local POLICY_FILE = support.root .. "/policies/signing.lua"

describe("worker: chain of trust verification", function()
  local fx, env, worker

  -- A chain whose root is on the environment's queue and asks the fixture
  -- script to record what it finds in work_dir/cot (payload.test);
  -- retries 0, so that an intermittent-task run is the last one.
  local function chain_for(tampering)
    local opts = { root_provisioner = worker_env.PROVISIONER, root_worker_type = env.worker_type }
    local chain = cot_chain.build(opts)
    chain.root_rec.def.payload.test = json.object({ cot_seen = true })
    chain.root_rec.def.retries = 0
    if tampering then
      chain:tamper(tampering)
    else
      chain:seal()
    end
    chain.root = chain.root_rec.def
    return chain
  end

  setup(function()
    fx = support_queue.start({
      poll_seconds = 1,
      -- the engine reads the chain anonymously
      anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
    })
    env = worker_env.new(fx, "cot")
    local over = chain_for(nil):config(fx)
    over.cot_input_urls.github = fx:mirror_url() .. "/github"
    local cfg = env:config("w1", over)
    local path = env:write_config("cot", cfg)
    worker = env:start_worker({ config_path = path, args = { "--policy", POLICY_FILE, path } })
  end)

  teardown(function()
    -- SW_KEEP_LOG=1 prints the worker's log, for debugging this spec
    if os.getenv("SW_KEEP_LOG") then
      io.stderr:write(worker:log())
    end
    worker_env.finish(fx, env)
  end)

  local function artifact_text(id, name)
    local a = assert(env:artifact(id, 0, name))
    return a.body
  end

  it("runs the script of a verified chain, which finds the upstream artifacts in work_dir/cot", function()
    local chain = chain_for(nil)
    chain:load(fx)
    local id = chain.root_task_id
    local st = env:wait_resolved(id)
    assert.are.equal("completed", st.state, env:task_log(id))
    local seen = assert(json.decode(artifact_text(id, "public/cot-seen.json")))
    local n = 0
    for _, u in ipairs(chain.root.payload.upstreamArtifacts) do
      for _, p in ipairs(u.paths) do
        n = n + 1
        assert.are.equal(hash.string(chain:artifact(u.taskId, p), "sha256"), seen[u.taskId .. "/" .. p], p)
      end
    end
    assert.is_true(n > 0)
    -- and each link's task definition
    for _, rec in ipairs(chain:links()) do
      assert.is_string(seen[rec.id .. "/task.json"], rec.key)
    end
    local log = artifact_text(id, "public/logs/chain_of_trust.log")
    local set = assert(policy.load(support.root .. "/policies"))
    assert.truthy(log:find(set.digest, 1, true))
    assert.truthy(log:find("Good.", 1, true))
    assert.truthy(log:find("Verifying signing " .. id .. " as a signing task...", 1, true))
    assert.are.equal("s3", env:artifact_list(id, 0)["public/logs/live_backing.log"].storageType)
  end)

  it("reports a tampered chain malformed-payload, with the log, and never starts the script", function()
    local chain = chain_for("artifact_bytes_changed")
    chain:load(fx)
    local id = chain.root_task_id
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.is_nil(env:script_state(id, 0))
    local build = chain:task("build")
    local log = artifact_text(id, "public/logs/chain_of_trust.log")
    assert.truthy(log:find("Chain of Trust verification error! signing:build " .. build.id ..
      ": public/build/target.tar.gz: BAD HASH", 1, true), log)
    assert.is_nil(log:find("Good.", 1, true))
    local list = env:artifact_list(id, 0)
    assert.are.equal("link", list["public/logs/live_backing.log"].storageType)
    -- the link leads to the chain-of-trust log (through the Queue, which
    -- follows links; the admin API does not)
    local path = env.dir .. "/live_backing.log"
    local res, err = worker_env.run(function()
      return queue.new({ root_url = fx.root_url, retries = 0 }):download_artifact(id, 0,
        "public/logs/live_backing.log", path)
    end)
    assert(res, tostring(err))
    assert.are.equal(log, fs.read_file(path))
    -- no chain-of-trust artifact for a task whose script never ran
    assert.is_nil(list["public/chain-of-trust.json"])
    assert.is_nil(list["public/cot-seen.json"])
  end)

  it("reports an unreachable mirror intermittent-task, without starting the script", function()
    local chain = chain_for(nil)
    fx:set_faults({ seed = 1, rules = { mirror = { errorRate = 1, errorStatus = 503 } } })
    local ok, err = pcall(function()
      chain:load(fx)
      local id = chain.root_task_id
      local st = env:wait_resolved(id, 90)
      assert.are.same({ "exception", "intermittent-task" }, { st.state, st.runs[1].reasonResolved })
      assert.is_nil(env:script_state(id, 0))
      local log = artifact_text(id, "public/logs/chain_of_trust.log")
      assert.truthy(log:find(".taskcluster.yml", 1, true))
      assert.truthy(log:find("HTTP 503", 1, true), log)
    end)
    fx:set_faults({ rules = {} })
    assert(ok, err)
  end)

  it("keeps running; sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
