-- One task, start to end: write task.json, check the payload, verify the
-- chain of trust (when configured), run task_script with the task's
-- temporary credentials while reclaiming, stop it at its time limit,
-- generate and sign the chain-of-trust artifact, upload the artifacts and
-- report the resolution by exit code. The same pipeline runs without a
-- Queue for `scriptworker run-task` (no reclaim, no upload, no report).
local fs = require("sw.fs")
local json = require("sw.json")
local log = require("sw.log")
local proc = require("sw.proc")
local sched = require("sw.sched")
local schema = require("sw.schema")
local secrets = require("sw.secrets")
local config_mod = require("sw.config")
local artifacts = require("sw.artifacts")
local generate = require("sw.cot.generate")

local M = {}

-- Exit codes and statuses (the Python worker's STATUSES).
M.STATUSES = {
  success = 0, failure = 1, ["worker-shutdown"] = 2, ["malformed-payload"] = 3,
  ["resource-unavailable"] = 4, ["internal-error"] = 5, superseded = 6,
  ["intermittent-task"] = 7,
}

-- Today's Queue refuses "superseded" as an exception reason (400); a
-- superseded task must not be retried and is not a failure of the task, so
-- it is reported as the non-retrying exception "resource-unavailable"
-- (docs/worker.md).
M.SUPERSEDED_REPORTED_AS = "resource-unavailable"

-- exit code -> status name: STATUSES reversed, then config
-- reversed_statuses (which wins).
function M.reversed_statuses(config)
  local r = {}
  for name, code in pairs(M.STATUSES) do
    r[code] = name
  end
  for code, name in pairs(config.reversed_statuses or {}) do
    r[math.tointeger(code) or code] = name
  end
  return r
end

-- What to report for a final status: "completed", "failed" or
-- ("exception", reason).
function M.resolution(config, status)
  if status == 0 then
    return "completed"
  end
  local reasons = M.reversed_statuses(config)
  local reason = status ~= 1 and reasons[status] or nil
  if reason == nil or reason == "failure" or reason == "success" then
    return "failed"
  end
  if reason == "superseded" then
    return "exception", M.SUPERSEDED_REPORTED_AS
  end
  return "exception", reason
end

-- RFC 3339 -> seconds since the epoch (UTC), accepting "Z" and offsets.
function M.parse_time(s)
  if type(s) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, sec, frac, tz = s:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then
    return nil
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (proleptic Gregorian)
  local yy = mo <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local mp = (mo + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if frac ~= "" and frac ~= "." then
    t = t + tonumber("0" .. frac)
  end
  if tz ~= "Z" and tz ~= "z" and tz ~= "" then
    local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then
      return nil
    end
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end

function M.format_time(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", math.floor((t % 1) * 1000))
end

-- Whether c can sign Queue calls: string clientId and accessToken, and a
-- certificate that is absent or a string (what sw.queue accepts).
function M.usable_credentials(c)
  return type(c) == "table" and type(c.clientId) == "string" and type(c.accessToken) == "string"
    and (c.certificate == nil or c.certificate == json.null or type(c.certificate) == "string"
      or json.type(c.certificate) == "object")
end

local task_validator

-- payload.maxRunTime of 0 or less: the schema takes any integer, and such
-- a limit used to be ignored silently (the task ran for
-- task_max_timeout). nil, or the reason (malformed-payload).
function M.max_run_time_problem(task)
  local mrt = type(task.payload) == "table" and task.payload.maxRunTime
  if math.type(mrt) == "integer" and mrt <= 0 then
    return string.format("payload.maxRunTime: expected a positive number of seconds, got %d", mrt)
  end
  return nil
end

-- Why a claimed task cannot be handled at all, beyond the minimal schema
-- (nil when it can): the Queue's answer is read whatever its shape, so the
-- task definition may be missing, not an object, nested deeper than the
-- worker writes task.json (sw.json's default max_depth, 512) or without an
-- expiry for its artifacts. Such a task is reported malformed-payload
-- without running the script.
function M.unusable_task(task)
  if type(task) ~= "table" or json.type(task) == "array" then
    local what = task == nil and "nothing" or json.type(task) or type(task)
    return "task: expected the task definition (an object), got " .. what
  end
  local text, err = json.encode(task, { canonical = true })
  if not text then
    return "task: cannot be written as task.json: " .. config_mod.user_message(err)
  end
  if M.parse_time(task.expires) == nil then
    return "task.expires: expected an RFC 3339 time, got " .. (json.encode(task.expires) or type(task.expires))
  end
  return nil
end

local function validate_task(task)
  if not task_validator then
    task_validator = assert(schema.load(config_mod.data_dir() .. "/scriptworker_task_schema.json"))
  end
  return task_validator(task)
end

-- Scratch files of one task in work_dir (emptied at start-up and around
-- every task). work_dir is the script's: a process a previous script left
-- behind could have planted a link at any name, so each file is created
-- anew (fs.write_new: unlink, then O_EXCL | O_NOFOLLOW), never written
-- through a link. Not atomic: nothing reads a half-written file after a
-- crash, and two fsyncs would cost more than the rest of the start of a
-- task. A failure raises (an internal error, not a script without its
-- task.json).
local function write_json(path, value)
  local text = assert(json.encode(value, { canonical = true }))
  assert(fs.write_new(path, text, tonumber("644", 8)))
end

-- The files the script reads in work_dir: task.json (the definition,
-- canonical JSON) and current_task_info.json. Used by create-test-workdir;
-- the worker writes the same in M.run. Returns true or nil, msg, "io".
function M.write_task_files(work_dir, def, task_id, run_id)
  local ok, err = pcall(function()
    write_json(work_dir .. "/task.json", def)
    write_json(work_dir .. "/current_task_info.json", json.object({ taskId = task_id, runId = run_id }))
  end)
  if not ok then
    return nil, tostring(err), "io"
  end
  return true
end

local function credentials_text(creds)
  return assert(json.encode(json.object({
    clientId = creds.clientId,
    accessToken = creds.accessToken,
    certificate = creds.certificate,
  })))
end

-- The credentials file handed to the script as TASKCLUSTER_CREDENTIALS_FD.
-- It is created once (fs.create, never through a link) and kept open:
-- after each reclaim it is rewritten through that descriptor, so a script
-- that replaces the name by a link to another file (the signing key) only
-- loses its own updates. The script's fd points at the same file, so a
-- reader seeks to 0 and reads it again; an empty read means a rewrite was
-- in progress.
local function write_credentials(t)
  local ok, err = t.creds_file:rewrite(credentials_text(t.creds))
  if not ok then
    log.warn("cannot rewrite the task credentials", { error = err })
  end
  return ok, err
end

-- The environment of the task script: the worker's own environment minus
-- its Taskcluster credentials, plus the task's variables.
local function script_env(extra)
  local env = {}
  -- Lua cannot change its environment, so the one the kernel keeps from
  -- exec is ours; reading it costs no fork (`env -0` took 2 ms a task).
  local raw = fs.read_file("/proc/self/environ")
  if not raw then
    local f = io.popen("env -0")
    raw = f and f:read("a") or ""
    if f then
      f:close()
    end
  end
  for entry in raw:gmatch("([^%z]+)") do
    local k, v = entry:match("^([^=]+)=(.*)$")
    if k and not k:match("^TASKCLUSTER_") and k ~= "SW_HOME" then
      env[k] = v
    end
  end
  for k, v in pairs(extra) do
    env[k] = v
  end
  return env
end

local function append_line(path, line)
  local f = io.open(path, "a")
  if f then
    f:write(line, "\n")
    f:close()
  end
end

-- Whether process group pgid has a member that is not a zombie. kill(0)
-- also counts zombies, which no signal reaches and which wait for a
-- parent (init, for the script's orphans) that may be slow to reap them.
-- Linux /proc; where it cannot be read, any member counts.
function M.group_alive(pgid)
  local names = fs.listdir("/proc")
  if not names then
    return true
  end
  for _, name in ipairs(names) do
    if name:match("^%d+$") then
      -- "pid (comm) state ppid pgrp ...", comm may hold anything
      local state, pgrp = (fs.read_file("/proc/" .. name .. "/stat") or ""):match("%) (%a) %-?%d+ (%d+) ")
      if pgrp and tonumber(pgrp) == pgid and state ~= "Z" and state ~= "X" then
        return true
      end
    end
  end
  return false
end

-- {pid = {ppid, state}} of every process /proc shows, and this process's
-- pid.
local function process_table()
  local procs = {}
  for _, name in ipairs(fs.listdir("/proc") or {}) do
    if name:match("^%d+$") then
      -- "pid (comm) state ppid ...", comm may hold anything
      local state, ppid = (fs.read_file("/proc/" .. name .. "/stat") or ""):match("%) (%a) (%-?%d+) ")
      if state then
        procs[tonumber(name)] = { ppid = tonumber(ppid), state = state }
      end
    end
  end
  local me = tonumber((fs.read_file("/proc/self/stat") or ""):match("^(%d+)"))
  return procs, me
end

-- Every descendant of this process: {pid = state}. The worker is a child
-- subreaper (proc.set_subreaper, at start-up), so what a script started
-- and orphaned (setsid, double fork) is re-parented to the worker and
-- stays in this tree; as PID 1 in a container every orphan is.
function M.descendants()
  local procs, me = process_table()
  local out = {}
  if not me then
    return out
  end
  for pid, p in pairs(procs) do
    local seen, q, hops = {}, p.ppid, 0
    while q and q > 0 and not seen[q] and hops < 4096 do
      if q == me then
        out[pid] = p.state
        break
      end
      seen[q] = true
      hops = hops + 1
      q = procs[q] and procs[q].ppid
    end
  end
  return out
end

-- Kills every descendant left (SIGKILL) and reaps the ones re-parented to
-- the worker, until none is left (or 5 s). Returns how many it killed.
function M.kill_descendants()
  local killed = {}
  local deadline = sched.monotonic() + 5
  while true do
    local left = false
    for pid, state in pairs(M.descendants()) do
      if state == "Z" or state == "X" then
        proc.reap(pid)
      else
        left = true
        if not killed[pid] then
          killed[pid] = true
          killed[#killed + 1] = pid
        end
        proc.kill_pid(pid, "SIGKILL")
      end
    end
    if not left or sched.monotonic() > deadline then
      break
    end
    sched.sleep(0.02)
  end
  -- Zombies whose parents died in the loop were re-parented to us.
  for pid, state in pairs(M.descendants()) do
    if state == "Z" or state == "X" then
      proc.reap(pid)
    end
  end
  return #killed
end

-- Runs the task script and returns the status (exit code semantics of the
-- Python worker): the script's exit code, task_max_timeout_status on
-- timeout, invalid_reclaim_status when the claim was lost, worker-shutdown
-- when the worker was told to stop.
local function run_script(t)
  local cfg = t.config
  local log_path = t.live_log_path
  local user = cfg.script_user
  local env = script_env({
    -- The script's own user: its home, not the worker's.
    HOME = user and user.home or nil,
    USER = user and user.name or nil,
    LOGNAME = user and user.name or nil,
    TASK_ID = t.task_id,
    RUN_ID = tostring(t.run_id),
    TASKCLUSTER_ROOT_URL = cfg.taskcluster_root_url,
    TASKCLUSTER_CREDENTIALS_FD = t.creds_file and "3" or nil,
  })
  -- The script gets its own read-only descriptor of the credentials file.
  local reader
  if t.creds_file then
    reader = assert(t.creds_file:reader())
  end
  local argv = {}
  for i, a in ipairs(cfg.task_script) do
    argv[i] = a
  end
  local p, err = proc.spawn({
    argv = argv,
    env = env,
    -- The worker's own directory, as in the Python worker: scripts take
    -- their default paths from it, and task_script may be relative.
    log = log_path,
    extra_fd = reader and reader:fd(),
    uid = cfg.script_user and cfg.script_user.uid,
    gid = cfg.script_user and cfg.script_user.gid,
  })
  if reader then
    reader:close()
  end
  if not p then
    append_line(log_path, "Automation Error: cannot start the task script: " .. tostring(err))
    log.error("cannot start the task script", { error = err })
    t.worker_fault = "cannot start the task script: " .. tostring(err)
    return M.STATUSES["internal-error"]
  end
  t.proc = p
  M.record_script(cfg, p:pid())
  log.info("task script started", { pid = p:pid() })
  local max_run_time = cfg.task_max_timeout
  local mrt = type(t.task.payload) == "table" and t.task.payload.maxRunTime
  if math.type(mrt) == "integer" and mrt > 0 and mrt < max_run_time then
    max_run_time = mrt
  end
  local st, werr = p:wait(max_run_time)
  local status
  if st == nil and werr == "timeout" then
    log.warn(string.format("Exceeded the maximum run time of %d seconds; stopping the task script", max_run_time))
    t.timed_out = true
    st = p:stop(cfg.script_stop_grace)
  elseif st == nil then
    st = p:stop(cfg.script_stop_grace)
  end
  t.proc = nil
  -- The script is done, but what it started in its process group may not
  -- be: left running, it would change artifact_dir under the chain of
  -- trust's hashes and the upload, and live on into the next task. (A
  -- process that is only exiting gets half a second to go by itself.)
  local left = p:kill(0) and M.group_alive(p:pid())
  for _ = 1, 10 do
    if not left then
      break
    end
    sched.sleep(0.05)
    left = M.group_alive(p:pid())
  end
  if left then
    log.warn("the task script left processes behind; killing its process group")
    p:kill("SIGKILL")
  end
  -- Then what left the group (setsid, double fork): every descendant,
  -- before anything is hashed.
  local escaped = M.kill_descendants()
  if escaped > 0 then
    log.warn("the task script left processes outside its process group; they were killed", { count = escaped })
  end
  if left or escaped > 0 then
    append_line(log_path, "Automation Error: the task script left processes behind; they were killed")
  end
  if st and st.code ~= nil and st.signal == nil then
    append_line(log_path, "exit code: " .. st.code)
    status = st.code
  else
    local signum = st and st.signum or 0
    append_line(log_path, string.format("Automation Error: the task script was killed by signal %d", signum))
    status = 1
  end
  log.info("task script ended", { status = status })
  if t.lost then
    return cfg.invalid_reclaim_status
  elseif t.shutdown then
    return M.STATUSES["worker-shutdown"]
  elseif t.timed_out then
    return cfg.task_max_timeout_status
  end
  return status
end

-- Reclaims well before takenUntil: at most every reclaim_interval, and
-- always by half of the time left, so a failing reclaim is retried several
-- times before the claim could lapse.
local function reclaim_loop(t)
  while true do
    local left = (t.taken_until or (sched.now() + t.config.reclaim_interval)) - sched.now()
    local wait = math.max(1, math.min(t.config.reclaim_interval, left / 2))
    sched.sleep(wait)
    local res, err = t.queue:call("reclaimTask", t.task_id, t.run_id)
    -- An answer without usable credentials is a failed reclaim: the old
    -- ones stay, and the next attempt comes by half of the time left.
    if res and not (type(res) == "table" and M.usable_credentials(res.credentials)) then
      res, err = nil, "reclaimTask: answer: credentials: expected {clientId, accessToken[, certificate]} strings"
    end
    if res then
      t.creds = res.credentials
      secrets.add(t.creds, t.secrets)
      t.taken_until = M.parse_time(res.takenUntil) or t.taken_until
      if t.creds_file then
        write_credentials(t)
      end
      log.debug("reclaimed", { taken_until = res.takenUntil })
    elseif err.conflict then
      log.warn("reclaimTask answered 409: the task is no longer ours; stopping the task script")
      t.lost = true
      if t.proc then
        t.proc:stop(t.config.script_stop_grace)
      end
      return
    else
      log.warn("reclaimTask failed", { error = tostring(err) })
    end
  end
end

local function report(t, status)
  local kind, reason = M.resolution(t.config, status)
  local res, err
  if kind == "completed" then
    log.info("reporting task completed")
    res, err = t.queue:call("reportCompleted", t.task_id, t.run_id)
  elseif kind == "failed" then
    log.info("reporting task failed", { status = status })
    res, err = t.queue:call("reportFailed", t.task_id, t.run_id)
  else
    if M.reversed_statuses(t.config)[status] == "superseded" then
      log.info(string.format("status %d is superseded, which the Queue refuses as an exception reason: "
        .. "reporting %s instead", status, reason))
    end
    log.info("reporting task exception", { status = status, reason = reason })
    res, err = t.queue:call("reportException", t.task_id, t.run_id, { reason = reason })
  end
  if not res then
    if err.conflict then
      log.info("report answered 409: the task is no longer ours", { call = err.call })
    else
      log.error("report failed", { error = tostring(err) })
    end
  end
  return kind, reason
end

-- The chain-of-trust verification hook (sw.cot.verify): true, or nil,
-- message and the status to report (malformed-payload, or
-- intermittent-task when the Queue or a mirror could not be reached).
-- Without a policy set nothing can be verified: fail closed.
function M.verify_chain_of_trust(t)
  if not t.policy then
    return nil, "no policy set is loaded: chain of trust verification cannot run", "malformed-payload"
  end
  return require("sw.cot.verify").verify(t)
end

-- Prepares work_dir and artifact_dir: emptied, then recreated.
-- The script's process group, recorded while it runs so that a worker
-- started after this one was killed (SIGKILL, a crash) can stop a script
-- that would otherwise run on in its own session and write into the next
-- task's artifact_dir. The start time (field 22 of /proc/PID/stat) tells
-- the recorded process from a later one that reused its pid.
local function stat_fields(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then
    return nil
  end
  local stat = f:read("a")
  f:close()
  -- Fields after the command name, which is in parentheses and may hold
  -- spaces: state is field 3, pgrp 5, session 6, starttime 22.
  local rest = stat:match("%) (.*)$")
  local fields = {}
  for x in (rest or ""):gmatch("%S+") do
    fields[#fields + 1] = x
  end
  return fields
end

local function start_time(pid)
  local fields = stat_fields(pid)
  return fields and fields[20]
end

-- In state_dir, out of the script's reach: a script that could rewrite it
-- would make the next worker start SIGKILL any process group.
local function script_record_path(config)
  return config.state_dir .. "/script-process"
end

function M.record_script(config, pid)
  local st = start_time(pid)
  if st then
    fs.write_file_atomic(script_record_path(config), pid .. " " .. st .. "\n", tonumber("600", 8))
  end
end

-- Kills the process group of a script a previous worker left running.
-- Returns its pid when it did.
--
-- Only the process the worker started is killed: the record must name a
-- pid above 1 that is not this worker's, and that process must still
-- have the recorded start time and lead both its process group and its
-- session (the worker starts every script with setsid). A record that is
-- damaged, or names any other process, kills nothing. The record is
-- removed either way.
function M.stop_leftover_script(config)
  local path = script_record_path(config)
  local text = fs.read_file(path, 256)
  if not text then
    return nil
  end
  fs.remove(path)
  local pid, recorded = text:match("^(%d+) (%d+)\n?$")
  pid = tonumber(pid)
  local me = tonumber((fs.read_file("/proc/self/stat") or ""):match("^(%d+)"))
  if not pid or pid <= 1 or pid == me or math.type(pid) ~= "integer" then
    log.warn("ignoring a damaged record of a previous task script", { path = path })
    return nil
  end
  local f = stat_fields(pid)
  if not f then
    return nil
  end
  if f[20] ~= recorded or tonumber(f[3]) ~= pid or tonumber(f[4]) ~= pid then
    log.warn("the recorded task script is not the process the worker started (pid reused or record forged); "
      .. "not killing it", { pid = pid })
    return nil
  end
  proc.kill_group(pid, "SIGKILL")
  log.warn("killed the task script a previous worker left running", { pid = pid })
  return pid
end

-- The worker's private directory of the current task (under state_dir):
-- logs/ holds live_backing.log and chain_of_trust.log while the script
-- runs, artifacts/ the snapshot of artifact_dir that is hashed and
-- uploaded.
function M.private_dir(config)
  return config.state_dir .. "/task"
end

-- The effective uid of this process (Linux /proc), or nil.
local function euid()
  local uids = (fs.read_file("/proc/self/status") or ""):match("\nUid:%s+%d+%s+(%d+)")
  return tonumber(uids)
end

-- With task_script_user set, the worker must run as root: it resolves the
-- user (uid and primary group) into config.script_user for clean_dirs and
-- the spawn. Returns true or nil, message, code.
function M.resolve_script_user(config)
  local name = config.task_script_user
  if type(name) ~= "string" then
    return true
  end
  if euid() ~= 0 then
    return nil, "task_script_user: the worker must run as root to start the task script as "
      .. string.format("%q", name), "config"
  end
  local u, err, ucode = proc.user(name)
  if not u then
    return nil, "task_script_user: " .. config_mod.user_message(err), ucode
  end
  if u.uid == 0 then
    return nil, "task_script_user: " .. string.format("%q", name) .. " is root", "config"
  end
  -- The script runs with the user's uid and primary group only (libuv
  -- drops the supplementary groups): the mode bits tell whether it could
  -- read the key or the config.
  for _, f in ipairs({ { "ed25519_private_key_path", config.ed25519_private_key_path },
    { "the config file", config.config_path }, { "the worker's credentials", config.credentials_path } }) do
    local st = type(f[2]) == "string" and fs.stat(f[2])
    if st then
      local readable = st.mode & 4 ~= 0 or (st.gid == u.gid and st.mode & 32 ~= 0)
        or (st.uid == u.uid)
      if readable then
        return nil, string.format("task_script_user: %q could read %s (%s, mode %04o): make it unreadable to "
          .. "that user", name, f[1], f[2], st.mode), "config"
      end
    end
  end
  u.name = name
  config.script_user = u
  return true
end

-- Whether the mode bits of st let uid (in group gid) execute the file;
-- root needs any execute bit. For the worker's own user (strict false)
-- the group and other bits both count: its supplementary groups are not
-- known here.
local function can_execute(st, uid, gid, strict)
  if uid == 0 then
    return st.mode & 73 ~= 0
  elseif st.uid == uid then
    return st.mode & 64 ~= 0
  elseif st.gid == gid then
    return st.mode & 8 ~= 0
  elseif strict then
    return st.mode & 1 ~= 0
  end
  return st.mode & 9 ~= 0
end

-- Checks at start-up that task_script[1] can be started: a path (relative
-- ones from work_dir, the script's cwd) to an executable regular file, or
-- a command found in PATH. A worker that cannot start its script would
-- claim every task of its queue and resolve each internal-error within a
-- tenth of a second. Returns true or nil, message, code.
function M.check_task_script(config)
  local argv0 = type(config.task_script) == "table" and config.task_script[1]
  if type(argv0) ~= "string" or argv0 == "" then
    return nil, "task_script: expected a command, got nothing", "config"
  end
  local user = config.script_user
  local uid = user and user.uid or euid()
  local gid = user and user.gid or tonumber((fs.read_file("/proc/self/status") or ""):match("\nGid:%s+%d+%s+(%d+)"))
  local candidates = {}
  if argv0:find("/", 1, true) then
    candidates[1] = argv0:sub(1, 1) == "/" and argv0 or (config.work_dir .. "/" .. argv0)
  else
    for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
      candidates[#candidates + 1] = dir .. "/" .. argv0
    end
  end
  local found
  for _, path in ipairs(candidates) do
    local st = fs.stat(path)
    if st and st.type == "file" then
      if can_execute(st, uid or -1, gid or -1, user ~= nil) then
        return true
      end
      found = found or string.format("%s (mode %04o, owner %d)", path, st.mode & 4095, st.uid)
    end
  end
  local who = user and string.format("user %q", user.name) or "the worker's user"
  if found then
    return nil, string.format("task_script: %s is not executable by %s", found, who), "EACCES"
  end
  if #candidates == 1 then
    return nil, string.format("task_script: %s: no such file", candidates[1]), "ENOENT"
  end
  return nil, string.format("task_script: %q: no such command in PATH", argv0), "ENOENT"
end

function M.clean_dirs(config)
  for _, d in ipairs({ config.work_dir, config.artifact_dir }) do
    fs.rmtree(d)
    assert(fs.mkdirp(d))
  end
  -- As before: the script finds task_log_dir; the worker no longer writes
  -- there while it runs.
  assert(fs.mkdirp(config.task_log_dir))
  -- The script's user owns its two directories (and nothing else).
  local u = config.script_user
  if u then
    for _, d in ipairs({ config.work_dir, config.artifact_dir }) do
      assert(fs.chown(d, u.uid, u.gid))
      for _, sub in ipairs(assert(fs.walk(d, { dirs = true, files = false }))) do
        assert(fs.chown(d .. "/" .. sub, u.uid, u.gid))
      end
    end
  end
  -- Only the worker may enter its state: the script (maybe another user)
  -- must not read its logs before they are final, or swap the snapshot.
  assert(fs.mkdirp(config.state_dir))
  assert(fs.chmod(config.state_dir, tonumber("700", 8)))
  local private = M.private_dir(config)
  fs.rmtree(private)
  assert(fs.mkdirp(private .. "/logs"))
end

-- task_log_dir relative to artifact_dir ("public/logs"), or nil when it is
-- elsewhere.
local function log_rel(cfg)
  local a, l = cfg.artifact_dir:gsub("/+$", ""), cfg.task_log_dir:gsub("/+$", "")
  if l:sub(1, #a + 1) == a .. "/" then
    return l:sub(#a + 2)
  end
  return nil
end

-- Refusals that fail the task: what the script left is an attempt to
-- publish a file it does not own (or cannot be told from one).
local FATAL_REFUSALS = {
  hardlink = "a file with more than one link (hard link)",
  protected = "the worker's private key, config or credentials file",
}
local REFUSALS = {
  link = "a symbolic link that leaves artifact_dir or dangles",
  special = "not a regular file",
  deep = "a directory nested too deep",
}

-- After the script and everything it started have ended: copies
-- artifact_dir once into the private snapshot (fs.snapshot: each file
-- opened once without following links, checked on its descriptor), then
-- puts the worker's own logs in place in it. The chain of trust hashes and
-- the upload sends this snapshot, never artifact_dir. Returns the
-- snapshot's directory and the status it fails the task with, if any.
local function snapshot(t)
  local cfg = t.config
  local dir = M.private_dir(cfg) .. "/artifacts"
  fs.rmtree(dir)
  local protect = { cfg.ed25519_private_key_path, cfg.config_path, t.creds_path }
  local files, refused = fs.snapshot(cfg.artifact_dir, dir, protect)
  t.digests = artifacts.snapshot_digests(files)
  -- The one listing of the snapshot: the chain of trust and the upload
  -- read it instead of walking the tree again.
  t.files = artifacts.listing(dir, files)
  -- The chain-of-trust artifact and its signature are the worker's alone:
  -- one the script left is never uploaded, whether or not the worker
  -- writes its own (it does not after a timeout or a shutdown).
  for i = #t.files, 1, -1 do
    local name = t.files[i].name
    if name == generate.JSON_NAME or name == generate.SIG_NAME then
      log.warn("not uploading artifact", { name = name, reason = "the worker's own chain of trust goes there" })
      assert(fs.remove(t.files[i].path))
      table.remove(t.files, i)
    end
  end
  local fatal = nil
  if not files then
    -- The worker's own failure (a full disk, an unreadable tree): what it
    -- could not check is not uploaded.
    log.error("cannot snapshot artifact_dir", { error = refused })
    append_line(t.live_log_path, "Automation Error: cannot read artifact_dir: " .. tostring(refused))
    fatal = M.STATUSES["internal-error"]
    t.worker_fault = "cannot snapshot artifact_dir: " .. tostring(refused)
    fs.rmtree(dir)
    assert(fs.mkdirp(dir))
    refused = {}
  end
  for _, r in ipairs(refused) do
    local why = FATAL_REFUSALS[r.why] or REFUSALS[r.why] or r.why
    log.warn("not uploading artifact", { name = r.name, reason = why })
    if FATAL_REFUSALS[r.why] then
      fatal = math.max(fatal or 0, M.STATUSES["malformed-payload"])
      append_line(t.live_log_path, string.format("Automation Error: artifact %q refused: %s", r.name, why))
    end
  end
  local rel = log_rel(cfg)
  local logs_dst = rel and (dir .. "/" .. rel) or cfg.task_log_dir
  local private_logs = M.private_dir(cfg) .. "/logs"
  for _, name in ipairs({ "live_backing.log", "chain_of_trust.log" }) do
    if fs.exists(private_logs .. "/" .. name) then
      assert(fs.mkdirp(logs_dst))
      -- copy_file renames over what is there: the worker's log wins over
      -- a file (or link) of the same name the script left.
      assert(fs.copy_file(private_logs .. "/" .. name, logs_dst .. "/" .. name, tonumber("644", 8)))
      if rel then
        assert(artifacts.list_put(t.files, dir, rel .. "/" .. name))
      end
    end
  end
  return dir, fatal
end

-- run-task has no upload: the snapshot, with its chain of trust, becomes
-- artifact_dir, where the summary and the user look.
local function publish_locally(cfg, dir)
  fs.rmtree(cfg.artifact_dir)
  if fs.rename(dir, cfg.artifact_dir) then
    return
  end
  assert(fs.mkdirp(cfg.artifact_dir))
  for _, name in ipairs(assert(fs.walk(dir))) do
    local dst = cfg.artifact_dir .. "/" .. name
    assert(fs.mkdirp(dst:match("^(.*)/[^/]*$")))
    assert(fs.copy_file(dir .. "/" .. name, dst))
  end
end

-- The status of a task some of whose artifacts could not be uploaded: an
-- exception whatever the script's exit code (a run without all its
-- artifacts is neither completed nor the script's failure). A failure
-- another attempt cannot cure (a name the Queue refuses, a file over the
-- size limit, a 4xx such as 400 or 403) is malformed-payload, which the
-- Queue does not retry: the task would produce the same artifact again.
-- Any other is intermittent-task, retried. An exception the status
-- already carries stays, except intermittent-task after a permanent
-- failure.
function M.upload_failure_status(cfg, status, failed)
  local permanent = false
  for _, f in ipairs(failed) do
    permanent = permanent or f.permanent == true
  end
  local up = M.STATUSES[permanent and "malformed-payload" or "intermittent-task"]
  local kind, reason = M.resolution(cfg, status)
  if kind ~= "exception" or (permanent and reason == "intermittent-task") then
    return up
  end
  return status
end

-- The steps of a task and their end, defined below M.run.
local run_steps, finish

-- An error raised by the worker's own code while it ran the task (a bug,
-- a full disk): logged, said in the task's log, and, when the artifacts
-- were not uploaded yet, that log alone is uploaded from a fresh
-- directory (what raised may have been the snapshot of artifact_dir).
-- Returns the status, internal-error.
local function pipeline_error(t, summary, err)
  local cfg = t.config
  log.error("task pipeline error", { error = tostring(err) })
  if t.proc then
    -- Raised while the script ran: it must not outlive its task.
    pcall(t.proc.stop, t.proc, cfg.script_stop_grace)
    t.proc = nil
  end
  append_line(t.live_log_path, "Automation Error: the worker failed while running the task; see its log")
  local rel = log_rel(cfg)
  if t.queue and not t.lost and not t.uploaded and rel then
    local ok, uerr = pcall(function()
      local dir = M.private_dir(cfg) .. "/error-logs"
      fs.rmtree(dir)
      assert(fs.mkdirp(dir .. "/" .. rel))
      assert(fs.copy_file(t.live_log_path, dir .. "/" .. rel .. "/live_backing.log", tonumber("644", 8)))
      local up = artifacts.upload_all({
        artifact_dir = dir,
        queue = t.queue,
        task_id = t.task_id,
        run_id = t.run_id,
        expires = t.task.expires,
        storage_type = cfg.artifact_storage_type,
        concurrency = 1,
        timeout = cfg.artifact_upload_timeout,
        tmp_dir = M.private_dir(cfg) .. "/upload",
      })
      summary.uploaded = up.uploaded
      summary.failed_uploads = up.failed
    end)
    if not ok then
      log.error("cannot upload the task's log after a pipeline error", { error = tostring(uerr) })
    end
  end
  return M.STATUSES["internal-error"]
end

-- Runs one claimed task. w = {config, queue (worker client), signer}; claim
-- as claimWork returns it, or for run-task {task, status = {taskId},
-- runId = 0, workerGroup} with w.queue nil. Returns a summary table.
function M.run(w, claim)
  local cfg = w.config
  local t = {
    config = cfg,
    claim = claim,
    task = claim.task,
    task_id = claim.status.taskId,
    run_id = claim.runId,
    creds = claim.credentials,
    taken_until = M.parse_time(claim.takenUntil),
    policy = w.policy,
    keys_from_config = w.keys_from_config,
    -- A reload (sw.reload) swaps w's set, config and key: this task keeps
    -- the ones it started with.
    signer = w.signer,
  }
  sched.label(t.task_id)
  -- The claim's credentials, and those of every reclaim, are recorded in
  -- t.secrets, and redacted until the task ends.
  t.secrets = {}
  secrets.add(t.creds, t.secrets)
  if w.queue then
    t.queue = w.queue:with_credentials(function()
      return t.creds
    end, t.secrets)
  end
  w.current = t
  -- The worker's own logs stay out of the script's reach until it ended.
  t.live_log_path = M.private_dir(cfg) .. "/logs/live_backing.log"
  t.cot_log_path = M.private_dir(cfg) .. "/logs/chain_of_trust.log"
  local summary = { task_id = t.task_id, run_id = t.run_id }
  -- Whatever happens in the steps, the task ends the same way: reported
  -- with its current credentials, its log uploaded, its credentials file
  -- and secrets gone. An error in the worker's own code is internal-error.
  local ok, status = pcall(run_steps, w, t, summary)
  if not ok then
    status = pipeline_error(t, summary, status)
  end
  finish(w, t, summary, status)
  return summary
end

run_steps = function(w, t, summary)
  local cfg, claim = t.config, t.claim
  -- The worker loop empties the directories at start-up and after every
  -- task and says so in w.dirs_clean; emptying them again here would put
  -- a second rmtree on the way from the claim to the script.
  if not w.dirs_clean then
    M.clean_dirs(cfg)
  end
  w.dirs_clean = false
  log.info(string.format("Going to run taskId %s runId %d", t.task_id, t.run_id))
  local unusable = M.unusable_task(t.task)
  if not unusable then
    write_json(cfg.work_dir .. "/task.json", t.task)
  end
  write_json(cfg.work_dir .. "/current_task_info.json", json.object({ taskId = t.task_id, runId = t.run_id }))
  if t.creds and t.queue then
    t.creds_path = cfg.work_dir .. "/.task-credentials.json"
    t.creds_file = assert(fs.create(t.creds_path, tonumber("600", 8)))
    -- The script's user may reopen it (/proc/self/fd/3); the worker keeps
    -- writing through its own descriptor whatever that user does.
    if cfg.script_user then
      assert(t.creds_file:chown(cfg.script_user.uid, cfg.script_user.gid))
    end
    assert(t.creds_file:rewrite(credentials_text(t.creds)))
  end

  if t.queue then
    t.reclaimer = sched.spawn(reclaim_loop, t)
  end

  local status = 0
  local verified = true
  local ok, problems
  if unusable then
    ok = false
  else
    ok, problems = validate_task(t.task)
    if ok then
      unusable = M.max_run_time_problem(t.task)
      ok = unusable == nil
    end
  end
  if not ok then
    status = M.STATUSES["malformed-payload"]
    verified = false
    local msg = unusable or ("the task does not match the minimal task schema: " .. table.concat(problems, "; "))
    log.error(msg)
    append_line(t.live_log_path, "Automation Error: " .. msg)
  elseif cfg.verify_chain_of_trust then
    local vok, verr, vstatus = M.verify_chain_of_trust(t)
    if not vok then
      status = M.STATUSES[vstatus] or M.STATUSES["malformed-payload"]
      verified = false
      t.cot_failed = true
      log.error("chain of trust verification failed", { error = tostring(verr), status = vstatus })
    end
  end

  local ran = false
  if verified and not w.stopping then
    status = run_script(t)
    ran = true
  elseif w.stopping then
    status = M.STATUSES["worker-shutdown"]
  end

  local snap, fail_status = snapshot(t)
  if fail_status then
    status = math.max(status, fail_status)
  end
  if ran and not t.lost and not t.shutdown and not t.timed_out then
    local cot, cerr, ccode = generate.generate({
      artifact_dir = snap,
      task = t.task,
      task_id = t.task_id,
      run_id = t.run_id,
      worker_group = claim.workerGroup or cfg.worker_group,
      worker_id = cfg.worker_id,
      worker_type = cfg.worker_type,
      alg = cfg.chain_of_trust_hash_algorithm,
      signer = cfg.sign_chain_of_trust and t.signer or nil,
      digests = t.digests,
      files = t.files,
    })
    if not cot then
      log.error(cerr)
      -- A body that fails its schema is the task's fault, as in the
      -- Python worker; a disk, hashing or signing failure is ours.
      local reason = ccode == "schema" and "malformed-payload" or "internal-error"
      status = math.max(status, M.STATUSES[reason])
    else
      assert(artifacts.list_put(t.files, snap, generate.JSON_NAME))
      if cot.sig_path then
        assert(artifacts.list_put(t.files, snap, generate.SIG_NAME))
      end
      summary.cot = cfg.artifact_dir .. "/" .. generate.JSON_NAME
      summary.cot_sig = cot.sig_path and (cfg.artifact_dir .. "/" .. generate.SIG_NAME)
    end
  end

  -- Without an expiry the Queue refuses every artifact: only the report.
  if t.queue and not t.lost and M.parse_time(type(t.task) == "table" and t.task.expires) then
    t.uploaded = true
    local up = artifacts.upload_all({
      artifact_dir = snap,
      queue = t.queue,
      task_id = t.task_id,
      run_id = t.run_id,
      expires = t.task.expires,
      storage_type = cfg.artifact_storage_type,
      concurrency = cfg.max_concurrent_uploads,
      timeout = cfg.artifact_upload_timeout,
      tmp_dir = M.private_dir(cfg) .. "/upload",
      digests = t.digests,
      files = t.files,
    })
    summary.uploaded = up.uploaded
    summary.failed_uploads = up.failed
    if #up.failed > 0 then
      status = M.upload_failure_status(cfg, status, up.failed)
    end
    -- Only a chain-of-trust failure has a chain_of_trust.log to point at.
    if t.cot_failed then
      artifacts.create_link(t.queue, t.task_id, t.run_id, "public/logs/live_backing.log",
        "public/logs/chain_of_trust.log", t.task.expires)
    end
  end
  if not t.queue then
    publish_locally(cfg, snap)
  end
  return status
end

-- The end of every task, whatever its outcome.
finish = function(w, t, summary, status)
  if t.reclaimer then
    t.reclaimer:cancel()
    t.reclaimer = nil
  end
  summary.status = status
  summary.worker_fault = t.worker_fault
  if t.queue and not t.lost then
    summary.resolution, summary.reason = report(t, status)
  else
    summary.resolution, summary.reason = M.resolution(t.config, status)
  end
  if t.creds_file then
    t.creds_file:close()
    fs.remove(t.creds_path)
  end
  secrets.forget(t.secrets)
  w.current = nil
  sched.label(nil)
end

-- Asks the running task to stop because the worker is shutting down.
function M.shutdown(t)
  t.shutdown = true
  if t.proc then
    t.proc:stop(t.config.script_stop_grace)
  end
end

return M
