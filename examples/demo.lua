-- make demo: the worker's main job against the local Queue.
--
-- Starts tests/queue/server.js, creates a task in it with the Queue client
-- (as a user would), runs the worker (build/scriptworker with
-- examples/scripts/demo-task.sh as task_script) until the task is
-- resolved, then prints the claim, the script's log, the artifacts, the
-- chain-of-trust artifact with its signature checked, and the resolution.
local ed25519 = require("sw.ed25519")
local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local queue = require("sw.queue")
local sched = require("sw.sched")
local sign = require("sw.sign")
local slugid = require("sw.slugid")

local root = os.getenv("PWD")
local bin = os.getenv("SW_BIN") or (root .. "/build/scriptworker")
local tmp = assert(fs.tmpdir("/tmp/sw-demo-"))

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

local function wait_for_line(path, pattern, seconds)
  local deadline = sched.monotonic() + seconds
  while sched.monotonic() < deadline do
    local text = fs.read_file(path) or ""
    local hit = text:match(pattern)
    if hit then
      return hit
    end
    sched.sleep(0.05)
  end
  return nil
end

local function main()
  -- Clients of the local Queue: the worker, with only what a worker needs,
  -- and a user who creates the task.
  local worker_creds = { clientId = "project/releng/demo-worker", accessToken = slugid.nice() .. slugid.nice() }
  local user_creds = { clientId = "demo-user", accessToken = slugid.nice() .. slugid.nice() }
  write(tmp .. "/clients.json", assert(json.encode(json.array({
    { clientId = worker_creds.clientId, accessToken = worker_creds.accessToken,
      scopes = json.array({ "queue:claim-work:demo-prov/demo-signing", "queue:worker-id:demo-workers/*" }) },
    { clientId = user_creds.clientId, accessToken = user_creds.accessToken,
      scopes = json.array({ "queue:create-task:*", "queue:scheduler-id:demo-scheduler",
        "queue:get-artifact:*", "queue:list-artifacts:*", "queue:status:*", "queue:get-task:*" }) },
  }))), tonumber("600", 8))

  section("local Queue")
  local server = assert(proc.spawn({
    argv = { "node", root .. "/tests/queue/server.js", "--port", "0", "--clients", tmp .. "/clients.json",
      "--claim-seconds", "60", "--poll-seconds", "2", "--strict" },
    env = { PATH = os.getenv("PATH"), HOME = os.getenv("HOME") or "/root" },
    cwd = root,
    log = tmp .. "/queue.log",
  }))
  local _server <close> = setmetatable({}, { __close = function()
    server:stop(5)
  end })
  local root_url = wait_for_line(tmp .. "/queue.log", "(http://127%.0%.0%.1:%d+)", 30)
  if not root_url then
    error("the local Queue did not start; its log:\n" .. (fs.read_file(tmp .. "/queue.log") or ""))
  end
  say("started at %s (pid %d)", root_url, server:pid())

  -- The worker's signing key and config.
  local priv, pub = tmp .. "/ed25519_private_key", tmp .. "/ed25519_public_key"
  assert(ed25519.write_key_pair(priv, pub))
  local config = {
    provisioner_id = "demo-prov", worker_type = "demo-signing",
    worker_group = "demo-workers", worker_id = "demo-1",
    taskcluster_root_url = root_url,
    credentials = worker_creds,
    work_dir = tmp .. "/work", artifact_dir = tmp .. "/artifacts",
    task_log_dir = tmp .. "/artifacts/public/logs", log_dir = tmp .. "/log",
    task_script = json.array({ "bash", root .. "/examples/scripts/demo-task.sh" }),
    poll_interval = 1, reclaim_interval = 20,
    sign_chain_of_trust = true, ed25519_private_key_path = priv,
  }
  local yaml_lines = {}
  for _, k in ipairs({ "provisioner_id", "worker_type", "worker_group", "worker_id", "taskcluster_root_url",
    "work_dir", "artifact_dir", "task_log_dir", "log_dir", "poll_interval", "reclaim_interval",
    "sign_chain_of_trust", "ed25519_private_key_path" }) do
    yaml_lines[#yaml_lines + 1] = string.format("%s: %s", k, json.encode(config[k]))
  end
  yaml_lines[#yaml_lines + 1] = "task_script: " .. json.encode(config.task_script)
  yaml_lines[#yaml_lines + 1] = "credentials: " .. json.encode(worker_creds)
  write(tmp .. "/scriptworker.yaml", table.concat(yaml_lines, "\n") .. "\n", tonumber("600", 8))

  -- The task, created as a user would.
  local user = queue.new({ root_url = root_url, credentials = user_creds })
  local task_id = slugid.nice()
  local now = sched.now()
  local function ts(t)
    return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. ".000Z"
  end
  local task_def = {
    provisionerId = "demo-prov", workerType = "demo-signing",
    schedulerId = "demo-scheduler", taskGroupId = task_id,
    created = ts(now), deadline = ts(now + 3600), expires = ts(now + 86400),
    dependencies = json.array({}), scopes = json.array({}), routes = json.array({}),
    payload = { maxRunTime = 300, upstreamArtifacts = json.array({}) },
    metadata = { name = "scriptworker demo", description = "make demo", owner = "releng@example.com",
      source = "https://github.com/example/scriptworker" },
    extra = json.object({}),
  }
  section("task")
  local status, err = user:call("createTask", task_id, task_def)
  if not status then
    error("createTask: " .. tostring(err))
  end
  say("created %s (state %s)", task_id, status.status.state)

  section("worker")
  local worker = assert(proc.spawn({
    argv = { bin, tmp .. "/scriptworker.yaml" },
    env = { PATH = os.getenv("PATH"), HOME = tmp, SW_MAX_TASKS = "1", SW_DEMO_ARTIFACT_DIR = config.artifact_dir },
    cwd = tmp,
    log = tmp .. "/worker.log",
  }))
  local st = worker:wait(120)
  if not st then
    worker:stop(5)
    error("the worker did not finish in 120 s; its log:\n" .. (fs.read_file(tmp .. "/worker.log") or ""))
  end
  local wlog = fs.read_file(tmp .. "/worker.log") or ""
  for line in wlog:gmatch("[^\n]+") do
    if line:find("claimed task", 1, true) or line:find("task script", 1, true)
        or line:find("reporting", 1, true) or line:find("uploaded artifact", 1, true) then
      say("%s", line)
    end
  end
  say("worker exited with %s", tostring(st.code or st.signal))
  if wlog:find(worker_creds.accessToken, 1, true) then
    error("the worker log contains its access token")
  end

  section("the script's log (public/logs/live_backing.log)")
  local dl = tmp .. "/download"
  assert(fs.mkdirp(dl))
  local got
  got, err = user:download_artifact(task_id, 0, "public/logs/live_backing.log", dl .. "/live_backing.log")
  if not got then
    error("download live_backing.log: " .. tostring(err))
  end
  io.stdout:write((fs.read_file(dl .. "/live_backing.log")))

  section("artifacts")
  local list = assert(user:list_all_artifacts(task_id, 0))
  for _, a in ipairs(list) do
    say("%-40s %-26s %s", a.name, a.contentType, a.storageType)
  end

  section("chain of trust")
  assert(user:download_artifact(task_id, 0, "public/chain-of-trust.json", dl .. "/cot.json"))
  assert(user:download_artifact(task_id, 0, "public/chain-of-trust.json.sig", dl .. "/cot.sig"))
  local cot_text = fs.read_file(dl .. "/cot.json")
  local cot = json.decode(cot_text)
  local pubkey = assert(ed25519.load_public_key(pub))
  local valid = sign.verify(pubkey, cot_text, fs.read_file(dl .. "/cot.sig"))
  say("taskId %s runId %d workerId %s, %d artifacts hashed", cot.taskId, cot.runId, cot.workerId,
    (function()
      local n = 0
      for _ in pairs(cot.artifacts) do
        n = n + 1
      end
      return n
    end)())
  say("signature %s with the worker's public key %s", valid and "VALID" or "INVALID",
    ed25519.public_key_to_string(pubkey))

  section("resolution")
  status = assert(user:call("status", task_id))
  local run = status.status.runs[1]
  say("task %s: %s (%s)", task_id, status.status.state, run and run.reasonResolved or "?")
  if not valid or status.status.state ~= "completed" then
    error("the demo did not end as expected")
  end
end

local ok, err = pcall(main)
fs.rmtree(tmp)
if not ok then
  io.stderr:write("demo failed: ", tostring(err), "\n")
  os.exit(1)
end
