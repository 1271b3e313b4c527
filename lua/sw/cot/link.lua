-- sw.cot.link: the links of a chain of trust. A link is one task pulled
-- into the chain (cot/VERIFY.md section 2): its name (`signing:build`), its
-- definition as the Queue returns it, its task type (from the last segment
-- of the name, `parent` resolved to action or decision), its worker
-- implementation (asked of the worker-implementation policies), and the
-- ids of its decision and parent tasks. This module decides nothing that
-- a policy should: which task types and implementations exist, and how an
-- implementation recognises its tasks, come from the policy set.
local json = require("sw.json")

local M = {}

local type, ipairs, pairs, format = type, ipairs, pairs, string.format

local function present(v)
  return v ~= nil and v ~= json.null
end

local function truthy(v)
  return present(v) and v ~= false and v ~= "" and v ~= 0 and not (type(v) == "table" and next(v) == nil)
end
M.truthy = truthy

local function is_object(v)
  return type(v) == "table" and json.type(v) ~= "array"
end

local function is_array(v)
  return type(v) == "table" and json.type(v) ~= "object"
end
M.is_object, M.is_array = is_object, is_array

-- Shortens a value for a message.
function M.show(v)
  local s
  if type(v) == "table" then
    s = json.encode(v) or tostring(v)
  elseif type(v) == "string" then
    s = format("%q", v)
  else
    s = tostring(v)
  end
  if #s > 120 then
    s = s:sub(1, 117) .. "..."
  end
  return s
end

-- A failure of the chain: raised as a table so that the engine can tell it
-- from a bug, and carry whether it is transient (a Queue or mirror that
-- could not be reached: not evidence of tampering). `code` is the verdict
-- it leads to, "malformed-payload" or "intermittent-task" (the Taskcluster
-- exception reasons verify_chain returns as its code).
local Failure = {}
Failure.__index = Failure
Failure.__name = "sw.cot.Failure"
Failure.__tostring = function(f)
  return f.message
end

function M.fail(fmt, ...)
  error(setmetatable({ message = select("#", ...) > 0 and format(fmt, ...) or fmt, code = "malformed-payload" },
    Failure), 0)
end

function M.fail_transient(fmt, ...)
  error(setmetatable({ message = format(fmt, ...), transient = true, code = "intermittent-task" }, Failure), 0)
end

function M.is_failure(v)
  return getmetatable(v) == Failure
end

-- is_action(task): env ACTION_CALLBACK truthy, or extra.action present.
function M.is_action(task)
  local payload = is_object(task) and task.payload
  local env = is_object(payload) and payload.env
  if is_object(env) and truthy(env.ACTION_CALLBACK) then
    return true
  end
  local extra = is_object(task) and task.extra
  return is_object(extra) and present(extra.action)
end

-- The task type of a link named `name`: the last `:` segment, which must
-- be a task type of the policy set; `parent` is action or decision.
function M.task_type(policy, name, task)
  local last = name:match("([^:]*)$")
  if last == "parent" then
    last = M.is_action(task) and "action" or "decision"
  end
  if not policy.task_types[last] then
    local known = {}
    for k in pairs(policy.task_types) do
      known[#known + 1] = k
    end
    table.sort(known)
    return nil, format("invalid task type %q (from %q); the policies define: %s", last, name,
      table.concat(known, ", ")), "invalid"
  end
  return last
end

-- The worker implementation of a task: every implementation whose policy
-- recognises the task, plus tags["worker-implementation"]. None, or more
-- than one distinct, is an error; so is a tag naming no implementation the
-- policies define (Python accepts any tag here and fails later).
function M.worker_impl(policy, task, ctx, call)
  if not is_object(task) then
    return nil, "the task definition is not an object", "invalid"
  end
  if type(task.provisionerId) ~= "string" and type(task.taskQueueId) ~= "string" then
    return nil, "the task has neither provisionerId nor taskQueueId", "invalid"
  end
  if not is_array(task.scopes) then
    return nil, "scopes: expected a list, got " .. M.show(task.scopes), "invalid"
  end
  local found, seen = {}, {}
  local names = {}
  for name in pairs(policy.worker_impls) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local impl = policy.worker_impls[name]
    local ok, err, code = call(impl, "recognise", task, ctx)
    if err then
      return nil, err, code or "error"
    end
    if ok and not seen[name] then
      seen[name] = true
      found[#found + 1] = name
    end
  end
  local tags = task.tags
  local tag = is_object(tags) and tags["worker-implementation"]
  if truthy(tag) then
    if type(tag) ~= "string" or not policy.worker_impls[tag] then
      return nil, format("tags[\"worker-implementation\"]: %s is not a worker implementation the policies define",
        M.show(tag)), "invalid"
    end
    if not seen[tag] then
      seen[tag] = true
      found[#found + 1] = tag
    end
  end
  if #found == 0 then
    return nil, "can't find a worker_impl: no worker implementation recognises the task", "invalid"
  elseif #found > 1 then
    table.sort(found)
    return nil, "too many matches for the worker implementation: " .. table.concat(found, ", "), "invalid"
  end
  return found[1]
end

-- The task queue of a task: taskQueueId, or provisionerId/workerType.
function M.task_queue(task)
  if type(task.taskQueueId) == "string" then
    return task.taskQueueId
  end
  if type(task.provisionerId) == "string" and type(task.workerType) == "string" then
    return task.provisionerId .. "/" .. task.workerType
  end
  return nil
end

-- new(policy, name, task_id, task, ctx, call) -> link | nil, message, code.
function M.new(policy, name, task_id, task, ctx, call)
  local who = format("%s %s", name, task_id)
  if not is_object(task) then
    return nil, who .. ": the task definition is not an object", "invalid"
  end
  if not is_object(task.payload) then
    return nil, who .. ": payload: missing or not an object", "invalid"
  end
  if type(task.taskGroupId) ~= "string" or task.taskGroupId == "" then
    return nil, who .. ": taskGroupId: missing", "invalid"
  end
  local tt, err, code = M.task_type(policy, name, task)
  if not tt then
    return nil, who .. ": " .. err, code
  end
  local impl
  impl, err, code = M.worker_impl(policy, task, ctx, call)
  if not impl then
    return nil, who .. ": " .. err, code
  end
  local extra = task.extra
  local parent = is_object(extra) and extra.parent or nil
  if type(parent) ~= "string" or parent == "" then
    if present(parent) and parent ~= "" then
      return nil, who .. ": extra.parent: expected a taskId, got " .. M.show(parent), "invalid"
    end
    parent = task.taskGroupId
  end
  return {
    name = name,
    task_id = task_id,
    task = task,
    task_type = tt,
    worker_impl = impl,
    decision_task_id = task.taskGroupId,
    parent_task_id = parent,
    who = who,
  }
end

-- The dependencies of a task, as (name, taskId) pairs (VERIFY.md
-- find_sorted_task_dependencies): extra.chainOfTrust.inputs and
-- payload.upstreamArtifacts, sorted by "<name>_<taskId>", then the parent
-- first. Wrong shapes fail naming the field.
function M.dependencies(link)
  local task, name, who = link.task, link.name, link.who
  local deps = {}
  local extra = task.extra
  local cot = is_object(extra) and extra.chainOfTrust or nil
  local inputs = is_object(cot) and cot.inputs or nil
  if present(inputs) then
    if not is_object(inputs) then
      return nil, who .. ": extra.chainOfTrust.inputs: expected an object, got " .. M.show(inputs), "invalid"
    end
    for k, v in pairs(inputs) do
      if type(v) ~= "string" or v == "" then
        return nil, format("%s: extra.chainOfTrust.inputs[%q]: expected a taskId, got %s", who, k, M.show(v)), "invalid"
      end
      deps[#deps + 1] = { name .. ":" .. k, v }
    end
  end
  local ua = task.payload.upstreamArtifacts
  if present(ua) then
    if not is_array(ua) then
      return nil, who .. ": payload.upstreamArtifacts: expected a list, got " .. M.show(ua), "invalid"
    end
    for i, e in ipairs(ua) do
      local where = format("%s: payload.upstreamArtifacts[%d]", who, i - 1)
      if not is_object(e) then
        return nil, where .. ": expected an object, got " .. M.show(e), "invalid"
      end
      if type(e.taskId) ~= "string" or e.taskId == "" then
        return nil, where .. ".taskId: expected a taskId, got " .. M.show(e.taskId), "invalid"
      end
      if type(e.taskType) ~= "string" or e.taskType == "" or e.taskType:find(":", 1, true) then
        return nil, where .. ".taskType: expected a task type, got " .. M.show(e.taskType), "invalid"
      end
      deps[#deps + 1] = { name .. ":" .. e.taskType, e.taskId }
    end
  end
  table.sort(deps, function(a, b)
    return a[1] .. "_" .. a[2] < b[1] .. "_" .. b[2]
  end)
  table.insert(deps, 1, { name .. ":parent", link.parent_task_id })
  return deps
end

return M
