-- The worker binary against the local Queue: SIGINT (Ctrl-C, a
-- supervisor's stop) is handled as SIGTERM (docs/worker.md, "Signals"). It
-- used to kill the worker silently and leave the script running in its own
-- session, writing into artifact_dir.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: SIGINT", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "sigint")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("mid-task: the script is stopped, worker-shutdown, exit 0", function()
    local w = env:start_worker({ worker_id = "int" })
    local id = env:create_task({ print = { "started" }, sleep = 600 }, { retries = 0 })
    local script = assert(env:wait_script(id, 0))
    assert(w:kill("SIGINT"))
    assert.are.same({ code = 0 }, w:wait())
    assert.is_false(worker_env.group_alive(script.pid))
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "worker-shutdown" }, { st.runs[1].state, st.runs[1].reasonResolved })
    assert.truthy(w:log():find("SIGINT received; shutting down", 1, true), w:log())
  end)

  it("idle: exit 0", function()
    local w = env:start_worker({ worker_id = "idle" })
    assert(w:wait_log("call=claimWork"))
    assert(w:kill("SIGINT"))
    assert.are.same({ code = 0 }, w:wait())
    assert.truthy(w:log():find("INFO scriptworker stopped", 1, true), w:log())
  end)

  it("a second SIGINT exits at once and takes the script with it", function()
    local w = env:start_worker({ worker_id = "twice", config = { script_stop_grace = 600 } })
    local id = env:create_task({ trap_term = true, sleep = 600 }, { retries = 0 })
    local script = assert(env:wait_script(id, 0))
    assert(w:kill("SIGINT"))
    assert(w:wait_log("SIGINT received"))
    assert(w:kill("SIGINT"))
    assert.are.same({ code = 1 }, w:wait(30))
    assert.truthy(worker_env.poll(10, function()
      return not worker_env.group_alive(script.pid)
    end))
    assert.truthy(w:log():find("second SIGINT: exiting now", 1, true))
  end)
end)
