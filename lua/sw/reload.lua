-- Hot reload of the worker's policy set and signing key (docs/policies.md
-- "Reloading", docs/worker.md "Signals").
--
-- On SIGHUP, and when a file under the policy folder changes, the worker
-- builds the whole new set beside the old one (sw.config.load_with_policy:
-- the policy set, then the config's policy-derived values over it) and swaps
-- set and config together only when everything passed. Anything wrong and the
-- old pair stays in force, with one log line per problem naming the file and
-- the field. A task that is running keeps the set and config it started with
-- (sw.task copies w.policy and w.config when it starts); the next claim takes
-- the new ones. SIGHUP also re-reads the ed25519 private key.
--
-- File events come in bursts (an editor's save is several, `git checkout`
-- many): a reload waits until DEBOUNCE seconds pass with no event, or at
-- most MAX_DELAY after the first one, so a burst costs a bounded number of
-- reloads and the last one sees the final content.
local config_mod = require("sw.config")
local fs = require("sw.fs")
local log = require("sw.log")
local policy = require("sw.policy")
local sched = require("sw.sched")

local M = {}

M.DEBOUNCE = 0.2
M.MAX_DELAY = 1

-- The config keys a reload takes from the freshly loaded config; every other
-- key (directories, credentials, the script, the resolved script user)
-- stays as the worker started with it, since the worker holds resources
-- built from them. A change to those needs a restart.
local function reloaded_keys()
  local keys = { "cot_job_type", "cot_product", "policy_dir", "ed25519_public_keys" }
  for _, k in ipairs(config_mod.PRODUCT_KEYS) do
    keys[#keys + 1] = k
  end
  return keys
end

-- The config a task after the reload sees: a new table (the old one may be
-- in use by a running task and is never changed).
local function merged_config(old, new)
  local out = {}
  for k, v in pairs(old) do
    out[k] = v
  end
  for _, k in ipairs(reloaded_keys()) do
    out[k] = new[k]
  end
  return out
end

-- Refuses a policy folder that task_script_user could change. Returns true
-- or nil, message, "unsafe".
function M.check_folder(config, set)
  local u = config.script_user
  if not (u and set) then
    return true
  end
  local ok, where = policy.safe_from(set.dir, u)
  if not ok then
    return nil, string.format("policy_dir: task_script_user %q could change the policy set through %s: "
      .. "make it writable by root only", tostring(u.name), where), "unsafe"
  end
  return true
end

-- One line per problem, then the summary: whoever sees the summary in the
-- log sees every problem too.
local function log_failure(w, why, messages)
  for _, m in ipairs(messages) do
    log.error("policy reload: " .. m)
  end
  log.error("policy reload failed; the old policy set stays in force", {
    trigger = why,
    problems = #messages,
    digest = w.policy and w.policy.digest or "none",
  })
end

-- Rebuilds the set and the config from opts.config_path and
-- opts.policy_file and swaps them into w. Returns true, or nil, the
-- messages (already logged) and a code.
function M.reload_policy(w, opts, why)
  local t0 = sched.monotonic()
  local config, msgs, info = config_mod.load_with_policy(opts.config_path, { policy_file = opts.policy_file })
  if not config then
    log_failure(w, why, msgs)
    return nil, msgs, info -- on failure, the third value is the code
  end
  local set = info.policy
  local ok, err, code = M.check_folder(w.config, set)
  if not ok then
    log_failure(w, why, { err })
    return nil, { err }, code
  end
  local took = sched.monotonic() - t0
  local old = w.policy
  w.config = merged_config(w.config, config)
  w.policy = set
  w.keys_from_config = info.keys_from_config
  for _, n in ipairs(info.notes) do
    log.info(n)
  end
  log.info("policy set reloaded", {
    trigger = why,
    dir = set.dir,
    digest = set.digest,
    previous = old and old.digest or "none",
    changed = tostring(not old or old.digest ~= set.digest),
    instance = set.instance and set.instance.name or "none",
    overridden_by_config = #info.overrides > 0 and table.concat(info.overrides, ",") or "none",
    load_ms = string.format("%.1f", took * 1000),
  })
  return true
end

-- Re-reads the worker's ed25519 private key; a bad key keeps the old one.
function M.reload_key(w)
  if not w.config.sign_chain_of_trust then
    return true
  end
  local signer, err, code = require("sw.worker").load_signer(w.config)
  if not signer then
    log.error("signing key reload failed; the old key stays in use", { error = err })
    return nil, err, code
  end
  w.signer = signer
  log.info("signing key reloaded", { path = w.config.ed25519_private_key_path })
  return true
end

-- The folders to watch: the policy folder, each folder below it, and its
-- parent (the folder itself may be renamed or replaced).
local function folders(dir)
  local real = fs.realpath(dir)
  if not real then
    return {}, nil
  end
  local out = { real }
  for _, rel in ipairs(fs.walk(real, { dirs = true, files = false }) or {}) do
    out[#out + 1] = real .. "/" .. rel
  end
  return out, real
end

-- Starts the SIGHUP handler and the folder watches for worker w.
-- opts: config_path, policy_file (as on the command line). Returns an
-- object whose close() stops them.
function M.start(w, opts)
  local r = { watches = {}, reloads = 0 }
  local first_event, last_event, pending

  local function reload(why)
    r.reloads = r.reloads + 1
    M.reload_policy(w, opts, why)
    r.rewatch()
  end

  local function on_change(name)
    local now = sched.monotonic()
    last_event = now
    if pending then
      return
    end
    first_event = now
    log.debug("policy folder changed", { file = name or "?" })
    pending = sched.spawn(function()
      while true do
        local due = math.min(last_event + M.DEBOUNCE, first_event + M.MAX_DELAY)
        local left = due - sched.monotonic()
        if left <= 0 then
          break
        end
        sched.sleep(left)
      end
      pending = nil
      reload("file change")
    end)
  end

  -- Watches exactly the folders that exist now: new sub-folders get a
  -- watch, gone ones lose theirs. After the folder itself was replaced
  -- (renamed over, checked out anew) the old watches follow the old
  -- inodes: all are made again.
  function r.rewatch()
    local dirs, real = folders(w.policy.dir)
    local want = {}
    for _, d in ipairs(dirs) do
      want[d] = true
    end
    local replaced = r.replaced
    r.replaced = false
    for d, h in pairs(r.watches) do
      if replaced or not want[d] then
        h:close()
        r.watches[d] = nil
      end
    end
    for _, d in ipairs(dirs) do
      if not r.watches[d] then
        local h, err = sched.watch(d, function(name)
          on_change(name)
        end)
        if h then
          r.watches[d] = h
        else
          log.warn("cannot watch the policy folder; SIGHUP still reloads", { dir = d, error = err })
        end
      end
    end
    if real and real ~= "/" then
      local parent = real:match("^(.*)/[^/]*$")
      parent = parent == "" and "/" or parent
      local base = real:match("([^/]+)$")
      if r.parent_dir ~= parent then
        if r.parent_watch then
          r.parent_watch:close()
        end
        r.parent_dir = parent
        r.parent_watch = sched.watch(parent, function(name)
          if name == base then
            r.replaced = true
            on_change(name)
          end
        end)
      end
    end
  end

  r.hup = sched.on_signal("SIGHUP", function()
    log.info("SIGHUP received; reloading the policy set and the signing key")
    reload("SIGHUP")
    M.reload_key(w)
  end)
  r.rewatch()
  local n = 0
  for _ in pairs(r.watches) do
    n = n + 1
  end
  log.info("reloading the policy set on SIGHUP and on changes", { dir = w.policy.dir, folders_watched = n })

  function r.close()
    r.hup:close()
    for d, h in pairs(r.watches) do
      h:close()
      r.watches[d] = nil
    end
    if r.parent_watch then
      r.parent_watch:close()
      r.parent_watch = nil
    end
    if pending then
      pending:cancel()
      pending = nil
    end
  end
  return r
end

return M
