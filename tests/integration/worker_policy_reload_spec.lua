-- The worker binary's policy hot reload against the local Queue
-- (docs/policies.md "Reloading"): edits to a copy of policies/ take effect
-- on the next task without a restart; a broken edit leaves the old set in
-- force (or stops start-up) with a message naming file and field, and tasks
-- keep running; a task being verified keeps its set; a burst of writes
-- gives few reloads; SIGHUP re-reads the signing key. Every task is the
-- root of a generated chain of trust (tests/cot_chain.lua) that the worker
-- verifies.
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue
local support = require("support")
local cot_chain = require("cot_chain")
local ed25519 = require("sw.ed25519")
local fs = require("sw.fs")
local json = require("sw.json")
local sched = require("sw.sched")

-- The engine reads tasks and public artifacts anonymously.
local ANONYMOUS = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" }

-- The trusted repository of a restricted firefox chain's tasks (as in the
-- Python worker, the repository matters under restricted scopes), and the
-- rule before it.
local BETA = "        [[^(?P<path>/releases/mozilla-(beta|release|esr\\d+))(/|$)]],\n"
local AUTOLAND = "        [[^(?P<path>/integration/autoland)(/|$)]],\n"

local function shell(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- The digest as docs/policies.md tells an auditor to compute it.
local function digest_of(dir)
  local out = shell(string.format("cd '%s' && LC_ALL=C find . -name '*.lua' | LC_ALL=C sort | xargs sha256sum "
    .. "| sha256sum", dir))
  return assert(out:match("^(%x+)"), out)
end

local function read(path)
  return assert(fs.read_file(path))
end

local function write(path, text)
  assert(fs.write_file_atomic(path, text, tonumber("644", 8)))
end

-- Replaces the one occurrence of `old` (plain text) in the file.
local function replace(path, old, new)
  local text = read(path)
  local i, j = text:find(old, 1, true)
  assert(i, path .. ": no " .. old)
  write(path, text:sub(1, i - 1) .. new .. text:sub(j + 1))
end

-- The test key of a worker implementation, as a line of its keys list.
local function key_line(impl)
  local key = read(cot_chain.KEY_DIR .. "/" .. impl .. "_public_key"):gsub("%s", "")
  return string.format('    "%s", -- test key\n', key)
end

-- A copy of the shipped policies/ whose worker implementations also trust
-- the chain generator's test keys.
local function policy_copy(dir)
  assert(os.execute(string.format("cp -r '%s/policies' '%s'", support.root, dir)))
  for _, impl in ipairs(cot_chain.IMPLS) do
    replace(dir .. "/worker_impls/" .. impl .. ".lua", "\n  keys = {\n", "\n  keys = {\n" .. key_line(impl))
  end
  return dir
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do
    n = n + 1
  end
  return n
end

describe("worker: policy reload", function()
  local fx, env

  -- A chain of trust whose root waits on the environment's queue (once
  -- loaded).
  local function build_chain()
    return cot_chain.build({ restricted = true, root_provisioner = worker_env.PROVISIONER,
      root_worker_type = env.worker_type })
  end

  local function new_chain()
    local chain = build_chain()
    chain:load(fx)
    return chain
  end

  -- Creates a chain and waits for its root; returns the run's state,
  -- reason and the task's chain_of_trust.log.
  local function run_task()
    local chain = new_chain()
    local st = env:wait_resolved(chain.root_task_id, 90)
    local r = st.runs[1]
    local cot_log = env:artifact(chain.root_task_id, 0, "public/logs/chain_of_trust.log")
    return r.state, r.reasonResolved, cot_log and cot_log.body or "", chain.root_task_id
  end

  -- Writes the config of worker `name` (plus `extra`); returns its path.
  local function write_config(name, extra)
    local over = build_chain():config(fx)
    -- The keys come from the policy set, which is what the tests edit.
    over.ed25519_public_keys = json.null
    over.cot_input_urls.github = fx:mirror_url() .. "/github"
    for k, v in pairs(extra or {}) do
      over[k] = v
    end
    return env:write_config(name, env:config(name, over))
  end

  -- A fresh copy of the policies for the worker `name`: <dir>/policies,
  -- so that messages name "policies/...".
  local function copy_for(name)
    local parent = env.dir .. "/p-" .. name
    assert(fs.mkdirp(parent))
    return policy_copy(parent .. "/policies")
  end

  -- Starts a worker on the policy folder `dir`; unless o.refused, waits
  -- until it reloads on changes (SIGHUP before that would kill it).
  local function start(dir, name, extra, o)
    local path = write_config(name, extra)
    local w = env:start_worker({ worker_id = name, config_path = path,
      args = { "--policy", dir .. "/signing.lua", path } })
    -- A failed test must not leave a worker claiming the next test's tasks.
    finally(function()
      w:stop(5)
    end)
    if not (o and o.refused) then
      assert(w:wait_log("reloading the policy set on SIGHUP and on changes", 20), w:log())
    end
    return w
  end

  -- Waits until the worker's log has n "policy set reloaded" lines, or n
  -- "policy reload failed" lines with failed; returns the log.
  local function wait_reloads(w, n, failed)
    local pattern = failed and "policy reload failed" or "policy set reloaded"
    local ok = worker_env.poll(20, function()
      return count(w:log(), pattern) >= n
    end)
    assert(ok, "no reload " .. n .. ":\n" .. w:log())
    return w:log()
  end

  setup(function()
    fx = support_queue.start({ poll_seconds = 1, anonymous_scopes = ANONYMOUS })
    env = worker_env.new(fx, "reload")
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("takes a trusted repository and a key edit on the next task, without a restart", function()
    local policies = copy_for("w1")
    local w = start(policies, "w1")
    local firefox = policies .. "/products/firefox.lua"
    local first = digest_of(policies)
    assert(w:wait_log("policy set loaded.-digest=" .. first, 20), w:log())
    local state, reason, cot_log = run_task()
    assert.are.same({ "completed", "completed" }, { state, reason })
    assert.truthy(cot_log:find("policy set " .. policies .. " digest " .. first, 1, true))

    -- Removing mozilla-beta from the trusted repositories rejects the next
    -- task.
    replace(firefox, BETA, "")
    local second = digest_of(policies)
    assert(w:wait_log("policy set reloaded.-digest=" .. second, 20), w:log())
    state, reason, cot_log = run_task()
    assert.are.same({ "exception", "malformed-payload" }, { state, reason })
    assert.truthy(cot_log:find("digest " .. second, 1, true))
    assert.truthy(cot_log:find("repo None not allowlisted for scope", 1, true), cot_log)

    -- Adding it back lets the next one through.
    replace(firefox, AUTOLAND, AUTOLAND .. BETA)
    assert.are.equal(first, digest_of(policies))
    wait_reloads(w, 2)
    state, reason = run_task()
    assert.are.same({ "completed", "completed" }, { state, reason })

    -- Rotating docker-worker's key: without the test key its links fail.
    local dw = policies .. "/worker_impls/docker-worker.lua"
    replace(dw, key_line("docker-worker"), "")
    wait_reloads(w, 3)
    state, reason, cot_log = run_task()
    assert.are.same({ "exception", "malformed-payload" }, { state, reason })
    assert.truthy(cot_log:find("not signed by any of the %d+ trusted docker%-worker keys"), cot_log)
    replace(dw, "\n  keys = {\n", "\n  keys = {\n" .. key_line("docker-worker"))
    wait_reloads(w, 4)
    state, reason = run_task()
    assert.are.same({ "completed", "completed" }, { state, reason })
    assert.are.same({ code = 0 }, w:stop())
  end)
  -- Broken edits: {what, file, function(text) -> broken text, message}.
  -- The folder is named "policies", so messages start with it.
  local function broken_cases(marker)
    return {
      { "a syntax error", "products/firefox.lua", function(t)
        return t:gsub("\n}%s*$", "\n")
      end, "policies/products/firefox.lua:%d+: unexpected symbol near <eof>" },
      { "a schema error", "products/firefox.lua", function(t)
        return (t:gsub('cot_product_type = "hg"', 'cot_product_type = "svn"'))
      end, 'policies/products/firefox.lua: cot_product_type: expected "hg" or "github", got "svn"' },
      { "an unknown task type", "signing.lua", function(t)
        return (t:gsub('cot_job_type = "signing"', 'cot_job_type = "signing-v2"'))
      end, 'policies/signing.lua: cot_job_type: no task type of that name in policies/task_types/, got "signing%-v2"' },
      { "an os.execute call", "products/firefox.lua", function(t)
        return string.format("os.execute('touch %s')\n", marker) .. t
      end, 'policies/products/firefox.lua: line 1: global "os" is not available to policies' },
      { "an infinite loop", "products/firefox.lua", function(t)
        return "while true do end\n" .. t
      end, "policies/products/firefox.lua: ran out of its instruction budget %(10000000 instructions%)" },
      { "an allocation loop", "products/firefox.lua", function(t)
        return "local t = {} while true do t[#t + 1] = string.rep('x', 4096) .. #t end\n" .. t
      end, "policies/products/firefox.lua: ran out of its memory limit %(67108864 bytes%)" },
    }
  end

  it("keeps the old set in force after a broken edit, and tasks keep running", function()
    local marker = env.dir .. "/os-execute-ran"
    local policies = copy_for("w2")
    local w = start(policies, "w2")
    local digest = digest_of(policies)
    assert(w:wait_log("policy set loaded.-digest=" .. digest, 20), w:log())
    local failures, reloads = 0, 0
    for _, c in ipairs(broken_cases(marker)) do
      local path = policies .. "/" .. c[2]
      local good = read(path)
      local bad = c[3](good)
      assert.are_not.equal(good, bad, c[1])
      write(path, bad)
      failures = failures + 1
      local log = wait_reloads(w, failures, true)
      assert.truthy(log:find("policy reload: " .. c[4]), c[1] .. ":\n" .. log)
      assert.are.equal(failures, count(log, "policy reload failed; the old policy set stays in force digest="
        .. digest .. ' problems=1 trigger="file change"'))
      -- The next task runs on the old set.
      local state, reason, cot_log = run_task()
      assert.are.same({ "completed", "completed" }, { state, reason }, c[1])
      assert.truthy(cot_log:find("digest " .. digest, 1, true), c[1])
      write(path, good)
      reloads = reloads + 1
      wait_reloads(w, reloads)
    end
    assert.is_nil(fs.stat(marker))
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("refuses to start on a broken first set, naming the file and the field", function()
    local marker = env.dir .. "/os-execute-ran-at-start"
    for i, c in ipairs(broken_cases(marker)) do
      local dir = copy_for("start" .. i)
      local path = dir .. "/" .. c[2]
      write(path, c[3](read(path)))
      local w = start(dir, "start" .. i, nil, { refused = true })
      assert.are.same({ code = 2 }, w:wait(30), c[1])
      local log = w:log()
      assert.truthy(log:find("scriptworker: " .. c[4]), c[1] .. ":\n" .. log)
    end
    assert.is_nil(fs.stat(marker))
  end)

  it("changes nothing for a task that is being verified when a reload lands", function()
    local policies = copy_for("w3")
    local w = start(policies, "w3")
    local digest = digest_of(policies)
    assert(w:wait_log("policy set loaded.-digest=" .. digest, 20), w:log())
    -- The decision's .taskcluster.yml comes from the mirror: slow it down
    -- so that the reload lands during the verification.
    fx:set_faults({ seed = 1, rules = { mirror = { latencyMs = 3000 } } })
    local chain = new_chain()
    assert(w:wait_log("verifying the chain of trust of signing " .. chain.root_task_id:gsub("%-", "%%-"), 30),
      w:log())
    local firefox = policies .. "/products/firefox.lua"
    replace(firefox, BETA, "")
    local new = digest_of(policies)
    assert(w:wait_log("policy set reloaded.-digest=" .. new, 20), w:log())
    -- The reload came before the verification ended.
    assert.is_nil(w:log():find("Chain of Trust verification", 1, true))
    local st = env:wait_resolved(chain.root_task_id, 90)
    fx:set_faults(nil)
    assert.are.same({ "completed", "completed" }, { st.runs[1].state, st.runs[1].reasonResolved })
    local cot_log = assert(env:artifact(chain.root_task_id, 0, "public/logs/chain_of_trust.log")).body
    assert.truthy(cot_log:find("digest " .. digest, 1, true), cot_log)
    assert.is_nil(cot_log:find(new, 1, true))
    -- The next task uses the new set.
    local state, reason, next_log = run_task()
    assert.are.same({ "exception", "malformed-payload" }, { state, reason })
    assert.truthy(next_log:find("digest " .. new, 1, true))
    replace(firefox, AUTOLAND, AUTOLAND .. BETA)
    wait_reloads(w, 2)
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("turns a burst of 100 writes into a few reloads that end on the final content", function()
    local policies = copy_for("w4")
    local w = start(policies, "w4")
    assert(w:wait_log("policy set loaded", 20), w:log())
    local firefox = policies .. "/products/firefox.lua"
    local good = read(firefox)
    local started = sched.run(function()
      local t0 = sched.monotonic()
      for i = 1, 100 do
        write(firefox, good .. "-- write " .. i .. "\n")
        sched.sleep(0.005)
      end
      return sched.monotonic() - t0
    end)
    local final = digest_of(policies)
    assert(w:wait_log("policy set reloaded.-digest=" .. final, 20), w:log())
    -- Nothing more comes once the writes stopped.
    local n = count(w:log(), "policy set reloaded")
    sched.run(sched.sleep, 1.5)
    local log = w:log()
    assert.are.equal(n, count(log, "policy set reloaded"))
    -- At most one reload per second of writes, plus the last one.
    assert.is_true(n >= 1 and n <= math.ceil(started) + 2, n .. " reloads in " .. started .. " s")
    local last
    for d in log:gmatch("policy set reloaded[^\n]-digest=(%x+)") do
      last = d
    end
    assert.are.equal(final, last)
    write(firefox, good)
    assert.are.same({ code = 0 }, w:stop())
  end)

  it("re-reads the signing key on SIGHUP and keeps the old one when the new one is bad", function()
    local policies = copy_for("w5")
    -- Its own copy of the environment's key, which the test replaces.
    local key_path = env.dir .. "/p-w5/ed25519_private_key"
    assert(fs.write_file_atomic(key_path, read(env.private_key), tonumber("600", 8)))
    local w = start(policies, "w5", { ed25519_private_key_path = key_path })
    local function signature_valid(task_id, public_key)
      local cot = assert(env:artifact(task_id, 0, "public/chain-of-trust.json")).body
      local sig = assert(env:artifact(task_id, 0, "public/chain-of-trust.json.sig")).body
      return worker_env.check_cot(public_key, cot, sig).signatureValid
    end
    local old_public = env.public_key
    local new_dir = support.tmpdir()
    assert(ed25519.write_key_pair(new_dir .. "/key", new_dir .. "/key.pub"))
    local new_public = read(new_dir .. "/key.pub"):gsub("%s+$", "")
    assert(fs.write_file_atomic(key_path, read(new_dir .. "/key"), tonumber("600", 8)))
    assert(w:kill("SIGHUP"))
    assert(w:wait_log("signing key reloaded", 20), w:log())
    -- SIGHUP reloads the policy set too.
    assert.truthy(w:log():find("policy set reloaded[^\n]*trigger=SIGHUP"))
    local _, _, _, id = run_task()
    assert.is_true(signature_valid(id, new_public))
    assert.is_false(signature_valid(id, old_public))

    -- A bad key keeps the new one in use.
    write(key_path, "not a key\n")
    assert(w:kill("SIGHUP"))
    assert(w:wait_log("signing key reload failed; the old key stays in use", 20), w:log())
    _, _, _, id = run_task()
    assert.is_true(signature_valid(id, new_public))
    fs.rmtree(new_dir)
    assert.are.same({ code = 0 }, w:stop())
  end)
  it("refuses a policy folder task_script_user could write to, at start and on reload", function()
    if not shell("id -u"):match("^0\n") then
      pending("needs root: the worker must start as root to use task_script_user")
      return
    end
    local user = "sw-task-test"
    if not os.execute("id -u " .. user .. " >/dev/null 2>&1") then
      assert(os.execute("useradd --system --no-create-home --shell /usr/sbin/nologin " .. user))
    end
    local policies = copy_for("u1")
    local firefox = policies .. "/products/firefox.lua"
    local real = assert(fs.realpath(firefox))
    assert(fs.chmod(firefox, tonumber("666", 8)))
    local function start_as_user(name, o)
      return start(policies, name, { task_script_user = user }, o)
    end
    local w = start_as_user("u1", { refused = true })
    assert.are.same({ code = 2 }, w:wait(30))
    local expected = string.format('policy_dir: task_script_user "%s" could change the policy set through %s '
      .. "(mode 0666, uid 0, gid 0): make it writable by root only", user, real)
    assert.truthy(w:log():find(expected, 1, true), w:log())

    -- Fixed, the worker starts; made writable again, the reload is refused
    -- and the old set stays.
    assert(fs.chmod(firefox, tonumber("644", 8)))
    local digest = digest_of(policies)
    w = start_as_user("u2")
    assert(w:wait_log("policy set loaded.-digest=" .. digest, 20), w:log())
    assert(fs.chmod(firefox, tonumber("666", 8)))
    local log = wait_reloads(w, 1, true)
    assert.truthy(log:find("policy reload: " .. expected, 1, true), log)
    assert.truthy(log:find("policy reload failed; the old policy set stays in force digest=" .. digest, 1, true))
    assert(fs.chmod(firefox, tonumber("644", 8)))
    wait_reloads(w, 1)
    assert.are.same({ code = 0 }, w:stop())
  end)
  it("fails a task closed when a policy function loops or allocates without end, and keeps running", function()
    local policies = copy_for("w6")
    local w = start(policies, "w6")
    local dw = policies .. "/worker_impls/docker-worker.lua"
    local head = "  verify = function(link, ctx)\n"
    local cases = {
      { "while true do pcall(function() while true do end end) end\n",
        "worker_impls/docker%-worker%.lua: verify: ran out of its instruction budget %(10000000 instructions%)" },
      { "local t = {} while true do pcall(function() t[#t + 1] = string.rep('x', 4096) .. #t end) end\n",
        "worker_impls/docker%-worker%.lua: verify: ran out of its memory limit %(67108864 bytes%)" },
    }
    local reloads = 0
    for _, c in ipairs(cases) do
      replace(dw, head, head .. "    " .. c[1])
      reloads = reloads + 1
      wait_reloads(w, reloads)
      local t0 = sched.run(sched.monotonic)
      local state, reason, cot_log = run_task()
      assert.are.same({ "exception", "malformed-payload" }, { state, reason }, c[2])
      assert.truthy(cot_log:find("policies/" .. c[2]), cot_log)
      -- Stopped, not merely slow: the whole task took a few seconds.
      assert.is_true(sched.run(sched.monotonic) - t0 < 30)
      replace(dw, head .. "    " .. c[1], head)
      reloads = reloads + 1
      wait_reloads(w, reloads)
      -- The worker is still there and runs the next task.
      state, reason = run_task()
      assert.are.same({ "completed", "completed" }, { state, reason })
    end
    assert.are.same({ code = 0 }, w:stop())
  end)
  it("follows a policy folder that is replaced as a whole", function()
    local policies = copy_for("w7")
    local w = start(policies, "w7")
    -- As a deploy might: a new copy renamed over the old folder.
    local staged = policies .. ".new"
    assert(os.execute(string.format("cp -r '%s' '%s'", policies, staged)))
    replace(staged .. "/products/firefox.lua", BETA, "")
    assert(os.execute(string.format("mv '%s' '%s.old' && mv '%s' '%s'", policies, policies, staged, policies)))
    local second = digest_of(policies)
    assert(w:wait_log("policy set reloaded.-digest=" .. second, 20), w:log())
    local state, reason = run_task()
    assert.are.same({ "exception", "malformed-payload" }, { state, reason })
    -- The new folder is watched: an edit inside it is taken up too.
    replace(policies .. "/products/firefox.lua", AUTOLAND, AUTOLAND .. BETA)
    local third = digest_of(policies)
    assert(w:wait_log("policy set reloaded.-digest=" .. third, 20), w:log())
    state, reason = run_task()
    assert.are.same({ "completed", "completed" }, { state, reason })
    assert.are.same({ code = 0 }, w:stop())
  end)
end)
