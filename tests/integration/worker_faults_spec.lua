-- Worker binaries against a local Queue that fails on purpose: 10% of the
-- requests to every endpoint (artifact uploads included) answer 500, 502
-- or 503, 5% are processed and then cut off, all are delayed, from a
-- fixed seed. 50 tasks must still all end completed, with every artifact
-- present and byte for byte what the script wrote. A run may be lost on
-- the way (a claimWork answer cut off after the Queue claimed the task:
-- the claim expires and the Queue retries it), but never a task or a file.
local json = require("sw.json")
local slugid = require("sw.slugid")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local N = 50
local WORKERS = { "f1", "f2", "f3", "f4" }
local RULE = { errorRate = 0.1, errorStatus = { 500, 502, 503 }, dropRate = 0.05, latencyMs = { 0, 20 } }
-- How a run other than the last may have ended.
local LOST_RUN = { ["claim-expired"] = true, ["intermittent-task"] = true }

local function files_of(i, id)
  return {
    files = { ["public/id.txt"] = id .. "\n", ["public/data.json"] = string.format('{"i": %d}\n', i) },
    random = { ["public/blob.bin"] = { size = 20000 + i, seed = i } },
  }
end

describe("worker: a Queue with faults on every endpoint", function()
  local fx, env
  local ids = {}
  local workers

  setup(function()
    fx = support_queue.start({
      poll_seconds = 1,
      -- a claim lost to a cut-off answer expires soon
      claim_seconds = 3,
      faults = { seed = 4242, rules = { ["*"] = RULE, upload = RULE } },
    })
    env = worker_env.new(fx, "faults")
    for i = 1, N do
      local id = slugid.nice()
      ids[i] = id
      env:create_task(files_of(i, id), { task_id = id })
    end
    workers = env:start_workers(WORKERS)
    env:wait_all(ids, 120)
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("injected errors, cut connections and latency, uploads included", function()
    -- stats count the faults of the "*" rule by method
    local faults = fx:stats().faults
    for _, key in ipairs({ "claimWork", "createArtifact", "upload", "reportCompleted" }) do
      local f = faults[key] or {}
      assert.is_true((f.error or 0) + (f.drop or 0) > 0 and (f.latency or 0) > 0, key .. ": " .. json.encode(f))
    end
    local retried = 0
    for _, w in pairs(workers) do
      for _ in w:log():gmatch("queue call failed, retrying") do
        retried = retried + 1
      end
    end
    assert.is_true(retried > 0)
  end)

  it("completes every task; any earlier run was lost to a fault, not to the script", function()
    for _, id in ipairs(ids) do
      local st = fx:task_info(id).status
      local last = st.runs[#st.runs]
      assert.are.same({ id, "completed", "completed" }, { id, st.state, last.reasonResolved }, env:task_log(id))
      for r = 1, #st.runs - 1 do
        local run = st.runs[r]
        assert.are.equal("exception", run.state)
        assert.is_true(LOST_RUN[run.reasonResolved], id .. " run " .. (r - 1) .. ": " .. run.reasonResolved)
      end
    end
  end)

  it("loses no artifact: every file of the completed run arrived byte for byte", function()
    for i, id in ipairs(ids) do
      local st = fx:task_info(id).status
      local run_id = #st.runs - 1
      local want = files_of(i, id)
      local list = env:artifact_list(id, run_id)
      for _, name in ipairs({ "public/id.txt", "public/data.json", "public/blob.bin",
        "public/logs/live_backing.log", "public/chain-of-trust.json", "public/chain-of-trust.json.sig" }) do
        assert.is_true(list[name] ~= nil and list[name].present, id .. " " .. name)
      end
      assert.are.equal(want.files["public/id.txt"], assert(env:artifact(id, run_id, "public/id.txt")).body)
      assert.are.equal(want.files["public/data.json"], assert(env:artifact(id, run_id, "public/data.json")).body)
      local blob = assert(env:artifact(id, run_id, "public/blob.bin")).body
      local r = want.random["public/blob.bin"]
      assert.is_true(blob == worker_env.bytes(r.size, r.seed), id .. " public/blob.bin differs")
      local cot = assert(env:artifact(id, run_id, "public/chain-of-trust.json")).body
      local sig = assert(env:artifact(id, run_id, "public/chain-of-trust.json.sig")).body
      assert.are.equal(run_id, json.decode(cot).runId)
      assert.are.equal(64, #sig)
    end
  end)

  it("every worker exits 0 on SIGTERM; nothing the Queue's schemas refuse", function()
    fx:set_faults(nil)
    for _, name in ipairs(WORKERS) do
      assert.are.same({ code = 0 }, workers[name]:stop())
    end
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
