-- The worker binary against its own task script (issue 10, critical and
-- high): everything a script leaves in work_dir and artifact_dir is
-- hostile. Each case is a script that attacks the worker through links,
-- races or processes that outlive it; docs/worker.md ("Security") says
-- what the worker does about each.
local fs = require("sw.fs")
local json = require("sw.json")
local support = require("support")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local PRECIOUS = "precious bytes the worker must never overwrite\n"

describe("worker security: links in work_dir", function()
  local fx, env

  setup(function()
    -- 4-second claims: the worker reclaims every 2 seconds.
    fx = support_queue.start({ poll_seconds = 1, claim_seconds = 4 })
    env = worker_env.new(fx, "sec-links")
    env:start_worker()
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("rewrites the credentials file through its descriptor, never through a link the script planted", function()
    local target = env.dir .. "/precious.txt"
    assert(fs.write_file_atomic(target, PRECIOUS))
    local id = env:create_task({
      sh = "rm -f .task-credentials.json && ln -s '" .. target .. "' .task-credentials.json",
      creds = true,
      sleep = 7,
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.equal("completed", st.state)
    assert.is_true((fx:stats().requests.reclaimTask or 0) >= 2)
    assert.are.equal(PRECIOUS, fs.read_file(target))
    -- The script still read fresh credentials on its descriptor.
    local c = json.decode(assert(env:artifact(id, 0, "public/creds.json")).body)
    assert.are_not.equal(c.start.clientId, c.finish.clientId)
  end)
end)

-- The names of a run's artifacts and whether one holds `bytes`.
local function uploaded_holding(env, id, bytes)
  local names, holding = {}, {}
  for name in pairs(env:artifact_list(id, 0)) do
    names[#names + 1] = name
    local a = env:artifact(id, 0, name)
    if a and a.body and a.body:find(bytes, 1, true) then
      holding[#holding + 1] = name
    end
  end
  table.sort(names)
  return names, holding
end

describe("worker security: artifacts", function()
  local fx, env, worker, key

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "sec-artifacts")
    worker = env:start_worker()
    key = assert(fs.read_file(env.private_key))
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("refuses hard links to the key, to the config and between files, and fails the task", function()
    local id = env:create_task({
      files = { ["public/ok.txt"] = "ok\n", ["public/a.txt"] = "a\n" },
      sh = "ln '" .. env.private_key .. "' \"$ARTIFACT_DIR/public/key.txt\" && "
        .. "ln '" .. worker.config_path .. "' \"$ARTIFACT_DIR/public/config.yaml\" && "
        .. "ln \"$ARTIFACT_DIR/public/a.txt\" \"$ARTIFACT_DIR/public/b.txt\"",
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.same({ "exception", "malformed-payload" }, { st.state, st.runs[1].reasonResolved })
    local names, holding = uploaded_holding(env, id, key)
    assert.are.same({}, holding)
    assert.are.same({ "public/chain-of-trust.json", "public/chain-of-trust.json.sig",
      "public/logs/live_backing.log", "public/ok.txt" }, names)
    local log = worker:log()
    for _, name in ipairs({ "public/key.txt", "public/config.yaml", "public/a.txt", "public/b.txt" }) do
      assert.truthy(log:find("not uploading artifact name=" .. name .. " reason=", 1, true), name)
    end
    assert.truthy(log:find("name=public/key.txt reason=\"the worker's private key, config or credentials file\"",
      1, true))
    local live = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.truthy(live:find('Automation Error: artifact "public/key.txt" refused', 1, true), live)
  end)

  it("uploads and hashes the bytes it checked, while a process swaps files for links to the key", function()
    -- A process outside the script's group swaps 20 files between a
    -- harmless text and a symbolic link to the key, for 10 seconds.
    local swaps = {}
    for i = 1, 20 do
      swaps[#swaps + 1] = string.format("ln -sfn \"$KEY\" t%d && mv -T t%d f%d.txt; "
        .. "echo harmless > u%d && mv -T u%d f%d.txt;", i, i, i, i, i, i)
    end
    local loop = "end=$(($(date +%s)+10)); while [ $(date +%s) -lt $end ]; do " .. table.concat(swaps, " ") .. " done"
    local id = env:create_task({
      sh = "export KEY='" .. env.private_key .. "'; "
        .. "mkdir -p \"$ARTIFACT_DIR/public\" && cd \"$ARTIFACT_DIR/public\" && "
        .. "for i in $(seq 20); do echo harmless > f$i.txt; done; "
        .. "setsid sh -c '" .. loop:gsub("'", "'\\''")
        .. "' >/dev/null 2>&1 </dev/null & sleep 1",
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    local names, holding = uploaded_holding(env, id, key)
    assert.are.same({}, holding)
    assert.are.equal("completed", st.state)
    local cot = json.decode(assert(env:artifact(id, 0, "public/chain-of-trust.json")).body)
    local hashed = 0
    for _, name in ipairs(names) do
      if not name:match("^public/chain%-of%-trust") then
        local a = assert(env:artifact(id, 0, name))
        local raw = a.body
        assert.are.same({ name, { sha256 = require("sw.hash").string(raw, "sha256") } },
          { name, cot.artifacts[name] })
        hashed = hashed + 1
      end
    end
    assert.is_true(hashed >= 2)
  end)

  it("never writes its logs or the chain of trust through links the script planted", function()
    local target = env.dir .. "/precious-log.txt"
    local outside = env.dir .. "/outside"
    assert(fs.write_file_atomic(target, PRECIOUS))
    assert(fs.mkdirp(outside))
    local id = env:create_task({
      print = { "printed" },
      sh = "mkdir -p \"$ARTIFACT_DIR/public/logs\" && ln -sfn '" .. target
        .. "' \"$ARTIFACT_DIR/public/logs/live_backing.log\" && ln -sfn '" .. target
        .. "' \"$ARTIFACT_DIR/public/logs/chain_of_trust.log\" && mkdir -p \"$ARTIFACT_DIR/x\" && "
        .. "mv \"$ARTIFACT_DIR/public\" \"$ARTIFACT_DIR/x/public\" && "
        .. "ln -s '" .. outside .. "' \"$ARTIFACT_DIR/public\"",
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.equal(PRECIOUS, fs.read_file(target))
    assert.are.same({}, fs.listdir(outside))
    assert.are.equal("completed", st.state)
    assert.are.equal("printed\nexit code: 0\n", assert(env:artifact(id, 0, "public/logs/live_backing.log")).body)
    assert.truthy(env:artifact_list(id, 0)["public/chain-of-trust.json"])
  end)

  it("keeps its own live_backing.log out of the script's reach", function()
    local id = env:create_task({
      print = { "a line of the script" },
      files = { ["public/logs/live_backing.log"] = "forged by the script\n" },
      sh = "sleep 0.5",
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    assert.are.equal("completed", st.state)
    local live = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("a line of the script\nexit code: 0\n", live)
    local cot = json.decode(assert(env:artifact(id, 0, "public/chain-of-trust.json")).body)
    assert.are.equal(require("sw.hash").string(live, "sha256"), cot.artifacts["public/logs/live_backing.log"].sha256)
  end)
end)

describe("worker security: directories", function()
  local fx, env

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "sec-dirs")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  -- Starts the worker on config overrides; returns its exit status and log.
  local function start_with(name, overrides)
    local w = env:start_worker({ worker_id = name, config = overrides })
    local st = w:wait(30)
    return st, w:log(), w
  end

  it("refuses overlapping work_dir and artifact_dir at start-up", function()
    local d = env.dir .. "/overlap"
    local cases = {
      { { work_dir = d .. "/x", artifact_dir = d .. "/x/" }, "work_dir: must not be artifact_dir" },
      { { work_dir = d .. "/a/work", artifact_dir = d .. "/a" }, "work_dir: must not be inside artifact_dir" },
      { { work_dir = d .. "/w", artifact_dir = d .. "/w/../w/art" }, "artifact_dir: must not be inside work_dir" },
    }
    local before = fx:stats().requests.claimWork or 0
    for i, c in ipairs(cases) do
      c[1].task_log_dir = d .. "/logs"
      local st, log = start_with("overlap" .. i, c[1])
      assert.are.same({ i, { code = 2 } }, { i, st })
      assert.truthy(log:find(c[2], 1, true), log)
    end
    assert.are.equal(before, fx:stats().requests.claimWork or 0)
  end)

  it("refuses a work_dir or artifact_dir that holds the key, the config, log_dir, state_dir or policy_dir", function()
    local base = env.dir .. "/holds"
    local w = base .. "/work"
    local cases = {
      { { work_dir = env.dir }, "work_dir: must not hold ed25519_private_key_path" },
      { { artifact_dir = env.dir, task_log_dir = env.dir .. "/public/logs" },
        "artifact_dir: must not hold the config file" },
      { { work_dir = w, log_dir = w .. "/log" }, "work_dir: must not hold log_dir" },
      { { work_dir = w, state_dir = w .. "/state" }, "work_dir: must not hold state_dir" },
      { { artifact_dir = base .. "/a", task_log_dir = base .. "/a/public/logs", policy_dir = base .. "/a/p" },
        "artifact_dir: must not hold policy_dir" },
    }
    -- A real policy folder there: it loads, and then its place is refused.
    assert(fs.mkdirp(base .. "/a"))
    assert(os.execute(string.format("cp -R '%s/policies' '%s/a/p'", support.root, base)))
    for i, c in ipairs(cases) do
      local st, log = start_with("holds" .. i, c[1])
      assert.are.same({ i, { code = 2 } }, { i, st })
      assert.truthy(log:find(c[2], 1, true), log)
    end
    -- The key survived: nothing was emptied.
    assert.is_true(fs.exists(env.private_key))
  end)
end)

describe("worker security: processes that leave the script's group", function()
  local fx, env, worker, daemon_pid

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "sec-procs")
    worker = env:start_worker()
  end)

  teardown(function()
    if daemon_pid then
      os.execute("kill -KILL " .. daemon_pid .. " 2>/dev/null")
    end
    worker_env.finish(fx, env)
  end)

  local function alive(pid)
    local stat = fs.read_file("/proc/" .. pid .. "/stat")
    local state = stat and stat:match("%) (%a) ")
    return state ~= nil and state ~= "Z" and state ~= "X"
  end

  it("kills a double-forked daemon in its own session when the script ends", function()
    local daemon = env.dir .. "/daemon.sh"
    local pidfile = env.dir .. "/daemon.pid"
    assert(fs.write_file_atomic(daemon, "echo $$ > \"$1\"\n"
      .. "while :; do echo x > \"$2/public/daemon.txt\" 2>/dev/null; sleep 0.2; done\n"))
    local id = env:create_task({
      sh = "mkdir -p \"$ARTIFACT_DIR/public\"; setsid sh -c 'sh " .. daemon .. " " .. pidfile
        .. " \"$ARTIFACT_DIR\" >/dev/null 2>&1 </dev/null &' >/dev/null 2>&1 </dev/null; sleep 0.5",
    }, { retries = 0 })
    local st = env:wait_resolved(id)
    daemon_pid = tonumber(fs.read_file(pidfile) or "")
    assert.is_number(daemon_pid)
    assert.is_false(alive(daemon_pid))
    assert.are.equal("completed", st.state)
    local live = assert(env:artifact(id, 0, "public/logs/live_backing.log")).body
    assert.truthy(live:find("Automation Error: the task script left processes behind", 1, true), live)
    assert.truthy(worker:log():find("the task script left processes outside its process group; they were killed",
      1, true))
    -- Nothing of it reaches the next task's artifacts.
    local id2 = env:create_task({ files = { ["public/ok.txt"] = "ok\n" }, sh = "sleep 0.5" }, { retries = 0 })
    assert.are.equal("completed", env:wait_resolved(id2).state)
    assert.is_nil(env:artifact_list(id2, 0)["public/daemon.txt"])
  end)
end)

-- The effective uid of the spec's process.
local function euid()
  return tonumber((fs.read_file("/proc/self/status") or ""):match("\nUid:%s+%d+%s+(%d+)"))
end

describe("worker security: task_script_user", function()
  local USER = "sw-task-test"
  local fx, env, worker, uid

  setup(function()
    if euid() ~= 0 then
      return
    end
    if not os.execute("id -u " .. USER .. " >/dev/null 2>&1") then
      assert(os.execute("useradd --system --no-create-home --shell /usr/sbin/nologin " .. USER))
    end
    local f = assert(io.popen("id -u " .. USER))
    uid = tonumber(f:read("l"))
    f:close()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "sec-user")
    -- The fixture script records itself in the state directory.
    assert(fs.chmod(env.state_dir, tonumber("1777", 8)))
    worker = env:start_worker({
      config = { task_script_user = USER },
      env = { TASKCLUSTER_ACCESS_TOKEN = "worker-environment-secret-4711" },
    })
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("runs the script as that user, who can read neither the key, the config nor the worker's environment",
    function()
      if euid() ~= 0 then
        pending("needs root: the worker must start as root to switch to task_script_user")
        return
      end
      local out = "\"$ARTIFACT_DIR/public/"
      local id = env:create_task({
        sh = "mkdir -p \"$ARTIFACT_DIR/public\"; id -u > " .. out .. "uid.txt\"; "
          .. "echo \"$HOME $USER\" > " .. out .. "home.txt\"; "
          .. "cat '" .. env.private_key .. "' > " .. out .. "key.txt\" 2>&1; "
          .. "cat '" .. worker.config_path .. "' > " .. out .. "config.txt\" 2>&1; "
          .. "cat /proc/" .. worker:pid() .. "/environ > " .. out .. "environ.txt\" 2>&1; true",
        creds = true,
      }, { retries = 0 })
      local st = env:wait_resolved(id)
      assert.are.same({ "completed", "completed" }, { st.state, st.runs[1].reasonResolved })
      assert.are.equal(uid .. "\n", assert(env:artifact(id, 0, "public/uid.txt")).body)
      local f = assert(io.popen("getent passwd " .. USER .. " | cut -d: -f6"))
      local home = f:read("l")
      f:close()
      assert.are.equal(home .. " " .. USER .. "\n", assert(env:artifact(id, 0, "public/home.txt")).body)
      local key = assert(fs.read_file(env.private_key))
      local config = assert(fs.read_file(worker.config_path))
      for _, name in ipairs({ "key.txt", "config.txt", "environ.txt" }) do
        local body = assert(env:artifact(id, 0, "public/" .. name)).body
        assert.truthy(body:find("Permission denied", 1, true), name .. ": " .. body)
        assert.falsy(body:find(key, 1, true), name)
        assert.falsy(body:find(config, 1, true), name)
        assert.falsy(body:find("worker-environment-secret-4711", 1, true), name)
      end
      -- The task's own credentials stay usable (fd 3, reopened by the script).
      local c = json.decode(assert(env:artifact(id, 0, "public/creds.json")).body)
      assert.truthy(c.start.clientId:match("^task%-client/"), c.start.clientId)
    end)

  it("refuses to start with task_script_user for an unknown user or a key that user could read", function()
    if euid() ~= 0 then
      pending("needs root")
      return
    end
    local w = env:start_worker({ worker_id = "nouser", config = { task_script_user = "no-such-user-sw" } })
    assert.are.same({ code = 2 }, w:wait(30))
    assert.truthy(w:log():find("task_script_user: proc.user: no-such-user-sw: no such user", 1, true), w:log())
    -- A key that user could read (mounted 0644) is refused, too.
    local key2 = env.dir .. "/readable_key"
    assert(fs.copy_file(env.private_key, key2, tonumber("644", 8)))
    w = env:start_worker({ worker_id = "readable",
      config = { task_script_user = USER, ed25519_private_key_path = key2 } })
    assert.are.same({ code = 2 }, w:wait(30))
    assert.truthy(w:log():find('task_script_user: "' .. USER .. '" could read ed25519_private_key_path ('
      .. key2 .. ", mode 0644)", 1, true), w:log())
  end)
end)
