-- The worker binary against the local Queue, misconfigured (docs/worker.md
-- "A misconfigured worker"): a task_script that cannot be started stops
-- start-up with exit 2 before any claim; a script that stops being
-- startable later makes the worker stop claiming after
-- max_consecutive_internal_errors tasks (exit 3), while a script's own
-- exit code 5 never counts.
local fs = require("sw.fs")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue
local json = require("sw.json")

local function write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
  assert(fs.chmod(path, mode))
end

describe("worker: a misconfigured worker does not drain its queue", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "misconf")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  local function start_fails(script, message)
    local claims = fx:stats().requests.claimWork or 0
    local w = env:start_worker({ worker_id = "bad", config = { task_script = json.array(script) } })
    assert.are.same({ code = 2 }, w:wait(30))
    assert.truthy(w:log():find("ERROR " .. message, 1, true), w:log())
    assert.are.equal(claims, fx:stats().requests.claimWork or 0)
    w:stop()
  end

  it("a missing task_script: exit 2 at start-up, no claim", function()
    start_fails({ env.dir .. "/nope.sh" }, "task_script: " .. env.dir .. "/nope.sh: no such file")
  end)

  it("a task_script that is not executable: exit 2 at start-up", function()
    local path = env.dir .. "/noexec.sh"
    write(path, "#!/bin/sh\nexit 0\n", tonumber("644", 8))
    start_fails({ path }, "task_script: " .. path .. " (mode 0644, ")
  end)

  it("a command not in PATH: exit 2 at start-up", function()
    start_fails({ "sw-no-such-command-x" }, 'task_script: "sw-no-such-command-x": no such command in PATH')
  end)

  it("a command found in PATH starts", function()
    local w = env:start_worker({ worker_id = "path", config = { task_script = json.array({ "true" }) } })
    local id = env:create_task({})
    assert.are.equal("completed", env:wait_resolved(id).state)
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("stops claiming after 3 tasks in a row that could not start: exit 3", function()
    local path = env.dir .. "/script.sh"
    write(path, "#!/bin/sh\nexit 0\n", tonumber("755", 8))
    local w = env:start_worker({ worker_id = "drain", config = { task_script = json.array({ path }) } })
    assert(w:wait_log("call=claimWork"), w:log())
    assert(fs.chmod(path, tonumber("644", 8)))
    local ids = {}
    for i = 1, 4 do
      ids[i] = env:create_task({}, { retries = 0 })
    end
    assert.are.same({ code = 3 }, w:wait(60), w:log())
    local resolved = 0
    for _, id in ipairs(ids) do
      local st = fx:task_info(id).status
      if st.state == "exception" then
        assert.are.equal("internal-error", st.runs[1].reasonResolved)
        resolved = resolved + 1
      else
        assert.are.equal("pending", st.state)
      end
    end
    assert.are.equal(3, resolved)
    assert.truthy(w:log():find("ERROR 3 tasks in a row failed for the worker's own reasons", 1, true), w:log())
    -- the one left goes to a worker that can run it
    fs.chmod(path, tonumber("755", 8))
    local good = env:start_worker({ worker_id = "drain2", config = { task_script = json.array({ path }) } })
    for _, id in ipairs(ids) do
      local st = env:wait_resolved(id)
      assert.is_true(st.state == "completed" or st.runs[1].reasonResolved == "internal-error")
    end
    assert.are.same({ code = 0 }, good:stop())
  end)

  it("a script's own exit code 5 never counts", function()
    local w = env:start_worker({ worker_id = "five", config = { max_consecutive_internal_errors = 2 } })
    local ids = {}
    for i = 1, 4 do
      ids[i] = env:create_task({ exit = 5 }, { retries = 0 })
    end
    env:wait_all(ids)
    for _, id in ipairs(ids) do
      assert.are.equal("internal-error", fx:task_info(id).status.runs[1].reasonResolved)
    end
    assert.is_nil(w:wait(0.5))
    assert.are.same({ code = 0 }, w:stop())
  end)
end)
