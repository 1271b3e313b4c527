-- The worker binary against the local Queue: SIGTERM stops the running
-- script, uploads what exists, reports worker-shutdown and exits 0 (a
-- second SIGTERM exits at once); a task claimed while stopping is
-- reported worker-shutdown without running; SIGUSR1 finishes the current
-- task, then exits 0 (docs/worker.md, "Signals").
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local function run0(st)
  local r = st.runs[1]
  return { #st.runs, r.state, r.reasonResolved }
end

describe("worker: signals", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "signals")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("SIGTERM mid-task: the script is stopped, its log uploaded, worker-shutdown, exit 0", function()
    local w = env:start_worker({ worker_id = "term" })
    local id = env:create_task({ print = { "started" }, sleep = 600 }, { retries = 0 })
    local script = assert(env:wait_script(id, 0))
    assert.is_true(worker_env.group_alive(script.pid))
    assert(w:kill("SIGTERM"))
    assert.are.same({ code = 0 }, w:wait())
    assert.is_false(worker_env.group_alive(script.pid))
    local st = env:wait_resolved(id)
    assert.are.same({ 1, "exception", "worker-shutdown" }, run0(st))
    assert.is_nil(env:script_state(id, 0).finish)
    -- What existed was uploaded: the log, which says how the script ended.
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("started\nAutomation Error: the task script was killed by signal 15\n", log)
    -- No chain of trust for a run that did not finish.
    assert.is_nil(env:artifact_list(id, 0)["public/chain-of-trust.json"])
    assert.truthy(w:log():find("SIGTERM received; shutting down", 1, true))
  end)

  it("a script that ignores SIGTERM is killed after script_stop_grace", function()
    local w = env:start_worker({ worker_id = "grace", config = { script_stop_grace = 1 } })
    local id = env:create_task({ trap_term = true, sleep = 600 }, { retries = 0 })
    local script = assert(env:wait_script(id, 0))
    assert(w:kill("SIGTERM"))
    assert.are.same({ code = 0 }, w:wait())
    assert.is_false(worker_env.group_alive(script.pid))
    local st = env:wait_resolved(id)
    assert.are.same({ 1, "exception", "worker-shutdown" }, run0(st))
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("task.lua: ignoring SIGTERM\nAutomation Error: the task script was killed by signal 9\n", log)
  end)

  it("a second SIGTERM exits at once, and takes the script with it", function()
    local w = env:start_worker({ worker_id = "twice", config = { script_stop_grace = 600 } })
    local id = env:create_task({ trap_term = true, sleep = 600 }, { retries = 0 })
    local script = assert(env:wait_script(id, 0))
    assert(w:kill("SIGTERM"))
    assert(w:wait_log("SIGTERM received; shutting down"))
    assert(w:kill("SIGTERM"))
    local st = w:wait()
    assert.are.same({ code = 1 }, st)
    assert.truthy(w:log():find("second SIGTERM: exiting now", 1, true))
    -- Not left behind as an orphan that keeps writing into artifact_dir.
    assert.is_true(worker_env.group_ends(script.pid))
  end)

  it("SIGTERM during claimWork hangs up: the task stays pending for another worker", function()
    -- claimWork answers 1.5 s late: SIGTERM arrives while it is under way.
    -- The worker cancels the call; the Queue claims nothing for a caller
    -- that hung up.
    fx:set_faults({ seed = 1, rules = { claimWork = { latencyMs = 1500 } } })
    local id = env:create_task({ exit = 0 }, { retries = 0 })
    local before = fx:stats().requests.claimWork or 0
    local w = env:start_worker({ worker_id = "late" })
    assert(worker_env.poll(30, function()
      return (fx:stats().requests.claimWork or 0) > before
    end))
    assert(w:kill("SIGTERM"))
    assert.are.same({ code = 0 }, w:wait())
    fx:set_faults(nil)
    assert.is_nil(env:script_state(id, 0))
    os.execute("sleep 2")
    assert.are.equal("pending", fx:task_info(id).status.state)
    local w2 = env:start_worker({ worker_id = "late2" })
    local st = env:wait_resolved(id)
    assert.are.same({ 1, "completed", "completed" }, run0(st))
    assert.are.same({ code = 0 }, w2:stop())
  end)

  it("SIGUSR1 finishes the current task, then exits 0 without taking another", function()
    local w = env:start_worker({ worker_id = "usr1" })
    local first = env:create_task({ sleep = 2, files = { ["public/done.txt"] = "done\n" } })
    local script = assert(env:wait_script(first, 0))
    local second = env:create_task({ exit = 0 })
    -- The images' pre-stop hook sends one every 5 s until the worker is
    -- gone: the log says it once.
    for _ = 1, 3 do
      assert(w:kill("SIGUSR1"))
      os.execute("sleep 0.3")
    end
    assert.are.same({ code = 0 }, w:wait())
    local _, received = w:log():gsub("SIGUSR1 received", "")
    assert.are.equal(1, received)
    local st = fx:task_info(first).status
    assert.are.same({ 1, "completed", "completed" }, run0(st))
    assert.is_number(env:script_state(first, 0).finish)
    assert.are.equal("done\n", assert(env:artifact(first, 0, "public/done.txt")).body)
    assert.is_false(worker_env.group_alive(script.pid))
    -- The second task is still waiting for a worker.
    local st2 = fx:task_info(second).status
    assert.are.same({ "pending", 1, "pending" }, { st2.state, #st2.runs, st2.runs[1].state })
    assert.truthy(w:log():find("SIGUSR1 received; no more tasks will be taken", 1, true))
    -- Another worker takes it.
    local w2 = env:start_worker({ worker_id = "usr1b" })
    assert.are.equal("completed", env:wait_resolved(second).state)
    assert.are.same({ code = 0 }, w2:stop())
  end)

  it("SIGUSR1 and SIGTERM during an empty claimWork exit 0 without sleeping poll_interval", function()
    -- claimWork answers 1 s late and finds nothing; a worker that then
    -- slept its poll_interval of 600 s would miss the wait below.
    fx:set_faults({ seed = 1, rules = { claimWork = { latencyMs = 1000 } } })
    for _, sig in ipairs({ "SIGUSR1", "SIGTERM" }) do
      local before = fx:stats().requests.claimWork or 0
      local w = env:start_worker({ worker_id = "poll" .. sig:lower(), config = { poll_interval = 600 } })
      assert(worker_env.poll(30, function()
        return (fx:stats().requests.claimWork or 0) > before
      end))
      assert(w:kill(sig))
      assert.are.same({ code = 0 }, w:wait(60))
      assert.truthy(w:log():find("scriptworker stopped tasks=0", 1, true), w:log())
    end
    fx:set_faults(nil)
  end)

  it("SIGTERM during a long claimWork exits within a second or so", function()
    -- The Queue's long poll: here it answers after 20 s.
    fx:set_faults({ seed = 1, rules = { claimWork = { latencyMs = 20000 } } })
    local before = fx:stats().requests.claimWork or 0
    local w = env:start_worker({ worker_id = "longpoll" })
    assert(worker_env.poll(30, function()
      return (fx:stats().requests.claimWork or 0) > before
    end))
    local t0 = os.time()
    assert(w:kill("SIGTERM"))
    assert.are.same({ code = 0 }, w:wait(60))
    -- whole seconds: 3 allows for a loaded machine, the poll takes 20
    assert.is_true(os.time() - t0 <= 3, "took " .. (os.time() - t0) .. " s")
    assert.truthy(w:log():find("scriptworker stopped tasks=0", 1, true), w:log())
    fx:set_faults(nil)
  end)

  it("SIGUSR1 and SIGTERM while idle exit 0", function()
    for _, sig in ipairs({ "SIGUSR1", "SIGTERM" }) do
      local w = env:start_worker({ worker_id = "idle" .. sig:lower() })
      assert(w:wait_log("scriptworker starting"))
      assert(w:kill(sig))
      assert.are.same({ code = 0 }, w:wait())
      assert.truthy(w:log():find("scriptworker stopped tasks=0", 1, true), w:log())
    end
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
