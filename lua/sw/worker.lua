-- The worker loop: claimWork one task at a time, run it (sw.task), clean
-- up, take the next. SIGTERM stops the running script, uploads what exists,
-- reports worker-shutdown and exits; a second SIGTERM exits at once.
-- SIGUSR1 finishes the current task, then exits.
local json = require("sw.json")
local log = require("sw.log")
local sched = require("sw.sched")
local queue = require("sw.queue")
local ed25519 = require("sw.ed25519")
local task = require("sw.task")
local proc = require("sw.proc")
local fs = require("sw.fs")
local secrets = require("sw.secrets")

-- A child subreaper: what a task script orphans (setsid, double fork)
-- comes back to the worker, which kills it when the script ends.
local function track_descendants()
  local ok, err = proc.set_subreaper()
  if not ok then
    log.warn("cannot become a child subreaper; escaped task processes cannot be tracked", { error = err })
  end
end

local M = {}

-- Reads a claimWork answer, whose shape is the Queue's and may be anything.
-- Returns the claims to resolve (each checked to have a string
-- status.taskId, an integer runId >= 0 and usable credentials, the rest
-- left to sw.task) and the entries that cannot be resolved ({index, why});
-- or nil, why, "invalid" when the answer as a whole cannot be read (a failed call:
-- the loop asks again). Extra fields are fine: the Queue adds them.
function M.read_claims(res)
  if type(res) ~= "table" or type(res.tasks) ~= "table" then
    local text = json.encode(res, { max_depth = 10000 }) or type(res)
    if #text > 80 then
      text = text:sub(1, 80) .. "..."
    end
    return nil, "claimWork: answer: expected an object with a tasks array, got " .. text, "invalid"
  end
  local n = #res.tasks
  for k in pairs(res.tasks) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return nil, "claimWork: answer: tasks: expected an array, got an object", "invalid"
    end
  end
  local claims, bad = {}, {}
  for i = 1, n do
    local c = res.tasks[i]
    local why
    if type(c) ~= "table" then
      why = "expected an object, got " .. (c == json.null and "null" or type(c))
    elseif type(c.status) ~= "table" or type(c.status.taskId) ~= "string" or c.status.taskId == "" then
      why = "status.taskId: expected a string"
    elseif math.type(c.runId) ~= "integer" or c.runId < 0 then
      why = "runId: expected an integer >= 0, got " .. tostring(c.runId)
    elseif not task.usable_credentials(c.credentials) then
      why = "credentials: expected {clientId, accessToken[, certificate]} strings"
    end
    if why then
      bad[#bad + 1] = { index = i, why = why, task_id = type(c) == "table" and type(c.status) == "table"
        and type(c.status.taskId) == "string" and c.status.taskId or nil }
    else
      claims[#claims + 1] = c
    end
  end
  return claims, bad
end

-- log_dir/worker.log, as the Python worker writes it (its log_fmt and
-- log_datefmt; reopened when moved with watch_log_file, else rotated by
-- log_max_bytes and log_max_backups): health checks judge a worker by
-- how fresh it is, and log tooling tails it. Returns true or nil, msg, code.
function M.open_log(config)

  local ok, err, code = fs.mkdirp(config.log_dir)
  if ok then
    ok, err, code = log.open_file(config.log_dir .. "/worker.log", {
      format = config.log_fmt,
      datefmt = config.log_datefmt,
      watch = config.watch_log_file,
      max_bytes = config.log_max_bytes,
      backups = config.log_max_backups,
    })
  end
  if not ok then
    return nil, string.format("log_dir: cannot write %s/worker.log: %s", config.log_dir,
      require("sw.config").user_message(err)), code
  end
  return true
end

local function load_signer(config)
  if not config.sign_chain_of_trust then
    return nil
  end
  local signer, err, code = ed25519.load_signer(config.ed25519_private_key_path)
  if not signer then
    return nil, string.format("ed25519_private_key_path: %s", tostring(err)), code
  end
  return signer
end
M.load_signer = load_signer

-- Sleeps up to seconds, returning early when w.wake() is called, and at
-- once when a signal already asked the worker to stop (one that came
-- during claimWork found no sleep to cut short).
local function interruptible_sleep(w, seconds)
  if w.stopping or w.draining then
    return
  end
  local sleeper = sched.spawn(sched.sleep, seconds)
  w.sleeper = sleeper
  sleeper:wait()
  w.sleeper = nil
end

-- A claimed task without a readable taskId, runId or credentials cannot
-- be reported: its claim expires and the Queue retries or resolves it
-- (claim-expired).
function M.log_unreadable_claims(list)
  for _, b in ipairs(list) do
    log.error("claimWork: a claimed task cannot be resolved; its claim will expire",
      { entry = b.index, taskId = b.task_id, error = b.why })
  end
end

-- Counts the tasks in a row that failed for the worker's own reasons (the
-- script could not start, the pipeline raised, artifact_dir could not be
-- read): fault is that reason, or nil for a task that did not. After
-- max_consecutive_internal_errors the worker stops claiming and exits 3,
-- rather than resolving its whole queue internal-error a tenth of a second
-- a task. A script's own exit code (5 included) is not the worker's fault:
-- one outage of a signing server must not stop a fleet.
function M.count_internal_errors(w, fault)
  if not fault then
    w.internal_errors = 0
    return
  end
  w.internal_errors = (w.internal_errors or 0) + 1
  local limit = w.config.max_consecutive_internal_errors or 3
  if w.internal_errors >= limit then
    log.error(string.format("%d tasks in a row failed for the worker's own reasons (max_consecutive_internal_errors); "
      .. "no more tasks will be claimed: fix the worker", w.internal_errors), { last = fault })
    w.stopping = true
    w.exit_status = 3
  end
end

-- Warns about the private key and the file holding the worker's
-- credentials when other users can read them. Real deployments mount
-- them 0644 (a Kubernetes secret, a Docker bind mount), so this is a
-- warning, not a refusal; with task_script_user set, sw.task refuses a
-- file that user could read.
function M.warn_readable_secrets(config)
  local files = {
    { "the private key (ed25519_private_key_path)", config.sign_chain_of_trust and config.ed25519_private_key_path },
    { "the file with the worker's credentials", config.credentials_path },
  }
  for _, f in ipairs(files) do
    local st = type(f[2]) == "string" and fs.stat(f[2])
    if st and st.mode & 4 ~= 0 then
      log.warn(string.format("%s is readable by every user of this host: make it unreadable to others", f[1]),
        { path = f[2], mode = string.format("%04o", st.mode & 4095) })
    end
  end
end

-- claimWork as a task of its own, so a signal can cancel the long poll
-- (the transfer is removed): a stopping worker does not wait for the
-- Queue's answer. Returns what queue:call returns, or nil, "cancelled",
-- "cancelled".
local function claim_work(w, task_queue_id)
  local config = w.config
  local poll = sched.spawn(function()
    return w.queue:call("claimWork", task_queue_id, {
      workerGroup = config.worker_group,
      workerId = config.worker_id,
      tasks = 1,
    })
  end)
  w.poller = poll
  local ok, res, err, code = poll:wait()
  w.poller = nil
  if ok then
    return res, err, code
  elseif res == "cancelled" then
    return nil, "cancelled", "cancelled"
  end
  error(res, 0)
end

-- Runs until told to stop. Returns the process exit status.
function M.run(config, credentials, opts)
  opts = opts or {}
  -- The worker's own credentials are pinned: no task's end unregisters
  -- them, even one whose list holds the same string.
  secrets.add(credentials)
  local signer, err = load_signer(config)
  if config.sign_chain_of_trust and not signer then
    log.error(err)
    return 2
  end
  M.warn_readable_secrets(config)
  local w = {
    config = config,
    signer = signer,
    queue = queue.new({
      root_url = config.taskcluster_root_url,
      credentials = credentials,
      -- queue_retries counts attempts (docs/config.md); the client's
      -- retries come after the first one.
      retries = config.queue_retries - 1,
      timeout = config.queue_timeout,
      claim_timeout = config.claim_work_timeout,
    }),
    tasks_run = 0,
    policy = opts.policy,
    keys_from_config = opts.keys_from_config,
  }
  local function wake()
    if w.sleeper then
      w.sleeper:cancel()
    end
  end
  local function on_term(name)
    if w.stopping then
      log.warn("second " .. name .. ": exiting now")
      -- The script runs in its own session: it would outlive us, still
      -- writing into artifact_dir, unless its group goes now.
      local p = w.current and w.current.proc
      if p then
        p:kill("SIGKILL")
      end
      os.exit(1)
    end
    log.info(name .. " received; shutting down")
    w.stopping = true
    if w.current then
      task.shutdown(w.current)
    end
    if w.poller then
      -- Stop at once, not when the Queue's long poll ends. A task the
      -- Queue claimed for us in this very poll is lost to us: it runs
      -- again when its claim expires (docs/worker.md, "Signals"). SIGUSR1
      -- lets the poll end: a worker that drains can take its time.
      w.poller:cancel()
    end
    wake()
  end
  local term = sched.on_signal("SIGTERM", function()
    on_term("SIGTERM")
  end)
  -- SIGINT (Ctrl-C, a supervisor's stop) used to kill the worker silently
  -- and leave the script running in its own session: it is a SIGTERM.
  local int = sched.on_signal("SIGINT", function()
    on_term("SIGINT")
  end)
  local usr1 = sched.on_signal("SIGUSR1", function()
    -- A pre-stop hook repeats the signal (every 5 s for up to an hour in
    -- the Mozilla images) until the worker is gone: say it once.
    if w.draining then
      return
    end
    log.info("SIGUSR1 received; no more tasks will be taken")
    w.draining = true
    wake()
  end)
  local _signals <close> = setmetatable({}, { __close = function()
    term:close()
    int:close()
    usr1:close()
  end })

  log.info("scriptworker starting", {
    worker = config.worker_group .. "/" .. config.worker_id,
    queue = config.provisioner_id .. "/" .. config.worker_type,
    root_url = config.taskcluster_root_url,
  })
  local uok, uerr = task.resolve_script_user(config)
  if not uok then
    log.error(uerr)
    return 2
  end
  local reload = require("sw.reload")
  local fok, ferr = reload.check_folder(config, w.policy)
  if not fok then
    log.error(ferr)
    return 2
  end
  -- SIGHUP and edits under the policy folder swap in a new set (sw.reload).
  local reloader = opts.config_path and w.policy and reload.start(w, opts)
  local _reloader <close> = setmetatable({}, { __close = function()
    if reloader then
      reloader.close()
    end
  end })
  track_descendants()
  task.stop_leftover_script(config)
  task.clean_dirs(config)
  w.dirs_clean = true
  local sok, serr = task.check_task_script(config)
  if not sok then
    log.error(serr)
    return 2
  end
  local task_queue_id = config.provisioner_id .. "/" .. config.worker_type
  while not w.stopping and not w.draining do
    if opts.max_tasks and w.tasks_run >= opts.max_tasks then
      break
    end
    -- A line per poll, as the Python worker's: an idle worker's
    -- worker.log stays fresh for the health check that watches it.
    log.info(string.format("Calling claimWork for %s/%s", config.worker_group, config.worker_id))
    local res, cerr = claim_work(w, task_queue_id)
    -- As PID 1 (a container) every orphan becomes ours to reap.
    task.kill_descendants()
    local claims, unreadable
    if res then
      claims, unreadable = M.read_claims(res)
      if not claims then
        res, cerr = nil, unreadable
      end
    end
    if not res and w.stopping then
      break
    elseif not res then
      log.warn("claimWork failed", { error = tostring(cerr) })
      interruptible_sleep(w, config.poll_interval)
    elseif #claims == 0 and #unreadable == 0 then
      if opts.exit_when_idle then
        break
      end
      interruptible_sleep(w, config.poll_interval)
    else
      M.log_unreadable_claims(unreadable)
      if #claims == 0 then
        interruptible_sleep(w, config.poll_interval)
      end
      for _, claim in ipairs(claims) do
        log.info("claimed task", { taskId = claim.status.taskId, runId = claim.runId })
        local ok, summary = pcall(task.run, w, claim)
        M.count_internal_errors(w, not ok and ("task pipeline error: " .. tostring(summary))
          or (type(summary) == "table" and summary.worker_fault))
        if not ok then
          -- sw.task ends every task itself, a pipeline error included
          -- (internal-error, with the task's current credentials); this
          -- is the last resort when that end raised too.
          log.error("task pipeline error", { error = tostring(summary) })
          w.queue:with_credentials(claim.credentials):call("reportException",
            claim.status.taskId, claim.runId, { reason = "internal-error" })
          sched.label(nil)
          w.current = nil
        elseif opts.on_task then
          opts.on_task(summary)
        end
        w.tasks_run = w.tasks_run + 1
        task.clean_dirs(config)
        w.dirs_clean = true
      end
    end
  end
  log.info("scriptworker stopped", { tasks = w.tasks_run })
  return w.exit_status or 0
end

-- For run-task: the same pipeline for a task definition from a file.
function M.run_local(config, task_def, opts)
  opts = opts or {}
  local signer
  if config.sign_chain_of_trust then
    local err
    local code
    signer, err, code = load_signer(config)
    if not signer then
      return nil, err, code
    end
  end
  local uok, uerr, ucode = task.resolve_script_user(config)
  if not uok then
    return nil, uerr, ucode
  end
  track_descendants()
  local w = { config = config, signer = signer }
  local claim = {
    task = task_def,
    status = json.object({ taskId = opts.task_id or "local-task" }),
    runId = 0,
    workerGroup = config.worker_group,
  }
  return task.run(w, claim)
end

return M
