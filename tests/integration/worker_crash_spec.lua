-- The worker binary against the local Queue when the task script cannot
-- start (its executable went missing after start-up, which checks it:
-- internal-error, the reason in the task's log) or crashes (killed by a signal: failed, as in the Python
-- worker); either way the worker goes on to the next task. What a script
-- leaves running in its process group is killed when it ends.
local fs = require("sw.fs")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("worker: a script that cannot start or crashes", function()
  local fx, env, worker, exe

  local function write_exe()
    assert(fs.mkdirp(env.dir .. "/bin"))
    assert(fs.write_file_atomic(exe, string.format("#!/bin/sh\nexec '%s' lua '%s' \"$@\"\n", worker_env.BIN,
      worker_env.TASK_SCRIPT), tonumber("755", 8)))
  end

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "crash")
    exe = env.dir .. "/bin/task"
    local cfg = env:config("w1")
    cfg.task_script = { exe, cfg.artifact_dir }
    -- start-up checks the executable (worker_misconfigured_spec.lua); it
    -- goes missing afterwards
    write_exe()
    worker = env:start_worker({ config_path = env:write_config("w1", cfg) })
    assert(worker:wait_log("call=claimWork"), worker:log())
    assert(fs.remove(exe))
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("a missing executable: internal-error, and the log says why", function()
    local id = env:create_task({ exit = 0 }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "internal-error", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("Automation Error: cannot start the task script: proc.spawn: " .. exe
      .. ": no such file or directory\n", log)
    assert.truthy(worker:log():find("ERROR [" .. id .. "] cannot start the task script", 1, true))
  end)

  it("goes on to the next task once the executable exists", function()
    write_exe()
    local id = env:create_task({ files = { ["public/ok.txt"] = "ok\n" } })
    assert.are.equal("completed", env:wait_resolved(id).state)
    assert.are.equal("ok\n", assert(env:artifact(id, 0, "public/ok.txt")).body)
  end)

  it("a script killed by a signal: failed, the signal in its log; the next task runs", function()
    local id = env:create_task({ print = { "about to crash" }, signal = "ABRT" })
    local st = env:wait_resolved(id)
    assert.are.same({ "failed", "failed" }, { st.state, st.runs[1].reasonResolved })
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("about to crash\nAutomation Error: the task script was killed by signal 6\n", log)
    local next_id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(next_id).state)
  end)

  it("a script that leaves a process behind: it is killed when the script ends", function()
    local id = env:create_task({ background = 600, files = { ["public/a.txt"] = "a\n" } })
    local st = env:wait_resolved(id)
    assert.are.same({ "completed", "completed" }, { st.state, st.runs[1].reasonResolved })
    local script = env:script_state(id, 0)
    assert.are.equal("integer", math.type(script.bg_pid))
    assert.is_true(worker_env.group_ends(script.pid))
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("Automation Error: the task script left processes behind; they were killed\nexit code: 0\n", log)
    assert.truthy(worker:log():find("WARN [" .. id .. "] the task script left processes behind; killing its "
      .. "process group", 1, true))
  end)

  it("a pipeline error: internal-error, the task's log uploaded, the next task runs", function()
    -- A file where the worker puts its logs in the snapshot makes the
    -- worker's own step raise after the script ended.
    local id = env:create_task({ sh = 'rm -r "$ARTIFACT_DIR/public/logs" && echo x >"$ARTIFACT_DIR/public/logs"' },
      { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "internal-error", 1 }, { st.state, st.runs[1].reasonResolved, #st.runs })
    local log = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("exit code: 0\nAutomation Error: the worker failed while running the task; see its log\n", log)
    assert.truthy(worker:log():find("ERROR [" .. id .. "] task pipeline error", 1, true))
    local next_id = env:create_task({ exit = 0 })
    assert.are.equal("completed", env:wait_resolved(next_id).state)
    -- the first task's secrets were forgotten and its label cleared
    assert.falsy(worker:log():find("INFO [" .. id .. "] claimed", 1, true))
  end)

  it("never stopped; sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
  end)
end)
