-- The worker binary at start-up and the record of a previous worker's
-- task script (state_dir/script-process, docs/worker.md "Signals"): it
-- kills that process group only when the recorded pid is the process the
-- worker started, still with its start time, leading its process group
-- and its session. A record that names anything else, or is damaged, kills
-- nothing. (worker_restart_spec.lua covers the script that is killed.)
local fs = require("sw.fs")
local proc = require("sw.proc")
local sched = require("sw.sched")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local function stat_fields(pid)
  local rest = (fs.read_file("/proc/" .. pid .. "/stat") or ""):match("%) (.*)$")
  local fields = {}
  for x in (rest or ""):gmatch("%S+") do
    fields[#fields + 1] = x
  end
  return fields
end

describe("worker: the record of a previous task script", function()
  local fx, env
  local victims = {}

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "leftover")
  end)

  teardown(function()
    for _, v in ipairs(victims) do
      os.execute(string.format("kill -KILL -- -%d %d 2>/dev/null", v.pgid, v.pid))
    end
    worker_env.finish(fx, env)
  end)

  -- A process that leads its own process group inside another session
  -- (a sh started in a new session runs it in the background).
  local function group_leader()
    local pid_file = env.dir .. "/victim." .. (#victims + 1)
    local sh = assert(sched.run(proc.spawn, { argv = { "sh", "-c",
      "perl -e 'setpgrp(0, 0); sleep 600' & echo $! > " .. pid_file .. "; wait" } }))
    local pid = worker_env.poll(10, function()
      local text = fs.read_file(pid_file)
      local n = text and tonumber(text:match("%d+"))
      return n and tonumber(stat_fields(n)[3]) == n and n
    end)
    assert(pid, "no victim")
    victims[#victims + 1] = { pid = pid, pgid = pid, sh = sh }
    return pid
  end

  local function record(wid, text)
    local dir = env.dir .. "/" .. wid .. "/log/state"
    assert(fs.mkdirp(dir))
    assert(fs.write_file_atomic(dir .. "/script-process", text, tonumber("600", 8)))
  end

  local function start_and_stop(wid)
    local w = env:start_worker({ worker_id = wid })
    assert(w:wait_log("call=claimWork"), w:log())
    assert.are.same({ code = 0 }, w:stop())
    return w
  end

  it("a group leader that does not lead its session is not killed", function()
    local pid = group_leader()
    local f = stat_fields(pid)
    assert.are_not.equal(tostring(pid), f[4])
    record("forged", pid .. " " .. f[20] .. "\n")
    local w = start_and_stop("forged")
    assert.is_true(worker_env.group_alive(pid))
    assert.truthy(w:log():find("the recorded task script is not the process the worker started", 1, true), w:log())
    assert.is_false(fs.exists(env.dir .. "/forged/log/state/script-process"))
  end)

  it("a session leader with another start time (a reused pid) is not killed", function()
    local sh = victims[1].sh
    local f = stat_fields(sh:pid())
    assert.are.equal(tostring(sh:pid()), f[4])
    record("reused", sh:pid() .. " " .. (tonumber(f[20]) + 1) .. "\n")
    local w = start_and_stop("reused")
    assert.is_true(worker_env.group_alive(sh:pid()))
    assert.truthy(w:log():find("not killing it pid=" .. sh:pid(), 1, true), w:log())
  end)

  for _, text in ipairs({ "1 1\n", "0 5\n", "12 x\n", "garbage" }) do
    it("a damaged record " .. string.format("%q", text) .. " kills nothing", function()
      local wid = "damaged" .. (#text + text:byte(1))
      record(wid, text)
      local w = start_and_stop(wid)
      assert.truthy(w:log():find("ignoring a damaged record of a previous task script", 1, true), w:log())
      assert.is_true(worker_env.group_alive(victims[1].pid))
    end)
  end
end)
