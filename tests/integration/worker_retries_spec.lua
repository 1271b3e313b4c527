-- queue_retries is the number of attempts (docs/config.md) of each
-- Taskcluster call and of each artifact upload, counted by the local
-- Queue while it fails every request of one kind; and the keys this
-- worker adds refuse values that could not work.
local proc = require("sw.proc")
local sched = require("sw.sched")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: queue_retries", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "retries")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("makes exactly queue_retries attempts of a call that keeps failing", function()
    fx:set_faults({ seed = 1, rules = { claimWork = { errorRate = 1, errorStatus = 503 } } })
    local before = fx:stats().requests.claimWork or 0
    -- poll_interval 600: after the failure the worker sleeps; nothing more
    local w = env:start_worker({ worker_id = "calls", config = { queue_retries = 3, poll_interval = 600 } })
    assert(w:wait_log("WARN claimWork failed error=\"claimWork: HTTP 503 "))
    assert.are.equal(before + 3, fx:stats().requests.claimWork)
    local n = 0
    for _ in w:log():gmatch("queue call failed, retrying") do
      n = n + 1
    end
    assert.are.equal(2, n)
    fx:set_faults(nil)
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("makes exactly queue_retries attempts of an upload that keeps failing", function()
    local w = env:start_worker({ worker_id = "uploads", config = { queue_retries = 2 } })
    fx:set_faults({ seed = 1, rules = { upload = { errorRate = 1, errorStatus = 500 } } })
    local before = fx:stats().requests.upload or 0
    local id = env:create_task({ files = { ["public/a.txt"] = "a\n" } }, { retries = 0 })
    local st = env:wait_resolved(id)
    fx:set_faults(nil)
    -- never completed with an artifact missing
    assert.are.same({ "exception", "intermittent-task" }, { st.state, st.runs[1].reasonResolved })
    -- public/a.txt, the log, the chain of trust and its signature: 2 PUTs each
    assert.are.equal(before + 4 * 2, fx:stats().requests.upload)
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("keeps polling a Queue it cannot reach, and still exits 0 on SIGTERM", function()
    local w = env:start_worker({ worker_id = "down", config = { taskcluster_root_url = "http://127.0.0.1:1",
      queue_retries = 1 } })
    assert(w:wait_log("claimWork failed.-\n.-claimWork failed"))
    assert.are.equal("running", w.process:status())
    assert.are.same({ code = 0 }, w:stop())
    assert.truthy(w:log():find("WARN claimWork failed error=\"claimWork: transport connect: ", 1, true), w:log())
  end)

  it("refuses values of the added keys that cannot work: exit 2", function()
    local cfg = env:config("bad", { queue_retries = 0, max_concurrent_uploads = 0, script_stop_grace = -1,
      queue_timeout = 0, claim_work_timeout = 0 })
    local path = env:write_config("bad", cfg)
    local r = sched.run(function()
      return assert(proc.run({ argv = { worker_env.BIN, path }, env = { PATH = os.getenv("PATH") }, timeout = 30 }))
    end)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do
      lines[#lines + 1] = line
    end
    assert.are.same({ 2, {
      "scriptworker: " .. path .. ": claim_work_timeout: must be at least 1, got \"0\"",
      "scriptworker: " .. path .. ": max_concurrent_uploads: must be at least 1, got \"0\"",
      "scriptworker: " .. path .. ": queue_retries: must be at least 1, got \"0\"",
      "scriptworker: " .. path .. ": queue_timeout: must be at least 1, got \"0\"",
      "scriptworker: " .. path .. ": script_stop_grace: must be at least 0, got \"-1\"",
    } }, { r.code, lines })
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
