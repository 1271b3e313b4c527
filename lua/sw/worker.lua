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

-- A child subreaper: what a task script orphans (setsid, double fork)
-- comes back to the worker, which kills it when the script ends.
local function track_descendants()
  local ok, err = proc.set_subreaper()
  if not ok then
    log.warn("cannot become a child subreaper; escaped task processes cannot be tracked", { error = err })
  end
end

local M = {}

local function load_signer(config)
  if not config.sign_chain_of_trust then
    return nil
  end
  local signer, err = ed25519.load_signer(config.ed25519_private_key_path)
  if not signer then
    return nil, string.format("ed25519_private_key_path: %s", tostring(err))
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

-- Runs until told to stop. Returns the process exit status.
function M.run(config, credentials, opts)
  opts = opts or {}
  task.register_secrets(credentials)
  local signer, err = load_signer(config)
  if config.sign_chain_of_trust and not signer then
    log.error(err)
    return 2
  end
  local w = {
    config = config,
    signer = signer,
    queue = queue.new({
      root_url = config.taskcluster_root_url,
      credentials = credentials,
      -- queue_retries counts attempts (docs/config.md); the client's
      -- retries come after the first one.
      retries = config.queue_retries - 1,
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
  local term = sched.on_signal("SIGTERM", function()
    if w.stopping then
      log.warn("second SIGTERM: exiting now")
      -- The script runs in its own session: it would outlive us, still
      -- writing into artifact_dir, unless its group goes now.
      local p = w.current and w.current.proc
      if p then
        p:kill("SIGKILL")
      end
      os.exit(1)
    end
    log.info("SIGTERM received; shutting down")
    w.stopping = true
    if w.current then
      task.shutdown(w.current)
    end
    wake()
  end)
  local usr1 = sched.on_signal("SIGUSR1", function()
    log.info("SIGUSR1 received; no more tasks will be taken")
    w.draining = true
    wake()
  end)
  local _signals <close> = setmetatable({}, { __close = function()
    term:close()
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
  local task_queue_id = config.provisioner_id .. "/" .. config.worker_type
  while not w.stopping and not w.draining do
    if opts.max_tasks and w.tasks_run >= opts.max_tasks then
      break
    end
    local res, cerr = w.queue:call("claimWork", task_queue_id, {
      workerGroup = config.worker_group,
      workerId = config.worker_id,
      tasks = 1,
    })
    -- As PID 1 (a container) every orphan becomes ours to reap.
    task.kill_descendants()
    if not res then
      log.warn("claimWork failed", { error = tostring(cerr) })
      interruptible_sleep(w, config.poll_interval)
    elseif #res.tasks == 0 then
      if opts.exit_when_idle then
        break
      end
      interruptible_sleep(w, config.poll_interval)
    else
      for _, claim in ipairs(res.tasks) do
        log.info("claimed task", { taskId = claim.status.taskId, runId = claim.runId })
        local ok, summary = pcall(task.run, w, claim)
        if not ok then
          -- A bug in the pipeline must not kill the worker: report the
          -- task as an internal error and go on.
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
  return 0
end

-- For run-task: the same pipeline for a task definition from a file.
function M.run_local(config, task_def, opts)
  opts = opts or {}
  local signer
  if config.sign_chain_of_trust then
    local err
    signer, err = load_signer(config)
    if not signer then
      return nil, err
    end
  end
  local uok, uerr = task.resolve_script_user(config)
  if not uok then
    return nil, uerr
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
