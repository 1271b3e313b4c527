-- make demo: the worker verifies a chain of trust, then signs what it
-- verified; a tampered chain is refused before the script starts.
--
-- 1. Starts the local Queue (tests/queue/server.js, through the fixture of
--    tests/support_queue.lua) and loads a realistic chain into it with the
--    chain generator (tests/cot_chain.lua): a decision task with its
--    task-graph.json, a docker-image task, a build on docker-worker and one
--    on generic-worker, each with a public/chain-of-trust.json signed by the
--    test key of its worker implementation, and a pending signing task that
--    consumes both builds.
-- 2. Runs the worker (build/scriptworker --policy policies/signing.lua) with
--    verify_chain_of_trust on. It claims the signing task, verifies the
--    chain, then runs examples/scripts/demo-signing.lua, which signs the
--    verified upstream artifacts from work_dir/cot/. The demo prints each
--    verification step (chain_of_trust.log), the script's log, the uploaded
--    artifacts, checks the signatures the script made against the bytes the
--    builds produced, and checks the worker's own chain-of-trust artifact.
-- 3. Loads the same chain with one build artifact changed after it was
--    hashed (tampering "artifact_bytes_changed"), runs the worker again and
--    shows the task resolved exception/malformed-payload with the reason
--    from chain_of_trust.log, and that the script never ran.
--
-- Exit status 0 only when the valid chain was verified and signed and the
-- tampered one refused; the last lines are the verdicts.
local root = os.getenv("PWD")
package.path = root .. "/tests/?.lua;" .. package.path

local cot_chain = require("cot_chain")
local ed25519 = require("sw.ed25519")
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local sign = require("sw.sign")
local slugid = require("sw.slugid")
local support_queue = require("support_queue")

local bin = os.getenv("SW_BIN") or (root .. "/build/scriptworker")
local tmp = assert(fs.tmpdir("/tmp/sw-demo-"))
local started = sched.monotonic()

-- The worker's pool: its own provisioner, so the worker claims only the
-- demo's signing tasks; one worker type per run, so the second run cannot
-- pick up a task of the first.
local PROVISIONER = "demo-prov"
local WORKER_GROUP = "demo-workers"

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function section(title)
  say("\n== %s", title)
end

local function write(path, text, mode)
  assert(fs.write_file_atomic(path, text, mode or tonumber("644", 8)))
end

-- Lines of a chain_of_trust.log without their timestamps.
local function cot_log_lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    out[#out + 1] = line:gsub("^%S+%s+", "", 1)
  end
  return out
end

-- The chain as generated: each link with its task type, worker
-- implementation and pool, upstream of the signing task.
local function show_chain(chain)
  local root_def = chain.root
  say("%-14s %-12s %-15s %-22s %s", "link", "task type", "worker impl", "taskId", "pool")
  for _, rec in ipairs(chain:links()) do
    say("%-14s %-12s %-15s %-22s %s/%s", rec.key, rec.type, rec.impl, rec.id, rec.def.provisionerId,
      rec.def.workerType)
  end
  say("%-14s %-12s %-15s %-22s %s/%s   <- claimed by the worker", "signing", chain.root_type, "scriptworker",
    chain.root_task_id, root_def.provisionerId, root_def.workerType)
  for _, u in ipairs(root_def.payload.upstreamArtifacts) do
    say("  upstreamArtifacts: %s %s %s", u.taskType, u.taskId, table.concat(u.paths, ", "))
  end
end

-- Writes the worker's config for `chain` into dir and returns its path:
-- the chain's overrides (mirror URLs, valid_artifact_rules for the local
-- Queue, the test public keys, cot_product) plus what a worker needs.
-- cot_job_type comes from --policy policies/signing.lua, not from here.
local function write_config(fx, chain, dir, worker_creds, signing_key)
  local over = chain:config(fx)
  over.cot_job_type = nil
  assert(fs.mkdirp(dir))
  local script_config = dir .. "/script_config.json"
  write(script_config, assert(json.encode({
    work_dir = dir .. "/work", artifact_dir = dir .. "/artifacts", signing_key = signing_key,
  })))
  local config = {
    worker_group = WORKER_GROUP, worker_id = "demo-1",
    credentials = worker_creds,
    work_dir = dir .. "/work", artifact_dir = dir .. "/artifacts",
    task_log_dir = dir .. "/artifacts/public/logs", log_dir = dir .. "/log",
    task_script = json.array({ bin, "lua", root .. "/examples/scripts/demo-signing.lua", script_config }),
    poll_interval = 1, reclaim_interval = 20,
    sign_chain_of_trust = true, ed25519_private_key_path = dir .. "/worker_ed25519_private_key",
  }
  for k, v in pairs(over) do
    config[k] = v
  end
  assert(ed25519.write_key_pair(config.ed25519_private_key_path, dir .. "/worker_ed25519_public_key"))
  -- JSON is YAML: the file is a scriptworker.yaml like any other.
  local path = dir .. "/scriptworker.yaml"
  write(path, assert(json.encode(config)) .. "\n", tonumber("600", 8))
  local rule = config.valid_artifact_rules[1]
  say("config: verify_chain_of_trust %s, verify_cot_signature %s, cot_product %s, cot_job_type from the policy",
    tostring(config.verify_chain_of_trust), tostring(config.verify_cot_signature), tostring(config.cot_product))
  say("  worker %s/%s as %s/%s; artifacts only from %s://%s", config.provisioner_id, config.worker_type,
    config.worker_group, config.worker_id, rule.schemes[1], rule.netlocs[1])
  say("  hg.mozilla.org, raw.githubusercontent.com, api.github.com served by the local mirror %s/",
    config.cot_input_urls.hg:match("^(.*)/hg$"))
  say("  ed25519_public_keys: the test keys of docker-worker, generic-worker, scriptworker")
  return path
end

-- Runs the worker for one task; returns its exit status and log.
local function run_worker(config_path, dir, worker_creds)
  local argv = { bin, "--policy", root .. "/policies/signing.lua", config_path }
  say("$ scriptworker --policy policies/signing.lua %s", config_path)
  local worker = assert(proc.spawn({
    argv = argv,
    env = { PATH = os.getenv("PATH"), HOME = dir, SW_MAX_TASKS = "1" },
    cwd = dir,
    log = dir .. "/worker.log",
  }))
  local st = worker:wait(60)
  if not st then
    worker:stop(5)
    error("the worker did not finish in 60 s; its log:\n" .. (fs.read_file(dir .. "/worker.log") or ""))
  end
  local wlog = fs.read_file(dir .. "/worker.log") or ""
  if wlog:find(worker_creds.accessToken, 1, true) then
    error("the worker log contains its access token", 0)
  end
  for line in wlog:gmatch("[^\n]+") do
    if line:find("claimed task", 1, true) or line:find("policy", 1, true)
        or line:find("chain of trust verification failed", 1, true)
        or line:find("task script", 1, true) or line:find("reporting", 1, true) then
      say("  %s", line)
    end
  end
  say("worker exited with %s", tostring(st.code or st.signal))
  return st, wlog
end

-- The bytes of an artifact, or nil after saying why: a missing artifact is
-- part of what the demo reports, not a crash of the demo.
local function download(q, task_id, name, dest)
  local ok, err = q:download_artifact(task_id, 0, name, dest)
  if not ok then
    say("  (%s of %s: %s)", name, task_id, tostring(err))
    return nil
  end
  return fs.read_file(dest)
end

local function artifact_names(q, task_id)
  local list = assert(q:list_all_artifacts(task_id, 0))
  local names = {}
  for _, a in ipairs(list) do
    names[#names + 1] = a
  end
  table.sort(names, function(a, b)
    return a.name < b.name
  end)
  return names
end

local function main()
  local verdicts = {}
  local worker_creds = { clientId = "project/releng/demo-worker", accessToken = slugid.nice() .. slugid.nice() }
  local user_creds = { clientId = "demo-user", accessToken = slugid.nice() .. slugid.nice() }

  section("local Queue")
  -- The engine reads tasks and public artifacts anonymously, as against
  -- the real Queue; the worker's client may claim from the demo's pool only.
  local fx = support_queue.start({
    anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
    clients = { { clientId = worker_creds.clientId, accessToken = worker_creds.accessToken,
      scopes = { "queue:claim-work:" .. PROVISIONER .. "/*", "queue:worker-id:" .. WORKER_GROUP .. "/*" } },
      { clientId = user_creds.clientId, accessToken = user_creds.accessToken, scopes = { "queue:status:*" } } },
    poll_seconds = 1,
  })
  local _fx <close> = setmetatable({}, { __close = function()
    fx:stop(5)
  end })
  say("started at %s (node %s)", fx.root_url, support_queue.SERVER:gsub("^" .. root:gsub("%p", "%%%0") .. "/", ""))
  -- Artifacts are read anonymously (they are public); the task's status
  -- by a user who may see it.
  local reader = fx:client(nil)
  local user = fx:client(user_creds)

  -- The signing key of the demo's "signing service": the script signs with
  -- the private half, the demo checks with the public half.
  local signing_key, signing_pub = tmp .. "/demo_signing_key", tmp .. "/demo_signing_key.pub"
  local signing_pk = assert(ed25519.write_key_pair(signing_key, signing_pub))

  local opts = {
    product = "firefox", root_type = "signing",
    shape = { docker_build = true, generic_build = true, docker_image = true },
    root_provisioner = PROVISIONER, root_worker_type = "demo-signing",
  }

  -- 1. The valid chain -------------------------------------------------------
  section("1. a chain of trust in the local Queue (firefox, mozilla-central)")
  local chain = cot_chain.build(opts)
  chain:load(fx)
  show_chain(chain)
  for _, rec in ipairs(chain:links()) do
    say("  %s: public/chain-of-trust.json signed with the %s test key %s", rec.key, rec.impl,
      ed25519.public_key_to_string(cot_chain.public_key(rec.impl)))
  end

  section("2. the worker claims the signing task and verifies its chain")
  local dir = tmp .. "/valid"
  local config_path = write_config(fx, chain, dir, worker_creds, signing_key)
  local st = run_worker(config_path, dir, worker_creds)
  if st.code ~= 0 then
    error("the worker exited with " .. tostring(st.code or st.signal) .. "; its log:\n"
      .. (fs.read_file(dir .. "/worker.log") or ""))
  end
  local task_id = chain.root_task_id
  local dl = tmp .. "/download"
  assert(fs.mkdirp(dl))

  section("chain_of_trust.log")
  local cot_log = download(reader, task_id, "public/logs/chain_of_trust.log", dl .. "/valid-cot.log")
  local cot_lines = cot_log_lines(cot_log)
  for _, line in ipairs(cot_lines) do
    say("  %s", line)
  end
  local verified = cot_lines[#cot_lines] and cot_lines[#cot_lines]:match("^%s*INFO %- Good%.") ~= nil

  section("the script's log (public/logs/live_backing.log)")
  local live = download(reader, task_id, "public/logs/live_backing.log", dl .. "/valid-live.log") or ""
  for line in live:gmatch("[^\n]+") do
    say("  %s", line)
  end

  section("artifacts of the signing task")
  for _, a in ipairs(artifact_names(reader, task_id)) do
    say("  %-42s %-26s %s", a.name, a.contentType, a.storageType)
  end

  section("the signatures, checked against the builds' bytes")
  local signed = 0
  local sig_ok = true
  for _, u in ipairs(chain.root.payload.upstreamArtifacts) do
    for _, path in ipairs(u.paths) do
      local name = path:match("([^/]+)$")
      local original = chain:artifact(u.taskId, path)
      local sig_text = download(reader, task_id, "public/build/" .. name .. ".sig", dl .. "/" .. name .. ".sig")
      local digest = download(reader, task_id, "public/build/" .. name .. ".sha256", dl .. "/" .. name .. ".sha256")
      local sig = sig_text and sign.b64decode((sig_text:gsub("%s+$", "")))
      local good = sig ~= nil and sign.verify(signing_pk, original, sig) == true
      local digest_ok = digest ~= nil and digest:match("^(%x+)") == hash.string(original, "sha256")
      say("  %s of %s %s: signature %s, sha256 %s", path, u.taskType, u.taskId, good and "VALID" or "INVALID",
        digest_ok and "matches" or "DIFFERS")
      sig_ok = sig_ok and good and digest_ok
      signed = signed + 1
    end
  end
  say("  (key %s)", ed25519.public_key_to_string(signing_pk))

  section("the worker's own chain-of-trust artifact")
  local cot_text = download(reader, task_id, "public/chain-of-trust.json", dl .. "/cot.json")
  local cot_sig = download(reader, task_id, "public/chain-of-trust.json.sig", dl .. "/cot.json.sig")
  local worker_pk = assert(ed25519.load_public_key(dir .. "/worker_ed25519_public_key"))
  local cot_valid = cot_text ~= nil and cot_sig ~= nil and sign.verify(worker_pk, cot_text, cot_sig) == true
  local cot = cot_text and json.decode(cot_text)
  if type(cot) == "table" and type(cot.artifacts) == "table" then
    local listed = {}
    for name in pairs(cot.artifacts) do
      listed[#listed + 1] = name
    end
    table.sort(listed)
    say("  taskId %s runId %s workerType %s workerId %s", tostring(cot.taskId), tostring(cot.runId),
      tostring(cot.workerType), tostring(cot.workerId))
    for _, name in ipairs(listed) do
      say("  %-42s sha256 %s", name, tostring(cot.artifacts[name].sha256))
    end
  else
    cot_valid = false
  end
  say("  signature %s with the worker's key %s", cot_valid and "VALID" or "INVALID",
    ed25519.public_key_to_string(worker_pk))

  section("resolution")
  local status = assert(user:call("status", task_id))
  local run = status.status.runs[1]
  say("  task %s: %s (%s)", task_id, status.status.state, run and run.reasonResolved or "?")
  local valid_ok = verified and signed > 0 and sig_ok and cot_valid and status.status.state == "completed"
  verdicts[#verdicts + 1] = string.format("VERDICT valid chain: %s", valid_ok
    and string.format("VERIFIED, %d artifacts signed, task completed", signed)
    or "NOT VERIFIED (expected verified)")

  -- 2. The tampered chain ------------------------------------------------------
  section("3. the same chain, one build artifact changed after its chain-of-trust artifact was signed")
  local bad_opts = {}
  for k, v in pairs(opts) do
    bad_opts[k] = v
  end
  bad_opts.root_worker_type = "demo-signing-tampered"
  local bad = cot_chain.build(bad_opts)
  bad:tamper("artifact_bytes_changed", "build")
  bad:load(fx)
  show_chain(bad)
  local build = bad:task("build")
  say("  tampered: %s of build %s no longer has the sha256 its chain-of-trust artifact lists", build.out, build.id)

  local bad_dir = tmp .. "/tampered"
  local bad_config = write_config(fx, bad, bad_dir, worker_creds, signing_key)
  local bad_wlog
  st, bad_wlog = run_worker(bad_config, bad_dir, worker_creds)
  if st.code ~= 0 then
    error("the worker exited with " .. tostring(st.code or st.signal) .. "; its log:\n"
      .. (fs.read_file(bad_dir .. "/worker.log") or ""))
  end
  local bad_id = bad.root_task_id

  section("chain_of_trust.log")
  local bad_log = download(reader, bad_id, "public/logs/chain_of_trust.log", dl .. "/bad-cot.log")
  local reason
  for _, line in ipairs(cot_log_lines(bad_log)) do
    say("  %s", line)
    reason = line:match("ERROR %- Chain of Trust verification error! (.*)$") or reason
  end

  section("artifacts of the signing task")
  local sigs, live_kind = 0, "missing"
  for _, a in ipairs(artifact_names(reader, bad_id)) do
    say("  %-42s %-26s %s", a.name, a.contentType, a.storageType)
    if a.name:match("%.sig$") then
      sigs = sigs + 1
    elseif a.name == "public/logs/live_backing.log" then
      live_kind = a.storageType
    end
  end
  -- Three witnesses that the script never started: the worker's log, the
  -- task's log (a link to chain_of_trust.log, not the script's output) and
  -- the artifacts (no signature).
  local bad_live = download(reader, bad_id, "public/logs/live_backing.log", dl .. "/bad-live.log") or ""
  local script_ran = bad_wlog:find("task script started", 1, true) ~= nil
    or bad_live:find("demo-signing:", 1, true) ~= nil or sigs > 0
  say("  public/logs/live_backing.log is %s", live_kind == "link" and "a link to public/logs/chain_of_trust.log"
    or ("a " .. live_kind .. " artifact"))
  say("  the script %s", script_ran and "RAN" or "never ran: no \"task script started\" in the worker's log, "
    .. "no script output, no signature")

  section("resolution")
  status = assert(user:call("status", bad_id))
  run = status.status.runs[1]
  local reason_resolved = run and run.reasonResolved or "?"
  say("  task %s: %s (%s)", bad_id, status.status.state, reason_resolved)
  -- The reason must name the tampered link and the check that caught it.
  local rejected = status.status.state == "exception" and reason_resolved == "malformed-payload"
    and reason ~= nil and reason:find(build.id, 1, true) ~= nil and reason:find("BAD HASH", 1, true) ~= nil
    and live_kind == "link" and not script_ran
  verdicts[#verdicts + 1] = string.format("VERDICT tampered chain: %s", rejected
    and string.format("REJECTED (exception/malformed-payload): %s", reason)
    or "NOT REJECTED (expected exception/malformed-payload)")

  chain:cleanup()
  bad:cleanup()
  section(string.format("verdict (%.1f s)", sched.monotonic() - started))
  for _, v in ipairs(verdicts) do
    say("%s", v)
  end
  if not (valid_ok and rejected) then
    error("the demo did not end as expected", 0)
  end
end

local ok, err = pcall(main)
fs.rmtree(tmp)
if not ok then
  io.stderr:write("demo failed: ", tostring(err), "\n")
  os.exit(1)
end
