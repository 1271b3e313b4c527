-- sw.cot.v2: chain of trust v2. Rebuilds a decision, cron or action task
-- from its repository's .taskcluster.yml with json-e and compares the
-- result with the task definition that actually ran, as the Python
-- scriptworker's verify_parent_task_definition does (cot/VERIFY.md
-- section 7), failing closed on every error. docs/cot-v2.md describes what
-- is fetched from where, the context per tasks_for, the normalisation and
-- where we are stricter than Python.
--
--   local v2 = require("sw.cot.v2")
--   local ok, msg, code, differences = v2.verify_parent_task_definition({
--     task_id = ..., task = ...,                     -- the decision/cron/action task
--     decision_task_id = ..., decision_task = ...,   -- its decision task
--     config = ...,                                  -- resolved worker config
--     inputs = ...,                                  -- see sw.cot.v2.fetch
--   })
local json = require("sw.json")
local jsone = require("sw.jsone")
local log = require("sw.log")
local common = require("sw.cot.v2.common")
local fetch = require("sw.cot.v2.fetch")
local compare = require("sw.cot.v2.compare")
local context = require("sw.cot.v2.context")

local M = {}

local type, ipairs, format, tostring = type, ipairs, string.format, tostring
local fail, dig, is_object, is_array = common.fail, common.dig, common.is_object, common.is_array

M.http_inputs = fetch.http_inputs
M.file_artifacts = fetch.file_artifacts
M.diff = compare.diff
M.normalise = compare.normalise
M.remove_empty = compare.remove_empty

local function check_args(args)
  if type(args) ~= "table" then
    error("cot.v2: arguments must be a table", 3)
  end
end

-- state(args) -> S (see sw.cot.v2.context), checking the arguments. The
-- decision task is the task's taskGroupId (VERIFY.md section 1): a
-- decision_task_id that is not, is refused.
local function state(args)
  local task_id, task = args.task_id, args.task
  if type(task_id) ~= "string" or task_id == "" then
    fail("input", "task_id is missing")
  end
  if not is_object(task) then
    fail("input", "the task definition is missing")
  end
  local config = args.config
  if type(config) ~= "table" then
    fail("config", "config is missing")
  end
  local inputs = args.inputs
  if type(inputs) ~= "table" or type(inputs.fetch_text) ~= "function" or
      type(inputs.fetch_artifact) ~= "function" then
    fail("config", "inputs must have fetch_text and fetch_artifact functions")
  end
  local group = task.taskGroupId
  if type(group) ~= "string" or group == "" then
    fail("input", "taskGroupId is missing")
  end
  local decision_task_id = args.decision_task_id or group
  if decision_task_id ~= group then
    fail("input", "the decision task %s is not this task's taskGroupId %s", tostring(decision_task_id), group)
  end
  local decision = args.decision_task
  if decision_task_id == task_id then
    decision = task
  elseif not is_object(decision) then
    fail("input", "the decision task %s is missing", decision_task_id)
  end
  local p = config.source_env_prefix
  if type(p) ~= "string" or not p:find("^[%u%d_]+$") then
    fail("config", "source_env_prefix is not set (cot_product %s)", tostring(config.cot_product))
  end
  return {
    task_id = task_id,
    task = task,
    decision_task_id = decision_task_id,
    decision = decision,
    config = config,
    inputs = inputs,
    cache = type(inputs.cache) == "table" and inputs.cache or {},
  }
end

-- tasks_for: extra.tasks_for, one of the product's valid_tasks_for.
local function check_tasks_for(S)
  local tf = dig(S.task, "extra", "tasks_for")
  if type(tf) ~= "string" then
    fail("tasks_for", "extra.tasks_for is missing")
  end
  local valid = S.config.valid_tasks_for
  if not is_array(valid) then
    fail("config", "valid_tasks_for is not a list for cot_product %s", tostring(S.config.cot_product))
  end
  for _, v in ipairs(valid) do
    if v == tf then
      S.tasks_for = tf
      return tf
    end
  end
  fail("tasks_for", "unknown tasks_for %s: not in valid_tasks_for for cot_product %s", json.encode(tf),
    tostring(S.config.cot_product))
end

local function prefix_of(args)
  local name = type(args) == "table" and args.name
  local id = type(args) == "table" and args.task_id
  return format("%s %s: ", type(name) == "string" and name or "task", type(id) == "string" and id or "?")
end

-- Runs fn(S) on the checked state of args, as `nil, message, code` on
-- failure.
local function entry(args, fn)
  check_args(args)
  return common.protect(prefix_of(args), function()
    local S = state(args)
    check_tasks_for(S)
    return fn(S)
  end)
end

-- context_and_template(args) -> context, template | nil, message, code.
-- The json-e context (with the as_slugid function) and template that
-- rebuild args.task (same arguments as verify_parent_task_definition).
function M.context_and_template(args)
  return entry(args, context.context_and_template)
end

-- populate_context(args) -> context | nil, message, code: the json-e
-- context for args.task's tasks_for before any action-hook wrapping
-- (Python's populate_jsone_context).
function M.populate_context(args)
  return entry(args, context.populate)
end

-- check_and_update_action_task_group_id: the rebuilt ACTION_TASK_GROUP_ID
-- must be the action's or the decision's taskId, and (stricter than
-- Python) so must the one that ran; then the rebuilt one takes the value
-- that ran.
local function check_action_task_group_id(S, rebuilt)
  local ids = { [S.task_id] = true, [S.decision_task_id] = true }
  local first = rebuilt.tasks[1]
  local env = dig(first, "payload", "env")
  local built = env and env.ACTION_TASK_GROUP_ID
  local ran = dig(S.task, "payload", "env", "ACTION_TASK_GROUP_ID")
  if type(built) ~= "string" then
    fail("mismatch", "the rebuilt action has no payload.env.ACTION_TASK_GROUP_ID")
  end
  if type(ran) ~= "string" then
    fail("mismatch", "payload.env.ACTION_TASK_GROUP_ID is missing")
  end
  if not ids[built] then
    fail("mismatch", "rebuilt ACTION_TASK_GROUP_ID %s is neither the action %s nor the decision %s", built,
      S.task_id, S.decision_task_id)
  end
  if not ids[ran] then
    fail("mismatch", "payload.env.ACTION_TASK_GROUP_ID %s is neither the action %s nor the decision %s", ran,
      S.task_id, S.decision_task_id)
  end
  env.ACTION_TASK_GROUP_ID = ran
end

-- render(S) -> the rendered document, its tasks checked.
local function rebuild(S)
  local ctx, tmpl = context.context_and_template(S)
  if log.enabled("debug") then
    local shown = compare.copy(ctx)
    shown.as_slugid = nil
    log.debug("cot v2: json-e context", { task = S.task_id, context = json.encode(shown) })
  end
  local rebuilt, err = jsone.render(tmpl, ctx)
  if rebuilt == nil then
    fail("jsone", "JSON-e error while rebuilding the task definition from %s: %s",
      S.template_url or ".taskcluster.yml", err)
  end
  if not is_object(rebuilt) or not is_array(rebuilt.tasks) then
    fail("jsone", "the rendered %s has no tasks list", S.template_url or ".taskcluster.yml")
  end
  if #rebuilt.tasks == 0 then
    fail("mismatch", "the rendered %s has no task for tasks_for %s", S.template_url or ".taskcluster.yml",
      S.tasks_for)
  end
  if S.tasks_for == "action" or S.tasks_for == "pr-action" then
    check_action_task_group_id(S, rebuilt)
  end
  return rebuilt
end

-- compare_jsone_task_definition: passes when any rendered task equals the
-- runtime definition after normalisation; otherwise every difference of
-- every rendered task.
local function compare_all(S, rebuilt)
  local ran, err = compare.normalise(S.task, "runtime")
  if not ran then
    fail("mismatch", "%s", err)
  end
  local all, parts = {}, {}
  local n = #rebuilt.tasks
  for i, t in ipairs(rebuilt.tasks) do
    if is_object(t) then
      t.taskId = nil -- rebuilt decision tasks name their own taskId
    end
    local built, nerr = compare.normalise(t, "rebuilt")
    local diffs
    if not built then
      diffs = { { path = "task", text = "task: " .. nerr } }
    else
      diffs = compare.diff(built, ran)
      if #diffs == 0 then
        return true
      end
    end
    for _, d in ipairs(diffs) do
      d.index = i - 1
      all[#all + 1] = d
    end
    parts[#parts + 1] = (n > 1 and format("rebuilt task [%d]:\n", i - 1) or "") .. compare.format(diffs)
  end
  common.fail_extra("mismatch",
    "the runtime task doesn't match any rebuilt definition!\n" .. table.concat(parts, "\n"), all)
end

-- verify_parent_task_definition(args) -> true | nil, message, code, differences
--   args.task_id, args.task: the decision, cron or action task to rebuild
--   args.decision_task_id: its decision task (= task.taskGroupId; default)
--   args.decision_task: that task's definition (not needed when it is the
--     task itself)
--   args.config: the resolved config (cot_product, cot_product_type,
--     source_env_prefix, valid_tasks_for, pushlog_url,
--     project_configuration_url, github_oauth_token, trusted_vcs_rules)
--   args.inputs: {fetch_text, fetch_artifact[, urls][, cache]}
--   args.name: the link name for messages (default "task")
-- Codes: "mismatch" (differences is then the list of {index, path,
-- rebuilt, ran, text}), "tasks_for", "fetch", "parse", "input", "jsone",
-- "config", "internal". Every message starts with "<name> <taskId>: ".
function M.verify_parent_task_definition(args)
  check_args(args)
  local prefix = prefix_of(args)
  log.info("cot v2: verifying " .. prefix:sub(1, -3) .. " definition")
  local ok, msg, code, extra = entry(args, function(S)
    return compare_all(S, rebuild(S))
  end)
  if ok then
    log.info("cot v2: " .. prefix .. "Good.")
    return true
  end
  log.error("cot v2: " .. msg)
  return nil, msg, code, extra
end

return M
