-- sw.cot.v2.compare: the normalisation the Python scriptworker applies
-- before comparing a rebuilt (json-e rendered) task definition with the one
-- that ran, and a deep diff that names every differing path with both
-- values (cot/VERIFY.md section 7, compare_jsone_task_definition).
local json = require("sw.json")

local M = {}

local type, next, setmetatable = type, next, setmetatable
local tostring, format = tostring, string.format
local sort, concat = table.sort, table.concat
local null, array_mt, object_mt = json.null, json.array_mt, json.object_mt
local json_type = json.type

-- "array" | "object" for tables (sw.json's rules for unmarked tables),
-- "null", or the Lua type.
local function kind(v)
  return json_type(v) or type(v)
end
M.kind = kind

-- Values remove_empty_keys drops: null, {} and []. (Python also drops the
-- string "null"; we keep it, see docs/cot-v2.md.)
local function is_empty(v)
  if v == null or v == nil then
    return true
  end
  return type(v) == "table" and next(v) == nil
end

-- Python's remove_empty_keys, single pass: an entry is dropped if its value
-- is empty *before* its own children are cleaned, so {"a": {"b": null}}
-- becomes {"a": {}}. Returns a new value; the input is not modified.
local function remove_empty(v)
  local k = kind(v)
  if k == "object" then
    local out = setmetatable({}, object_mt)
    for key, x in next, v do
      if not is_empty(x) then
        out[key] = remove_empty(x)
      end
    end
    return out
  elseif k == "array" then
    local out, n = setmetatable({}, array_mt), 0
    for i = 1, #v do
      local x = v[i]
      if not is_empty(x) then
        n = n + 1
        out[n] = remove_empty(x)
      end
    end
    return out
  end
  return v
end
M.remove_empty = remove_empty

-- normalise(definition, side) -> new definition | nil, message, "invalid"
-- remove_empty_keys, projectId "none" when absent, taskQueueId from
-- provisionerId/workerType when absent, then both of those removed. Unlike
-- Python, a taskQueueId that contradicts provisionerId/workerType, or only
-- one of provisionerId/workerType, is an error.
function M.normalise(def, side)
  if kind(def) ~= "object" then
    return nil, format("the %s task definition is not an object", side), "invalid"
  end
  local d = remove_empty(def)
  if d.projectId == nil then
    d.projectId = "none"
  end
  local p, w, q = d.provisionerId, d.workerType, d.taskQueueId
  if (p == nil) ~= (w == nil) then
    return nil, format("the %s task definition has %s without %s", side,
      p ~= nil and "provisionerId" or "workerType", p ~= nil and "workerType" or "provisionerId"), "invalid"
  end
  if p ~= nil and (type(p) ~= "string" or type(w) ~= "string") then
    return nil, format("the %s task definition's provisionerId and workerType must be strings", side), "invalid"
  end
  if q == nil then
    if p == nil then
      return nil, format("the %s task definition has neither taskQueueId nor provisionerId/workerType", side), "invalid"
    end
    d.taskQueueId = p .. "/" .. w
  elseif p ~= nil and q ~= p .. "/" .. w then
    return nil, format("the %s task definition's taskQueueId %s contradicts provisionerId/workerType %s/%s",
      side, json.encode(q) or tostring(q), p, w), "invalid"
  end
  d.provisionerId, d.workerType = nil, nil
  return d
end

-- Deep equality of two normalised values. Object key order is irrelevant,
-- array order is significant, 1 == 1.0; unlike Python, true ~= 1.
local function equal(a, b)
  if a == b then
    return true
  end
  local ka, kb = kind(a), kind(b)
  if ka ~= kb then
    return false
  end
  if ka == "object" then
    for k, x in next, a do
      local y = b[k]
      if y == nil or not equal(x, y) then
        return false
      end
    end
    for k in next, b do
      if a[k] == nil then
        return false
      end
    end
    return true
  elseif ka == "array" then
    if #a ~= #b then
      return false
    end
    for i = 1, #a do
      if not equal(a[i], b[i]) then
        return false
      end
    end
    return true
  end
  return false
end
M.equal = equal

local function path_key(path, key)
  if type(key) == "string" and key:find("^[%a_][%w_]*$") then
    return path .. "." .. key
  end
  return path .. "[" .. (json.encode(tostring(key)) or "?") .. "]"
end

local MAX_SHOWN = 1000

-- The JSON text of a value for a message, cut at MAX_SHOWN bytes.
local function show(v)
  if v == nil then
    return "missing"
  end
  local s = json.encode(v)
  if not s then
    s = "<" .. type(v) .. ">"
  end
  if #s > MAX_SHOWN then
    s = s:sub(1, MAX_SHOWN) .. format("... (%d bytes)", #s)
  end
  return s
end
M.show = show

local function sorted_keys(a, b)
  local keys, n, seen = {}, 0, {}
  for _, t in ipairs({ a, b }) do
    for k in next, t do
      if not seen[k] then
        seen[k] = true
        n = n + 1
        keys[n] = k
      end
    end
  end
  sort(keys, function(x, y)
    return tostring(x) < tostring(y)
  end)
  return keys
end

local function add(out, path, rebuilt, ran)
  local text
  if rebuilt == nil then
    text = format("%s: missing (rebuilt), got %s (ran)", path, show(ran))
  elseif ran == nil then
    text = format("%s: expected %s (rebuilt), missing (ran)", path, show(rebuilt))
  else
    text = format("%s: expected %s (rebuilt), got %s (ran)", path, show(rebuilt), show(ran))
  end
  out[#out + 1] = { path = path, rebuilt = rebuilt, ran = ran, text = text }
end

local function walk(a, b, path, out)
  local ka, kb = kind(a), kind(b)
  if ka == "object" and kb == "object" then
    for _, k in ipairs(sorted_keys(a, b)) do
      local x, y = a[k], b[k]
      local p = path_key(path, k)
      if x == nil or y == nil then
        add(out, p, x, y)
      else
        walk(x, y, p, out)
      end
    end
  elseif ka == "array" and kb == "array" then
    local n = #a > #b and #a or #b
    for i = 1, n do
      local x, y = a[i], b[i]
      local p = path .. "[" .. (i - 1) .. "]"
      if x == nil or y == nil then
        add(out, p, x, y)
      else
        walk(x, y, p, out)
      end
    end
  elseif not equal(a, b) then
    add(out, path, a, b)
  end
end

-- diff(rebuilt, ran[, root]) -> list of {path, rebuilt, ran, text}; paths
-- start at root (default "task") and use 0-based array indices, e.g.
-- task.payload.command[6] or task.payload.cache["level-3-checkouts"].
-- rebuilt or ran is nil when the path exists on the other side only.
function M.diff(rebuilt, ran, root)
  local out = {}
  walk(rebuilt, ran, root or "task", out)
  return out
end

-- Deep copy keeping sw.json's array/object marks.
M.copy = require("sw.config").deepcopy

-- Joins the difference lines of one rendered task for a message.
function M.format(diffs, indent)
  local lines = {}
  for i, d in ipairs(diffs) do
    lines[i] = (indent or "  ") .. d.text
  end
  return concat(lines, "\n")
end

return M
