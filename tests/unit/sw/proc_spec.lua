local proc = require("sw.proc")
local sched = require("sw.sched")
local support = require("support")
local async = support.async

local fixtures = support.root .. "/tests/unit/sw/fixtures/"

local write = support.write

local function read_or_nil(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

-- A process is alive while /proc has it and it is not a zombie (the init
-- of a container may never reap an orphan).
local function alive(pid)
  local stat = read_or_nil("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %(.*%) (%a)") ~= "Z"
end

-- Polls cond every 10 ms until it holds; the bound only keeps a broken
-- build from hanging the suite.
local function eventually(cond)
  for _ = 1, 1000 do
    if cond() then
      return true
    end
    sched.sleep(0.01)
  end
  return false
end

local function gone(pid)
  return eventually(function()
    return not alive(pid)
  end)
end

local function file_has(path, pattern)
  return function()
    local s = read_or_nil(path)
    return s ~= nil and s:find(pattern, 1, true) ~= nil
  end
end

local function lines_sorted(s)
  local t = {}
  for line in s:gmatch("[^\n]+") do
    t[#t + 1] = line
  end
  table.sort(t)
  return t
end

local function sh(script, opts)
  local o = { argv = { "/bin/sh", "-c", script } }
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  return o
end

describe("sw.proc", function()
  local dir
  before_each(function()
    dir = support.tmpdir()
  end)
  after_each(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("exit status", function()
    it("reports exit codes 0, 1, 7 and 245", async(function()
      for _, n in ipairs({ 0, 1, 7, 245 }) do
        local p = assert(proc.spawn({ argv = { "/bin/sh", "-c", "exit " .. n } }))
        assert.are.same({ code = n }, p:wait())
        p:close()
      end
    end))

    it("reports a signal with code = -signum, as Python's returncode", async(function()
      local p = assert(proc.spawn(sh("kill -TERM $$")))
      assert.are.same({ signal = "SIGTERM", signum = 15, code = -15 }, p:wait())
      p:close()
    end))

    it("gives every waiter the same status, and again after exit", async(function()
      local p = assert(proc.spawn(sh("sleep 0.05; exit 3")))
      local waiters = {}
      for i = 1, 3 do
        waiters[i] = sched.spawn(function()
          return p:wait()
        end)
      end
      for i = 1, 3 do
        assert.are.same({ true, { code = 3 } }, { waiters[i]:wait() })
      end
      assert.are.same({ code = 3 }, p:wait())
      assert.are.equal("exited", p:status())
      p:close()
    end))

    it("tracks running, exited and closed", async(function()
      local go = dir .. "/go"
      local p = assert(proc.spawn(sh("while [ ! -e '" .. go .. "' ]; do sleep 0.01; done")))
      local pid = p:pid()
      assert.are.equal("integer", math.type(pid))
      assert.are.equal("running", p:status())
      assert.are.equal("sw.Process (pid " .. pid .. ", running)", tostring(p))
      write(go, "")
      assert.are.same({ code = 0 }, p:wait())
      assert.are.equal("exited", p:status())
      p:close()
      p:close()
      assert.are.equal("closed", p:status())
      assert.are.equal(pid, p:pid())
      assert.are.equal("sw.Process (pid " .. pid .. ", closed)", tostring(p))
      assert.has_error(function()
        p:wait()
      end, "attempt to use a closed process")
      assert.has_error(function()
        p:kill("SIGTERM")
      end, "attempt to use a closed process")
    end))
  end)

  describe("output", function()
    it("appends stdout and stderr to the log in arrival order", async(function()
      local log = dir .. "/live_backing.log"
      write(log, "earlier line\n")
      local p = assert(proc.spawn({ argv = { "/bin/sh", fixtures .. "proc_interleave.sh" }, log = log }))
      assert.are.same({ code = 0 }, p:wait())
      p:close()
      local want = { "earlier line" }
      for i = 1, 5 do
        want[#want + 1] = "out " .. i
        want[#want + 1] = "err " .. i
      end
      assert.are.equal(table.concat(want, "\n") .. "\n", support.read(log))
    end))

    it("creates the log file when it does not exist", async(function()
      local log = dir .. "/new.log"
      local st = proc.run(sh("printf abc", { log = log }))
      assert.are.same({ code = 0, stdout = "abc", stderr = "" }, st)
      assert.are.equal("abc", support.read(log))
    end))

    it("captures stdout and stderr apart", async(function()
      local st = proc.run(sh("echo one; echo two >&2; exit 4"))
      assert.are.same({ code = 4, stdout = "one\n", stderr = "two\n" }, st)
    end))

    it("bounds the capture by max_capture but logs everything", async(function()
      local log = dir .. "/big.log"
      local st = proc.run({
        argv = { "/usr/bin/head", "-c", "100000", "/dev/zero" },
        log = log,
        max_capture = 1000,
      })
      assert.are.equal(0, st.code)
      assert.are.equal(string.rep("\0", 1000), st.stdout)
      assert.is_true(st.truncated)
      assert.are.equal(100000, #support.read(log))
    end))

    it("does not mark a capture that fits exactly as truncated", async(function()
      local st = proc.run(sh("printf abcde", { max_capture = 5 }))
      assert.are.same({ code = 0, stdout = "abcde", stderr = "" }, st)
    end))

    it("returns without capture fields when capture is off", async(function()
      local st = proc.run(sh("echo hidden", { capture = false }))
      assert.are.same({ code = 0 }, st)
    end))

    it("does not hang when a grandchild keeps the pipes open", async(function()
      local p = assert(proc.spawn(sh("sleep 1000 & echo $!; exit 3", { capture = true, drain = 0.05 })))
      local st = p:wait()
      assert.are.equal(3, st.code)
      local grandchild = st.stdout:match("^(%d+)\n$")
      assert.is_truthy(grandchild)
      assert.is_true(alive(grandchild))
      -- The leader is gone, the group is not: kill reaches the grandchild.
      assert.is_true(p:kill("SIGKILL"))
      assert.is_true(gone(grandchild))
      p:close()
    end))
  end)

  describe("environment", function()
    it("passes exactly the env given and nothing else", async(function()
      local st = proc.run({
        argv = { "/usr/bin/env" },
        env = { TASK_ID = "abc", RUN_ID = 0, SPACED = "a b=c" },
      })
      assert.are.equal(0, st.code)
      assert.are.same({ "RUN_ID=0", "SPACED=a b=c", "TASK_ID=abc" }, lines_sorted(st.stdout))
    end))

    it("passes an empty env when none is given", async(function()
      local st = proc.run({ argv = { "/usr/bin/env" } })
      assert.are.same({ code = 0, stdout = "", stderr = "" }, st)
    end))

    it("inherits the worker's env only with inherit_env, overridden by env", async(function()
      local home = assert(os.getenv("HOME"))
      local st = proc.run({
        argv = { "/usr/bin/env" },
        env = { SW_PROC_SPEC = "1", HOME = "/nowhere" },
        inherit_env = true,
      })
      local seen = {}
      for _, line in ipairs(lines_sorted(st.stdout)) do
        local k, v = line:match("^([^=]*)=(.*)$")
        seen[k] = v
      end
      assert.are.equal("1", seen.SW_PROC_SPEC)
      assert.are.equal("/nowhere", seen.HOME)
      assert.are_not.equal(home, "/nowhere")
      assert.are.equal(os.getenv("PATH"), seen.PATH)
    end))

    it("runs in cwd", async(function()
      local st = proc.run({ argv = { "/bin/pwd", "-P" }, cwd = dir })
      local real = proc.run({ argv = { "/usr/bin/realpath", dir } }).stdout
      assert.are.same({ code = 0, stdout = real, stderr = "" }, st)
    end))

    it("gives the child /dev/null on stdin and default signal dispositions", async(function()
      -- The worker ignores SIGPIPE; its children must not inherit that.
      -- libuv resets signals 1-31 between fork and exec; a real-time signal
      -- some library of the parent ignores would be inherited, so only the
      -- standard signals are compared.
      local st = proc.run(sh("readlink /proc/$$/fd/0; grep SigIgn /proc/self/status"))
      local mask = st.stdout:match("SigIgn:\t(%x+)")
      assert.are.equal(0, tonumber(mask, 16) & 0x7fffffff)
      assert.are.same({ code = 0, stderr = "" }, { code = st.code, stderr = st.stderr })
      assert.are.equal("/dev/null\n", st.stdout:match("^[^\n]*\n"))
    end))

    it("passes no descriptor of the worker but 0, 1 and 2", async(function()
      -- io.open does not set close-on-exec; the child must not see it.
      local f = assert(io.open(dir .. "/open-in-parent", "w"))
      local st = proc.run(sh("ls /proc/$$/fd"))
      f:close()
      assert.are.same({ code = 0, stdout = "0\n1\n2\n", stderr = "" }, st)
    end))
  end)

  describe("extra_fd", function()
    it("opens a path read-only and hands it over as fd 3", async(function()
      local creds = dir .. "/credentials.json"
      write(creds, '{"clientId": "c"}')
      local st = proc.run(sh("cat <&3; ls /proc/$$/fd", { extra_fd = creds }))
      assert.are.same({ code = 0, stdout = '{"clientId": "c"}0\n1\n2\n3\n', stderr = "" }, st)
      -- Read-only: writing to it fails.
      local w = proc.run(sh("echo x >&3", { extra_fd = creds }))
      assert.are.equal(1, w.code)
      assert.are.equal('{"clientId": "c"}', support.read(creds))
    end))

    it("hands over an fd the caller already has as fd 3", async(function()
      local path = dir .. "/by-number"
      write(path, "from an fd")
      local f = assert(io.open(path, "r"))
      -- Find the number of f's descriptor among this process's fds.
      local me = support.read("/proc/self/stat"):match("^(%d+)")
      local listing = proc.run({ argv = { "/usr/bin/find", "/proc/" .. me .. "/fd", "-lname", path } })
      local fd = assert(tonumber(listing.stdout:match("/(%d+)\n$")))
      local st = proc.run(sh("cat <&3", { extra_fd = fd }))
      f:close()
      assert.are.same({ code = 0, stdout = "from an fd", stderr = "" }, st)
    end))

    it("returns an error value for a missing path or a closed fd", async(function()
      local p, msg, code = proc.spawn(sh("true", { extra_fd = dir .. "/missing" }))
      assert.is_nil(p)
      assert.are.equal("proc.spawn: extra_fd " .. dir .. "/missing: no such file or directory", msg)
      assert.are.equal("ENOENT", code)
      p, msg, code = proc.spawn(sh("true", { extra_fd = 1000 }))
      assert.is_nil(p)
      assert.are.equal("proc.spawn: extra_fd 1000: bad file descriptor", msg)
      assert.are.equal("EBADF", code)
    end))
  end)

  describe("spawn errors", function()
    it("returns ENOENT for a missing executable", async(function()
      assert.are.same(
        { nil, "proc.spawn: /no/such: no such file or directory", "ENOENT" },
        { proc.spawn({ argv = { "/no/such" } }) }
      )
      assert.are.same(
        { nil, "proc.spawn: /no/such: no such file or directory", "ENOENT" },
        { proc.run({ argv = { "/no/such" } }) }
      )
    end))

    it("returns EACCES for a file that is not executable", async(function()
      local path = dir .. "/script"
      write(path, "#!/bin/sh\n")
      assert.are.same(
        { nil, "proc.spawn: " .. path .. ": permission denied", "EACCES" },
        { proc.spawn({ argv = { path } }) }
      )
    end))

    it("names a missing cwd or log directory", async(function()
      assert.are.same(
        { nil, "proc.spawn: cwd " .. dir .. "/nope: no such file or directory", "ENOENT" },
        { proc.spawn({ argv = { "/bin/true" }, cwd = dir .. "/nope" }) }
      )
      write(dir .. "/file", "")
      assert.are.same(
        { nil, "proc.spawn: cwd " .. dir .. "/file: not a directory", "ENOTDIR" },
        { proc.spawn({ argv = { "/bin/true" }, cwd = dir .. "/file" }) }
      )
      assert.are.same(
        { nil, "proc.spawn: log " .. dir .. "/nope/x.log: no such file or directory", "ENOENT" },
        { proc.spawn({ argv = { "/bin/true" }, log = dir .. "/nope/x.log" }) }
      )
    end))

    it("raises on malformed options", function()
      assert.has_error(function()
        proc.spawn({})
      end, "proc.spawn: argv must be a non-empty array of strings")
      assert.has_error(function()
        proc.spawn({ argv = {} })
      end, "proc.spawn: argv must be a non-empty array of strings")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true", 3 } })
      end, "proc.spawn: argv[2] must be a string, got number")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, timeout = 3 })
      end, "proc.spawn: unknown option 'timeout'")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, env = { ["A=B"] = "x" } })
      end, 'proc.spawn: env key "A=B" is not a variable name')
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, env = { A = true } })
      end, "proc.spawn: env.A must be a string, got boolean")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, stdin = "data" })
      end, "proc.spawn: stdin must be nil (the child reads /dev/null)")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, extra_fd = 1.5 })
      end, "proc.spawn: extra_fd must be a path or an integer fd")
      assert.has_error(function()
        proc.spawn({ argv = { "/bin/true" }, max_capture = -1 })
      end, "proc.spawn: max_capture must be an integer >= 0")
    end)
  end)

  describe("wait", function()
    it("times out, leaves the process running, and a later wait gets the exit", async(function()
      local go = dir .. "/go"
      local p = assert(proc.spawn(sh("while [ ! -e '" .. go .. "' ]; do sleep 0.01; done; exit 5")))
      assert.are.same({ nil, "timeout", "timeout" }, { p:wait(0.05) })
      assert.are.equal("running", p:status())
      write(go, "")
      assert.are.same({ code = 5 }, p:wait(600))
      p:close()
    end))

    it("lets a cancelled waiter go and another task wait again", async(function()
      local go = dir .. "/go"
      local p = assert(proc.spawn(sh("while [ ! -e '" .. go .. "' ]; do sleep 0.01; done; exit 6")))
      local first = sched.spawn(function()
        return p:wait()
      end)
      local timed = sched.spawn(function()
        return p:wait(600)
      end)
      sched.sleep(0.02)
      assert.is_true(first:cancel())
      assert.is_true(timed:cancel())
      assert.are.same({ false, "cancelled", "cancelled" }, { first:wait() })
      assert.are.equal("running", p:status())
      local second = sched.spawn(function()
        return p:wait()
      end)
      write(go, "")
      assert.are.same({ true, { code = 6 } }, { second:wait() })
      p:close()
    end))

    it("refuses to wait outside a task", function()
      local p = assert(proc.spawn({ argv = { "/bin/sleep", "1000" } }))
      local co = coroutine.create(function()
        return p:wait()
      end)
      local ok, err = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("proc.wait: not inside a task", err, 1, true)
      p:close()
    end)

    it("runs 50 processes at once", async(function()
      local tasks = {}
      for i = 1, 50 do
        tasks[i] = sched.spawn(function()
          return proc.run({ argv = { "/bin/sh", "-c", 'echo "$1"; exit "$1"', "sh", tostring(i) } })
        end)
      end
      for i, r in ipairs(sched.wait_all(tasks)) do
        assert.are.same({ true, { code = i, stdout = i .. "\n", stderr = "" }, n = 2 }, r)
      end
    end))

    it("times out proc.run and kills what it started", async(function()
      local pidfile = dir .. "/pid"
      local st, msg, code = proc.run({
        argv = { "/bin/sh", "-c", 'echo $$ >"$1"; exec sleep 1000', "sh", pidfile },
        timeout = 0.2,
      })
      assert.is_nil(st)
      assert.are.equal("proc.run: /bin/sh: timed out after 0.2 s", msg)
      assert.are.equal("timeout", code)
      local pid = support.read(pidfile):match("%d+")
      assert.is_true(gone(pid))
    end))
  end)

  describe("kill and stop", function()
    it("signals the process group", async(function()
      local p = assert(proc.spawn({ argv = { "/bin/sleep", "1000" } }))
      assert.is_true(p:kill(0))
      assert.is_true(p:kill("SIGUSR1"))
      assert.are.same({ signal = "SIGUSR1", signum = 10, code = -10 }, p:wait())
      p:close()
    end))

    it("refuses unknown signal names", async(function()
      local p = assert(proc.spawn({ argv = { "/bin/true" } }))
      assert.has_error(function()
        p:kill("SIGFOO")
      end, "bad argument #1 to 'kill' (unknown signal name 'SIGFOO')")
      p:wait()
      p:close()
    end))

    -- Starts a fixture that says "ready" once its traps are set and writes
    -- the pid of its background grandchild; returns p, the log path and
    -- that pid.
    local function start_fixture(name)
      local log, pidfile = dir .. "/log", dir .. "/pid"
      local p = assert(proc.spawn({ argv = { "/bin/sh", fixtures .. name, pidfile }, log = log }))
      assert.is_true(eventually(file_has(log, "ready\n")))
      return p, log, support.read(pidfile):match("%d+")
    end

    it("stops a script that exits on SIGTERM, and its group", async(function()
      local p, log, grandchild = start_fixture("proc_trap_term.sh")
      assert.are.same({ code = 0 }, p:stop(30))
      assert.are.equal("ready\nbye\n", support.read(log))
      assert.is_true(gone(grandchild))
      p:close()
    end))

    it("kills a script that ignores SIGTERM, and its group, after the grace", async(function()
      local p, _, grandchild = start_fixture("proc_ignore_term.sh")
      assert.are.same({ signal = "SIGKILL", signum = 9, code = -9 }, p:stop(0.1))
      assert.is_true(gone(grandchild))
      p:close()
    end))

    it("escalates to SIGKILL when the task in stop is cancelled", async(function()
      local p, _, grandchild = start_fixture("proc_ignore_term.sh")
      local stopper = sched.spawn(function()
        return p:stop(600)
      end)
      sched.sleep(0.02)
      assert.is_true(stopper:cancel())
      assert.are.same({ signal = "SIGKILL", signum = 9, code = -9 }, p:wait())
      assert.is_true(gone(grandchild))
      p:close()
    end))

    it("returns the status of a process that already exited", async(function()
      local p = assert(proc.spawn({ argv = { "/bin/sh", "-c", "exit 2" } }))
      p:wait()
      assert.are.same({ code = 2 }, p:stop())
      p:close()
    end))

    it("refuses a negative grace", async(function()
      local p = assert(proc.spawn({ argv = { "/bin/true" } }))
      assert.has_error(function()
        p:stop(-1)
      end, "process:stop: grace must be a number of seconds >= 0")
      p:wait()
      p:close()
    end))
  end)

  describe("kill_group", function()
    it("signals a process group it holds no handle of", async(function()
      local p = assert(proc.spawn(sh("sleep 30 & sleep 30; wait")))
      local pgid = p:pid()
      -- A worker started after a crash knows the group only by its id.
      assert.is_true(proc.kill_group(pgid, "SIGKILL"))
      assert.are.same({ code = -9, signal = "SIGKILL", signum = 9 }, p:wait(10))
      p:close()
    end))

    it("reports a group that does not exist", function()
      local ok, msg, code = proc.kill_group(2147483646, "SIGTERM")
      assert.is_nil(ok)
      assert.are.equal("proc.kill: process group 2147483646: no such process", msg)
      assert.are.equal("ESRCH", code)
    end)

    it("refuses ids that would reach every process", function()
      for _, bad in ipairs({ 1, 0, -5 }) do
        assert.has_error(function()
          proc.kill_group(bad, "SIGKILL")
        end)
      end
    end)
  end)

  describe("descendants that leave the group", function()
    it("kill_pid signals one process; reap collects an orphan, never a spawned child", async(function()
      local p = assert(proc.spawn(sh("sleep 30")))
      assert.is_false(proc.reap(p:pid()))
      assert.is_true(proc.kill_pid(p:pid(), "SIGKILL"))
      assert.are.same({ code = -9, signal = "SIGKILL", signum = 9 }, p:wait(10))
      p:close()
      local ok, msg, code = proc.kill_pid(2147483646, "SIGTERM")
      assert.are.same({ nil, "proc.kill_pid: process 2147483646: no such process", "ESRCH" }, { ok, msg, code })
      assert.has_error(function()
        proc.kill_pid(1, "SIGKILL")
      end)
    end))

    it("set_subreaper: a double-forked orphan comes back to the subreaper, which kills and reaps it", function()
      -- In a child worker process: the spec's own process stays as it is.
      local d = support.tmpdir()
      write(d .. "/t.lua", [[
        local proc = require("sw.proc")
        local sched = require("sw.sched")
        local fs = require("sw.fs")
        assert(proc.set_subreaper())
        sched.run(function()
          local p = assert(proc.spawn({ argv = { "/bin/sh", "-c",
            "setsid sh -c 'sleep 30 & echo $! > ]] .. d .. [[/pid' &" } }))
          p:wait(10)
          p:close()
          local pid
          for _ = 1, 100 do
            pid = tonumber(fs.read_file("]] .. d .. [[/pid") or "")
            if pid then break end
            sched.sleep(0.05)
          end
          local ppid
          for _ = 1, 100 do
            ppid = tonumber((fs.read_file("/proc/" .. pid .. "/stat") or ""):match("%) %a (%d+)"))
            if ppid ~= nil and ppid ~= 1 and ppid ~= pid then
              local me = tonumber(fs.read_file("/proc/self/stat"):match("^(%d+)"))
              if ppid == me then break end
            end
            sched.sleep(0.05)
          end
          local me = tonumber(fs.read_file("/proc/self/stat"):match("^(%d+)"))
          assert(ppid == me, "orphan's parent " .. tostring(ppid) .. ", not " .. me)
          assert(proc.kill_pid(pid, "SIGKILL"))
          local reaped = false
          for _ = 1, 100 do
            reaped = proc.reap(pid)
            if reaped then break end
            sched.sleep(0.05)
          end
          assert(reaped, "not reaped")
          assert(fs.read_file("/proc/" .. pid .. "/stat") == nil, "still in /proc")
          io.stdout:write("ok\n")
        end)
      ]])
      local bin = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
      local st = support.async(function()
        return assert(proc.run({ argv = { bin, "lua", d .. "/t.lua" }, inherit_env = true, timeout = 30 }))
      end)()
      os.execute("rm -rf '" .. d .. "'")
      assert.are.same({ 0, "ok\n", "" }, { st.code, st.stdout, st.stderr })
    end)

    it("user: a local user and its primary group", function()
      assert.are.same({ uid = 0, gid = 0, home = "/root" }, proc.user("root"))
      local ok, msg, code = proc.user("no-such-user-sw")
      assert.are.same({ nil, "proc.user: no-such-user-sw: no such user", "ENOENT" }, { ok, msg, code })
    end)
  end)

  describe("lifetime", function()
    it("kills the group when the Process is closed", async(function()
      local pidfile = dir .. "/pid"
      local pid, grandchild
      do
        local p <close> = assert(proc.spawn({
          argv = { "/bin/sh", "-c", 'sleep 1000 & echo $! >"$1"; wait', "sh", pidfile },
        }))
        pid = p:pid()
        assert.is_true(eventually(file_has(pidfile, "\n")))
        grandchild = support.read(pidfile):match("%d+")
      end
      assert.is_true(eventually(function()
        return not alive(pid) and not alive(grandchild)
      end))
    end))

    it("kills a running child when its Process is collected", async(function()
      local pid = (function()
        return assert(proc.spawn({ argv = { "/bin/sleep", "1000" } })):pid()
      end)()
      collectgarbage()
      collectgarbage()
      assert.is_true(gone(pid))
    end))

    it("kills and reaps every child when the Lua state closes", async(function()
      -- Run a small program in a fresh interpreter of the same kind as this
      -- one (stock Lua or the scriptworker binary, sanitizers included),
      -- leaving a child running, one waited on and one exited.
      local me = support.read("/proc/self/stat"):match("^(%d+)")
      local exe = proc.run({ argv = { "/usr/bin/readlink", "/proc/" .. me .. "/exe" } }).stdout:gsub("\n$", "")
      local script = dir .. "/teardown.lua"
      write(
        script,
        [[
if not package.preload["sw.proc"] then require("sw_core") end
local proc, sched = require("sw.proc"), require("sw.sched")
sched.run(function()
  local a = proc.spawn({argv = {"/bin/sleep", "1000"}})
  local b = proc.spawn({argv = {"/bin/sleep", "1000"}, capture = true})
  local c = proc.spawn({argv = {"/bin/true"}, log = ]] .. string.format("%q", dir .. "/t.log") .. [[})
  sched.spawn(function() b:wait() end)
  sched.spawn(function() b:wait(100) end)
  c:wait()
  print(a:pid(), b:pid())
  io.stdout:flush()
  sched.sleep(0.01)
end)
]]
      )
      local argv
      if exe:match("scriptworker$") then
        argv = { exe, "lua", script }
      else
        argv = { exe, script }
      end
      local st = assert(proc.run({
        argv = argv,
        env = { LUA_PATH = package.path, LUA_CPATH = package.cpath, ASAN_OPTIONS = os.getenv("ASAN_OPTIONS") },
      }))
      assert.are.equal("", st.stderr)
      assert.are.equal(0, st.code)
      local a, b = st.stdout:match("^(%d+)\t(%d+)\n$")
      assert.is_truthy(a)
      assert.is_false(alive(a))
      assert.is_false(alive(b))
    end))
  end)
end)
