local sched = require("sw.sched")
local support = require("support")
local async = support.async

local function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return pid
end

-- Cases about sched.run at the top level; under make sanitize they run in
-- a child process (support.top_it).
local function top_it(name, fn)
  support.top_it(it, "tests/unit/sw/sched_spec.lua", name, fn)
end

describe("sw.sched", function()
  it("runs a function as a task and returns its results", function()
    local a, b = sched.run(function(x)
      return x + 1, "two"
    end, 41)
    assert.are.equal(42, a)
    assert.are.equal("two", b)
  end)

  top_it("raises the error of the main task with a traceback", function()
    local ok, err = pcall(sched.run, function()
      error("boom")
    end)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.matches("stack traceback", err)
  end)

  it("refuses yielding primitives outside a task", function()
    -- A plain coroutine is not a task, even inside one.
    local function outside(fn)
      local ok, err = coroutine.resume(coroutine.create(fn))
      assert.is_false(ok)
      return err
    end
    assert.matches("sleep: not inside a task", outside(function()
      sched.sleep(0)
    end))
    assert.matches("suspend: not inside a task", outside(function()
      sched.suspend()
    end))
  end)

  it("refuses to wait where the task cannot yield", async(function()
    -- string.gsub calls its function without a continuation: the primitive
    -- must raise before it arms anything, or a stray timer resumes the task
    -- later (after it ended: a use after free).
    local me = sched.current()
    local other = sched.spawn(function()
      sched.suspend()
    end)
    sched.yield()
    local calls = {
      sleep = function()
        sched.sleep(0.01)
      end,
      yield = function()
        sched.yield()
      end,
      suspend = function()
        sched.suspend()
      end,
      ["task:wait"] = function()
        other:wait(0.01)
      end,
    }
    for name, fn in pairs(calls) do
      local ok, err = pcall(string.gsub, "a", "a", fn)
      assert.is_false(ok)
      assert.are.equal(
        name
          .. ": cannot wait inside a C call that does not allow yielding"
          .. " (table.sort, string.gsub, require...)",
        (err:gsub("^[^:]+:%d+: ", ""))
      )
      assert.are.equal("running", me:status())
    end
    assert.is_true(other:wake())
    assert.are.same({ true }, { other:wait() })
  end))

  it("rejects negative sleeps", function()
    sched.run(function()
      local ok, err = pcall(sched.sleep, -1)
      assert.is_false(ok)
      assert.matches("sleep: seconds must be between 0 and 1e9", err)
    end)
  end)

  it("interleaves sleeping tasks by their deadlines", async(function()
    local order = {}
    local tasks = {}
    for i, d in ipairs({ 0.06, 0.02, 0.04 }) do
      tasks[i] = sched.spawn(function()
        sched.sleep(d)
        order[#order + 1] = d
        return d
      end)
    end
    local results = sched.wait_all(tasks)
    assert.are.same({ 0.02, 0.04, 0.06 }, order)
    assert.are.same({ true, 0.06, n = 2 }, results[1])
    assert.are.same({ true, 0.02, n = 2 }, results[2])
  end))

  it("returns a task's error from wait without raising", async(function()
    local t = sched.spawn(function()
      error("bad thing", 0)
    end)
    local ok, msg, code = t:wait()
    assert.is_false(ok)
    assert.matches("^bad thing", msg)
    assert.are.equal("error", code)
    assert.are.equal("done", t:status())
  end))

  it("fails a task whose error object cannot be printed", async(function()
    -- The message was made with luaL_tolstring on the dead coroutine: a
    -- __tostring that raised unwound through the event loop (and the state
    -- crashed at exit).
    local t = sched.spawn(function()
      error(setmetatable({}, {
        __tostring = function()
          error("no text")
        end,
      }))
    end)
    local ok, msg, code = t:wait()
    assert.is_false(ok)
    assert.are.equal("error", code)
    assert.matches("^%(error object has a __tostring that fails%)\nstack traceback:\n", msg)
    local t2 = sched.spawn(function()
      error(setmetatable({}, {
        __tostring = function()
          return "custom"
        end,
      }))
    end)
    ok, msg = t2:wait()
    assert.is_false(ok)
    assert.matches("^custom\nstack traceback:\n", msg)
    sched.sleep(0.001) -- the loop still turns
  end))

  it("times out a wait and leaves the task running", async(function()
    local t = sched.spawn(function()
      sched.sleep(0.2)
      return "late"
    end)
    local ok, msg, code = t:wait(0.01)
    assert.is_nil(ok)
    assert.are.equal("timeout", msg)
    assert.are.equal("timeout", code)
    assert.are.equal("pending", t:status())
    assert.are.same({ true, "late" }, { t:wait() })
  end))

  it("cancels a sleeping task and runs its to-be-closed cleanups", async(function()
    local cleaned = false
    local reached = false
    local t = sched.spawn(function()
      local _guard <close> = setmetatable({}, {
        __close = function()
          cleaned = true
        end,
      })
      sched.sleep(10)
      reached = true
    end)
    sched.sleep(0.01)
    assert.are.equal("pending", t:status())
    assert.is_true(t:cancel())
    assert.is_true(cleaned)
    assert.is_false(reached)
    assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
    assert.is_false(t:cancel())
  end))

  it("logs a cleanup's error object that is not a string", async(function()
    -- The warning passed lua_tostring's NULL to "%s".
    local log = require("sw.log")
    local path = os.tmpname()
    local t = sched.spawn(function()
      local _ <close> = setmetatable({}, {
        __close = function()
          error({ code = 1 })
        end,
      })
      sched.sleep(10)
    end)
    sched.yield()
    assert(log.set_output(path))
    local ok, err = pcall(t.cancel, t)
    log.set_output(nil)
    local out = support.read(path)
    os.remove(path)
    assert(ok, err)
    assert.matches(
      " WARN task %d+: error while closing after cancel: %(a table value%)\n$",
      out
    )
  end))

  it("a cancel cannot be swallowed by pcall in the task", async(function()
    local after = false
    local t = sched.spawn(function()
      pcall(sched.sleep, 10)
      after = true
    end)
    sched.sleep(0)
    t:cancel()
    sched.sleep(0.01)
    assert.is_false(after)
  end))

  it("wakes waiters of a cancelled task", async(function()
    local sleeper = sched.spawn(function()
      sched.sleep(10)
    end)
    local waiter = sched.spawn(function()
      return sleeper:wait()
    end)
    sched.sleep(0.01)
    sleeper:cancel()
    assert.are.same({ true, false, "cancelled", "cancelled" }, { waiter:wait() })
  end))

  it("a task cannot cancel or wait for itself", async(function()
    local me = sched.current()
    assert.has_error(function()
      me:cancel()
    end, "task:cancel: a task cannot cancel itself")
    assert.has_error(function()
      me:wait()
    end, "task:wait: a task cannot wait for itself")
  end))

  it("suspends until woken with values", async(function()
    local t = sched.spawn(function()
      return sched.suspend()
    end)
    sched.sleep(0)
    assert.are.equal("suspended", t:status())
    assert.is_true(t:wake("a", 2))
    assert.is_false(t:wake("again"))
    assert.are.same({ true, "a", 2 }, { t:wait() })
  end))

  it("does not let wake resume a task waiting on I/O", async(function()
    local t = sched.spawn(function()
      sched.sleep(0.02)
      return "slept"
    end)
    sched.sleep(0)
    assert.is_false(t:wake("x"))
    assert.are.same({ true, "slept" }, { t:wait() })
  end))

  it("limits concurrency with a semaphore", async(function()
    local sem = sched.semaphore(2)
    local running, peak = 0, 0
    local tasks = {}
    for i = 1, 6 do
      tasks[i] = sched.spawn(function()
        return sem:with(function()
          running = running + 1
          peak = math.max(peak, running)
          sched.sleep(0.01)
          running = running - 1
          return i
        end)
      end)
    end
    local results = sched.wait_all(tasks)
    assert.are.equal(2, peak)
    for i = 1, 6 do
      assert.are.same({ true, i, n = 2 }, results[i])
    end
  end))

  it("releases a semaphore held by a cancelled task", async(function()
    local sem = sched.semaphore(1)
    local holder = sched.spawn(function()
      sem:with(function()
        sched.sleep(10)
      end)
    end)
    local queued = sched.spawn(function()
      sem:acquire()
      sem:release()
    end)
    local third = sched.spawn(function()
      return sem:with(function()
        return "got it"
      end)
    end)
    sched.sleep(0.01)
    queued:cancel()
    holder:cancel()
    assert.are.same({ true, "got it" }, { third:wait(1) })
  end))

  it("refuses a semaphore count that is not a positive integer", function()
    assert.has_error(function()
      sched.semaphore(0)
    end)
  end)

  it("yield lets other ready tasks run first", async(function()
    local log = {}
    local t = sched.spawn(function()
      log[#log + 1] = "other"
    end)
    sched.yield()
    log[#log + 1] = "me"
    t:wait()
    assert.are.same({ "other", "me" }, log)
  end))

  it("keeps polling I/O when the last ready task is cancelled", async(function()
    -- The loop runs the ready tasks of one turn up to the last one queued.
    -- When that one was cancelled first, the turn never ended while tasks
    -- kept yielding, and no timer or socket was served again.
    local fired = false
    local yields = 0
    local c
    local b = sched.spawn(function()
      c:cancel()
      sched.after(0, function()
        fired = true
      end)
      while not fired and yields < 1000 do
        yields = yields + 1
        sched.yield()
      end
    end)
    c = sched.spawn(function() end)
    assert.are.same({ true }, { b:wait() })
    assert.is_true(fired)
    assert.is_true(yields < 1000)
  end))

  it("fails a task that calls coroutine.yield directly", async(function()
    local t = sched.spawn(function()
      coroutine.yield()
    end)
    local ok, msg = t:wait()
    assert.is_false(ok)
    assert.matches("yielded outside the scheduler", msg)
  end))

  top_it("reports a deadlocked main task instead of hanging", function()
    local ok, err = pcall(sched.run, function()
      sched.suspend()
    end)
    assert.is_false(ok)
    assert.matches("can never happen", err)
  end)

  top_it("cancels tasks still alive when run returns", function()
    local t
    sched.run(function()
      t = sched.spawn(function()
        sched.sleep(10)
      end)
      sched.sleep(0)
    end)
    assert.are.equal("done", t:status())
    assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
  end)

  it("lets the results of a collected task go", async(function()
    -- Each finished task kept {ok, values..., n} in the registry for ever.
    local sentinel = {}
    local tasks = {}
    for i = 1, 50 do
      tasks[i] = sched.spawn(function()
        return sentinel
      end)
    end
    for _, t in ipairs(tasks) do
      assert.are.equal(sentinel, select(2, t:wait()))
    end
    tasks = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    local kept = 0
    for _, v in pairs(debug.getregistry()) do
      if type(v) == "table" and rawget(v, 2) == sentinel then
        kept = kept + 1
      end
    end
    assert.are.equal(0, kept)
  end))

  it("labels tasks and children inherit the label", async(function()
    assert.is_nil(sched.label())
    sched.label("TASK1")
    local child = sched.spawn(function()
      return sched.label()
    end)
    assert.are.same({ true, "TASK1" }, { child:wait() })
    sched.label(nil)
    assert.is_nil(sched.label())
  end))

  it("runs timers once or repeatedly until closed", async(function()
    local fired, ticks = 0, 0
    sched.after(0.01, function()
      fired = fired + 1
    end)
    local every = sched.every(0.005, function()
      ticks = ticks + 1
    end)
    -- Wait for the ticks rather than for a fixed time: a loaded machine
    -- may run the loop late.
    for _ = 1, 1000 do
      if ticks >= 3 and fired == 1 then
        break
      end
      sched.sleep(0.005)
    end
    every:close()
    -- A tick spawned just before close may still be queued: let it run.
    sched.sleep(0.01)
    local seen = ticks
    sched.sleep(0.02)
    assert.are.equal(1, fired)
    assert.is_true(seen >= 3)
    assert.are.equal(seen, ticks)
    assert.matches("closed", tostring(every))
  end))

  it("delivers signals as tasks", async(function()
    local got = {}
    local h = sched.on_signal("SIGUSR2", function(name)
      got[#got + 1] = name
    end)
    os.execute("kill -USR2 " .. my_pid())
    for _ = 1, 500 do
      if #got > 0 then
        break
      end
      sched.sleep(0.01)
    end
    h:close()
    assert.are.same({ "SIGUSR2" }, got)
  end))

  it("refuses unknown signal names", function()
    assert.has_error(function()
      sched.on_signal("SIGFOO", function() end)
    end)
  end)

  it("watches a directory for changes", async(function()
    local dir = support.tmpdir()
    local seen = {}
    local h = assert(sched.watch(dir, function(name, events)
      seen[#seen + 1] = { name = name, events = events }
    end))
    sched.sleep(0.01)
    local f = assert(io.open(dir .. "/policy.lua", "w"))
    f:write("return {}")
    f:close()
    for _ = 1, 500 do
      if #seen > 0 then
        break
      end
      sched.sleep(0.01)
    end
    h:close()
    os.execute("rm -rf '" .. dir .. "'")
    assert.is_true(#seen > 0)
    assert.are.equal("policy.lua", seen[1].name)
  end))

  it("returns an error value when the watched path is missing", async(function()
    local h, msg, code = sched.watch("/nonexistent/sw-test", function() end)
    assert.is_nil(h)
    assert.are.equal("watch: /nonexistent/sw-test: no such file or directory", msg)
    assert.are.equal("ENOENT", code)
  end))

  it("tells the time", function()
    assert.is_true(math.abs(sched.now() - os.time()) < 2)
    local a = sched.monotonic()
    assert.is_true(sched.monotonic() >= a)
  end)
end)
