-- The worker binary against a local Queue that takes a request and never
-- answers it (fault kind "hang"), with claims of 16 s: each call is
-- abandoned after queue_timeout (claimWork after claim_work_timeout) and
-- tried again, every task is resolved exactly once, and the worker keeps
-- working. Also: a pipeline error after a reclaim reports with the
-- reclaim's credentials (the claim's have expired by then: the emulator
-- runs with --cert-skew-seconds 0, so temporary credentials end exactly at
-- their claim's takenUntil), and SIGTERM during a hung claimWork ends the
-- worker at once.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: a Queue request that never gets an answer", function()
  local fx, env, worker

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 16, cert_skew_seconds = 0 })
    env = worker_env.new(fx, "hang")
    worker = env:start_worker({ config = { queue_timeout = 3, claim_work_timeout = 4 } })
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  -- Makes the next request of kind `call` hang, once.
  local function hang_once(call)
    fx:set_faults({ seed = 7, rules = { [call] = { hangRate = 1, maxFaults = 1 } } })
  end

  local function hangs(call)
    local f = fx:stats().faults[call]
    return f and f.hang or 0
  end

  local function requests(call)
    return fx:stats().requests[call] or 0
  end

  -- The worker logged a timed-out attempt of `call` and tried again.
  local function assert_retried(call)
    assert.truthy(worker:wait_log("WARN [^\n]-queue call failed, retrying attempt=1 call=" .. call
      .. " delay=[%d.]+ error=\"" .. call .. ": transport timeout: ", 5), worker:log())
  end

  it("claimWork: abandoned after claim_work_timeout, then the next task runs", function()
    hang_once("claimWork")
    assert(worker_env.poll(20, function()
      return hangs("claimWork") == 1
    end))
    local id = env:create_task({ exit = 0 }, { retries = 0 })
    local st = env:wait_resolved(id, 30)
    assert.are.same({ "completed", 1 }, { st.state, #st.runs })
    assert_retried("claimWork")
  end)

  for _, call in ipairs({ "reportCompleted", "createArtifact" }) do
    it(call .. ": abandoned after queue_timeout and tried again; the task resolves once", function()
      fx:set_faults(nil)
      local before = requests(call)
      hang_once(call)
      local id = env:create_task({ files = { ["public/a.txt"] = "a\n" } }, { retries = 0 })
      local st = env:wait_resolved(id, 30)
      assert.are.same({ "completed", 1, "completed" }, { st.state, #st.runs, st.runs[1].reasonResolved })
      assert.are.equal(1, hangs(call))
      assert_retried(call)
      -- the hung request was never processed: one more of that call
      if call == "reportCompleted" then
        assert.are.equal(before + 2, requests(call))
      end
      assert.are.equal("a\n", assert(env:artifact(id, 0, "public/a.txt")).body)
    end)
  end

  it("reclaimTask: abandoned and tried again before the claim lapses; the task completes", function()
    fx:set_faults(nil)
    local before = requests("reclaimTask")
    hang_once("reclaimTask")
    -- 12 s under 16-s claims: the first reclaim (about 8 s in) hangs.
    local id = env:create_task({ sleep = 12 }, { retries = 0 })
    local st = env:wait_resolved(id, 40)
    assert.are.same({ "completed", 1, "completed" }, { st.state, #st.runs, st.runs[1].reasonResolved })
    assert.are.equal(1, hangs("reclaimTask"))
    -- the hung one, then its retry
    assert.is_true(requests("reclaimTask") >= before + 2)
    assert_retried("reclaimTask")
  end)

  it("a pipeline error after a reclaim is reported with the reclaim's credentials", function()
    fx:set_faults(nil)
    local before = requests("reclaimTask")
    -- The script outlives its first claim (16 s), then makes the worker's
    -- own step raise (a file where it puts its logs). The claim's
    -- credentials expired with that claim: only the reclaim's can report.
    local id = env:create_task({
      sh = 'sleep 18; rm -r "$ARTIFACT_DIR/public/logs" && echo x >"$ARTIFACT_DIR/public/logs"',
    }, { retries = 0 })
    local st = env:wait_resolved(id, 60)
    assert.are.same({ "exception", "internal-error", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    assert.is_true(requests("reclaimTask") >= before + 2)
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.truthy(log:find("Automation Error: the worker failed while running the task", 1, true), log)
    assert.falsy(worker:log():find("AuthenticationFailed", 1, true), worker:log())
  end)

  it("SIGTERM while claimWork hangs: the worker exits at once, not at the call's timeout", function()
    fx:set_faults({ seed = 7, rules = { claimWork = { hangRate = 1 } } })
    local n = hangs("claimWork")
    assert(worker_env.poll(20, function()
      return hangs("claimWork") > n
    end))
    local seen = #worker:log()
    assert(worker:kill("SIGTERM"))
    assert.are.same({ code = 0 }, worker:wait(60))
    fx:set_faults(nil)
    -- The hung claimWork was cancelled: it never timed out, nor was retried.
    local after = worker:log():sub(seen + 1)
    assert.falsy(after:find("call=claimWork", 1, true), after)
    assert.truthy(after:find("SIGTERM", 1, true), after)
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
