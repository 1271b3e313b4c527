-- The worker binary killed with SIGKILL in the middle of a task (claims of
-- 3 s): started again, it cleans up what the dead run left, waits until
-- the Queue gives up on the lost claim, and runs the task's retry run
-- with nothing of the old run in it (docs/worker.md: "Killed with SIGKILL
-- mid-task, it starts again cleanly").
local fs = require("sw.fs")
local json = require("sw.json")
local support = require("support")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: SIGKILL mid-task and a restart", function()
  local fx, env, id, first, second, script0

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 3 })
    env = worker_env.new(fx, "restart")
    first = env:start_worker()
    -- run 0 leaves a file behind and hangs; run 1 ends at once
    id = env:create_task({
      files = { ["public/new.txt"] = "new\n" },
      run0 = { files = { ["public/stale.txt"] = "stale\n" }, sleep = 600 },
    })
    script0 = assert(env:wait_script(id, 0))
    local stale = first.config.artifact_dir .. "/public/stale.txt"
    assert(worker_env.poll(30, function()
      return fs.exists(stale)
    end))
    assert(first:kill("SIGKILL"))
    local st = first:wait()
    assert.are.same({ code = -9, signal = "SIGKILL", signum = 9 }, st)
    -- What a dead worker leaves: its files, and the script it started,
    -- which runs on in its own session.
    assert.is_true(fs.exists(stale))
    assert.is_true(worker_env.group_alive(script0.pid))
    second = env:start_worker()
    env:wait_resolved(id, 60)
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("loses run 0 to claim expiry and completes the retry run", function()
    local st = fx:task_info(id).status
    assert.are.same({ "completed", 2 }, { st.state, #st.runs })
    assert.are.same({ "exception", "claim-expired" }, { st.runs[1].state, st.runs[1].reasonResolved })
    assert.are.same({ "completed", "retry", "w1" }, { st.runs[2].reasonResolved, st.runs[2].reasonCreated,
      st.runs[2].workerId })
    assert.is_number(env:script_state(id, 1).finish)
  end)

  it("uploads nothing of the dead run in the new one", function()
    local names = {}
    for name in pairs(env:artifact_list(id, 1)) do
      names[#names + 1] = name
    end
    table.sort(names)
    assert.are.same({ "public/chain-of-trust.json", "public/chain-of-trust.json.sig",
      "public/logs/live_backing.log", "public/new.txt" }, names)
    assert.are.equal("exit code: 0\n", assert(env:artifact(id, 1, "public/logs/live_backing.log")).body)
    local cot = json.decode(assert(env:artifact(id, 1, "public/chain-of-trust.json")).body)
    assert.are.same({ 1, { "public/logs/live_backing.log", "public/new.txt" } }, {
      cot.runId,
      support.sorted_keys(cot.artifacts),
    })
    assert.are.same({}, fx:task_info(id).artifacts[1])
  end)

  it("stops the script the killed worker left running", function()
    assert.is_false(worker_env.group_alive(script0.pid), second:log())
    assert.truthy(second:log():find("killed the task script a previous worker left running pid="
      .. script0.pid, 1, true))
  end)

  it("keeps running after the restart; nothing the Queue's schemas refuse", function()
    local next_id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(next_id).state)
    assert.are.same({ code = 0 }, second:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
