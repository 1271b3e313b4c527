-- sw.cot.graph: a task against its parent's task-graph.json (cot/VERIFY.md
-- section 5, verify_link_in_task_graph and the task-graph part of
-- verify_parent_task), stricter than the Python scriptworker where it is
-- lax. Pure: no I/O, no logging, no state; errors are returned as lists of
-- messages that name the task, the field and both values.
local json = require("sw.json")
local regex = require("sw.regex")
local compare = require("sw.cot.v2.compare")

local M = {}

local type, next, ipairs, pairs, tostring = type, next, ipairs, pairs, tostring
local format, concat, sort = string.format, table.concat, table.sort
local null = json.null
local equal, diff = compare.equal, compare.diff

-- Keys of a task-graph.json task that are not compared (Python's
-- ignore_keys). They are set or changed when the task is submitted.
M.IGNORED_KEYS = {
  created = true,
  deadline = true,
  dependencies = true,
  expires = true,
  projectId = true,
  schedulerId = true,
  taskQueueId = true,
  priority = true,
}

-- Keys the Queue fills with a default when the creator leaves them out
-- (queue/v1/task.json in taskcluster/references.json). A key present only
-- in the task that ran must still hold this default: the task-graph.json
-- entry is what the parent submitted, so any other value was not its
-- doing. (Python does not look at runtime-only keys at all.)
M.QUEUE_DEFAULTS = {
  extra = json.object(),
  tags = json.object(),
  routes = json.array(),
  scopes = json.array(),
  requires = "all-completed",
  retries = 5,
}

-- Keys the Queue or the submitting parent derive by themselves, accepted
-- when only the task that ran has them: taskGroupId is added by taskgraph
-- when it creates the task; provisionerId/workerType are derived from
-- taskQueueId (which is then checked against the graph's, see below).
local DERIVED_KEYS = { taskGroupId = true, provisionerId = true, workerType = true }

-- Parent task types: their tasks are not in a task graph (a decision task
-- is in none; an action task is created after the graph it extends).
local PARENT_TYPES = { decision = true, action = true }
M.PARENT_TYPES = PARENT_TYPES

local SHOWN = 200

-- A value as JSON for a message, cut at SHOWN bytes.
local function show(v)
  if v == nil then
    return "missing"
  end
  local s = json.encode(v, { sort_keys = true })
  if not s then
    s = "<" .. type(v) .. ">"
  end
  if #s > SHOWN then
    s = s:sub(1, SHOWN) .. format("... (%d bytes)", #s)
  end
  return s
end
M.show = show

local function kind(v)
  return json.type(v) or type(v)
end

local function is_object(v)
  return type(v) == "table" and json.type(v) == "object"
end

local function is_array(v)
  return type(v) == "table" and json.type(v) == "array"
end

local function who(link)
  return format("%s %s", tostring(link and link.name), tostring(link and link.task_id))
end
M.who = who

-- Dates ------------------------------------------------------------------

local calendar = require("sw.calendar")
local days_from_civil, civil_from_days = calendar.days_from_civil, calendar.civil_from_days

local function days_in_month(y, m)
  if m == 2 then
    local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
    return leap and 29 or 28
  end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

-- parse_created(s) -> {seconds since the epoch, milliseconds} | nil, err.
-- The shape the Queue returns (YYYY-MM-DDTHH:MM:SS.mmmZ); the fraction may
-- have 1 to 9 digits or be absent, and a +HH:MM/-HH:MM offset is dropped
-- without conversion, as Python's fromisoformat(...).replace(tzinfo=None)
-- does. Anything else is an error (Python accepts more shapes).
local function parse_created(s)
  if type(s) ~= "string" then
    return nil, format("is not a string, got %s", show(s))
  end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then
    return nil, format("is not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ), got %s", show(s))
  end
  local frac, zone = rest:match("^%.(%d+)(.*)$")
  if not frac then
    frac, zone = "", rest
  end
  if #frac > 9 or not (zone == "" or zone == "Z" or zone:find("^[+-]%d%d:%d%d$")) then
    return nil, format("is not an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ), got %s", show(s))
  end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if y < 1 or mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or sec > 59 then
    return nil, format("is not a valid date and time, got %s", show(s))
  end
  local ms = tonumber((frac .. "000"):sub(1, 3))
  return { seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec, ms = ms }
end

-- taskgraph's units (taskgraph.util.time.ALIASES), in seconds.
local UNITS = {}
for names, secs in pairs({
  ["s second seconds"] = 1,
  ["min minute minutes"] = 60,
  ["h hour hours"] = 3600,
  ["d day days"] = 86400,
  ["mo month months"] = 30 * 86400,
  ["y year years"] = 365 * 86400,
}) do
  for name in names:gmatch("%S+") do
    UNITS[name] = secs
  end
end

-- Python's datetime range: years 1 to 9999.
local MIN_SECONDS = days_from_civil(1, 1, 1) * 86400
local MAX_SECONDS = days_from_civil(9999, 12, 31) * 86400 + 86399

local OFFSET = assert(regex.compile([[((?:\d+)?\.?\d+) *([a-z]+)]]))

-- The offset of a relative-datestamp in seconds: taskgraph's value_of. The
-- first match of the pattern counts (so "-1 day" is one day *later*, as in
-- taskgraph, which made the task that ran the same way); the number must
-- be an integer, as Python's int() requires.
local function offset_seconds(text)
  if type(text) ~= "string" then
    return nil, format("must be a string, got %s", show(text))
  end
  local m, err = OFFSET:search(text)
  if not m then
    return nil, format("is not a time offset (e.g. \"28 days\"), got %s%s", show(text), err and ": " .. err or "")
  end
  local value, unit = m[1], m[2]
  local secs = UNITS[unit]
  if not secs then
    return nil, format("has an unknown unit %s in %s", show(unit), show(text))
  end
  if not value:find("^[0-9]+$") then
    return nil, format("must be a whole number of %s, got %s", unit, show(text))
  end
  -- Anything with more digits is beyond Python's datetime range anyway.
  if #value > 10 then
    return nil, format("is out of range, got %s", show(text))
  end
  return tonumber(value) * secs
end

local function format_time(seconds, ms)
  local days = seconds // 86400
  local rem = seconds - days * 86400
  local y, mo, d = civil_from_days(days)
  return format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, rem // 3600, rem % 3600 // 60, rem % 60, ms)
end

-- relative_datestamp(created, offset) -> timestamp | nil, err: created +
-- offset as YYYY-MM-DDTHH:MM:SS.mmmZ, the milliseconds being created's.
-- Python's taskgraph writes isoformat()[:23] + "Z", which drops ".000" when
-- the microseconds are 0; the Queue returns every date with milliseconds,
-- so the task that ran always has them and ".000" is kept here.
function M.relative_datestamp(created, offset)
  local c, err = parse_created(created)
  if not c then
    return nil, "created " .. err, "invalid"
  end
  local secs
  secs, err = offset_seconds(offset)
  if not secs then
    return nil, "relative-datestamp " .. err, "invalid"
  end
  local t = c.seconds + secs
  if t < MIN_SECONDS or t > MAX_SECONDS then
    return nil, format("relative-datestamp %s from %s is out of range", show(offset), show(created)), "invalid"
  end
  return format_time(t, c.ms)
end

local function path_key(path, key)
  if type(key) == "string" and key:find("^[%a_][%w_]*$") then
    return path .. "." .. key
  end
  return path .. "[" .. (json.encode(tostring(key)) or "?") .. "]"
end

-- Replaces every object whose only key is "relative-datestamp", anywhere,
-- by created + its offset (taskgraph's resolve_timestamps). Returns a new
-- value; errors name the path. Unlike taskgraph, a relative-datestamp that
-- is not a string is an error (taskgraph resolves the keys of an object).
local function resolve(v, created, path, errors)
  local k = kind(v)
  if k == "object" then
    local key = next(v)
    if key == "relative-datestamp" and next(v, key) == nil then
      local t, err = M.relative_datestamp(created, v[key])
      if not t then
        errors[#errors + 1] = format("%s: %s", path, err)
        return v
      end
      return t
    end
    local out = json.object()
    for kk, x in next, v do
      out[kk] = resolve(x, created, path_key(path, kk), errors)
    end
    return out
  elseif k == "array" then
    local out = json.array()
    for i = 1, #v do
      out[i] = resolve(v[i], created, path .. "[" .. (i - 1) .. "]", errors)
    end
    return out
  end
  return v
end

-- Checks -----------------------------------------------------------------

local MAX_DIFFS = 10

-- One message for a key whose values differ, listing where (at most
-- MAX_DIFFS places) with both values.
local function differs(prefix, key, graph_value, task_value)
  local d = diff(graph_value, task_value, key)
  local parts = {}
  for i = 1, math.min(#d, MAX_DIFFS) do
    parts[i] = format("%s: graph %s, task %s", d[i].path, show(d[i].rebuilt), show(d[i].ran))
  end
  if #d > MAX_DIFFS then
    parts[#parts + 1] = format("... and %d more", #d - MAX_DIFFS)
  end
  if #parts == 0 then
    parts[1] = format("graph %s, task %s", show(graph_value), show(task_value))
  end
  return format("%s %s differs! %s", prefix, key, concat(parts, "; "))
end

local function sorted_keys(t)
  local keys = {}
  for k in next, t do
    keys[#keys + 1] = k
  end
  sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- A list of strings, or nil, err.
local function string_list(v, what)
  if not is_array(v) then
    return nil, format("%s is not a list, got %s", what, show(v))
  end
  for i = 1, #v do
    if type(v[i]) ~= "string" then
      return nil, format("%s[%d] is not a string, got %s", what, i - 1, show(v[i]))
    end
  end
  return v
end

-- The task queue a definition names: taskQueueId, or provisionerId/
-- workerType; nil, err when the two forms disagree or are malformed.
local function task_queue(task, side)
  local q, p, w = task.taskQueueId, task.provisionerId, task.workerType
  if q ~= nil and type(q) ~= "string" then
    return nil, format("%s taskQueueId is not a string, got %s", side, show(q))
  end
  local pw
  if p ~= nil or w ~= nil then
    if type(p) ~= "string" or type(w) ~= "string" then
      return nil, format("%s provisionerId and workerType must both be strings, got %s and %s", side, show(p),
        show(w))
    end
    pw = p .. "/" .. w
  end
  if q and pw and q ~= pw then
    return nil, format("%s taskQueueId %s contradicts provisionerId/workerType %s", side, show(q), show(pw))
  end
  return q or pw
end

-- verify_link(parent_link, graph_entries, link) -> true | nil, errors,
-- "mismatch".
-- `link`'s task definition against entry link.task_id of its parent's
-- task-graph.json. `graph_entries` maps taskId -> entry ({task = {...},
-- ...}); only that key is read. Every error of the task is collected.
function M.verify_link(parent_link, graph_entries, link)
  local me = who(link)
  local where = format("%s task-graph.json", who(parent_link))
  local prefix = me .. ":"
  if type(graph_entries) ~= "table" then
    return nil, { format("%s %s is not an object, got %s", prefix, where, show(graph_entries)) }, "mismatch"
  end
  local entry = graph_entries[link.task_id]
  if entry == nil or entry == null then
    return nil, { format("Can't find task %s in %s!", me, where) }, "mismatch"
  end
  if not is_object(entry) then
    return nil, { format("%s the %s entry is not an object, got %s", prefix, where, show(entry)) }, "mismatch"
  end
  local graph = entry.task
  if not is_object(graph) then
    return nil, { format("%s the %s entry's task is not an object, got %s", prefix, where, show(graph)) }, "mismatch"
  end
  local task = link.task
  if not is_object(task) then
    return nil, { format("%s the task definition is not an object, got %s", prefix, show(task)) }, "mismatch"
  end

  local errors = {}
  local function add(fmt, ...)
    errors[#errors + 1] = prefix .. " " .. format(fmt, ...)
  end

  -- 1. Dependencies: those that ran must be in the graph's, or be the
  -- decision task (which the parent adds when it submits the task).
  local run_deps, err1 = string_list(task.dependencies, "task dependencies")
  local graph_deps, err2 = string_list(graph.dependencies, where .. " dependencies")
  if not run_deps then
    add("%s", err1)
  end
  if not graph_deps then
    add("%s", err2)
  end
  if run_deps and graph_deps then
    local decision = link.decision_task_id
    if decision == nil then
      decision = task.taskGroupId
    end
    local allowed = {}
    for _, d in ipairs(graph_deps) do
      allowed[d] = true
    end
    local bad, seen = {}, {}
    for _, d in ipairs(run_deps) do
      if not allowed[d] and d ~= decision and not seen[d] then
        seen[d] = true
        bad[#bad + 1] = d
      end
    end
    if #bad > 0 then
      sort(bad)
      add("dependencies don't line up with %s! not in the graph: %s", where, concat(bad, ", "))
    end
  end

  -- 2. Relative datestamps, relative to the created time of the task that
  -- ran (which Python parses whether or not the graph needs it).
  local created_ok, created_err = parse_created(task.created)
  local resolved, broken = json.object(), {}
  if not created_ok then
    add("task created %s", created_err)
  else
    for key, value in next, graph do
      local errs = {}
      resolved[key] = resolve(value, task.created, key, errs)
      if #errs > 0 then
        broken[key] = true
        for _, e in ipairs(errs) do
          add("%s: %s", where, e)
        end
      end
    end
  end

  -- 3. Every key of the graph but the ignored ones, deeply equal.
  if created_ok then
    for _, key in ipairs(sorted_keys(graph)) do
      if not M.IGNORED_KEYS[key] and not broken[key] then
        local g, t = resolved[key], task[key]
        if t == nil then
          add("%s is in %s but missing from the task definition (graph %s)", key, where, show(g))
        elseif not equal(g, t) then
          errors[#errors + 1] = differs(prefix, key, g, t)
        end
      end
    end
  end

  -- Stricter than Python. The task queue: taskQueueId is ignored above, so
  -- a graph that names its queue only that way would leave the worker pool
  -- unchecked; the Queue never changes the queue it was given.
  local gq, gerr = task_queue(graph, where)
  local tq, terr = task_queue(task, "task")
  if gerr then
    add("%s", gerr)
  elseif gq == nil then
    add("%s names no task queue (taskQueueId or provisionerId/workerType)", where)
  end
  if terr then
    add("%s", terr)
  elseif tq == nil then
    add("the task definition names no task queue (taskQueueId or provisionerId/workerType)")
  end
  if gq and tq and gq ~= tq and graph.provisionerId == nil then
    -- (When the graph has provisionerId/workerType, step 3 reported it.)
    add("task queue differs! graph %s, task %s", show(gq), show(tq))
  end

  -- Stricter than Python, which never looks at keys only the task that ran
  -- has. Such a key must be ignored above, derived by the Queue or the
  -- submitter (taskGroupId, provisionerId/workerType), or hold the Queue's
  -- default; anything else (payload, metadata, a key the Queue does not
  -- know) was not in what the parent submitted.
  for _, key in ipairs(sorted_keys(task)) do
    if graph[key] == nil and not M.IGNORED_KEYS[key] and not DERIVED_KEYS[key] then
      local default = M.QUEUE_DEFAULTS[key]
      if default == nil then
        add("%s is not in %s but the task definition has it: %s", key, where, show(task[key]))
      elseif not equal(default, task[key]) then
        add("%s is not in %s, so it must be the Queue's default %s, got %s", key, where, show(default),
          show(task[key]))
      end
    end
  end

  if #errors > 0 then
    return nil, errors, "mismatch"
  end
  return true
end

-- Parents ----------------------------------------------------------------

local function nonempty_string(v)
  return type(v) == "string" and v ~= ""
end

-- The parent taskId of a link: link.parent_task_id, else extra.parent,
-- else taskGroupId, skipping empty values. Python keeps a null or empty
-- extra.parent as the parent here, so such a task is checked against no
-- task graph at all; its chain was built with taskGroupId, and so is its
-- check here.
local function parent_of(link)
  if nonempty_string(link.parent_task_id) then
    return link.parent_task_id
  end
  local task = link.task
  if is_object(task) then
    local extra = task.extra
    if is_object(extra) and nonempty_string(extra.parent) then
      return extra.parent
    end
    if nonempty_string(task.taskGroupId) then
      return task.taskGroupId
    end
  end
  return nil
end
M.parent_of = parent_of

-- children_to_check(parent_link, all_links) -> list of links: the tasks
-- `parent_link` created, which must be in its task-graph.json (not the
-- parent itself, and not decision or action tasks, which no graph holds).
function M.children_to_check(parent_link, all_links)
  local out = {}
  for _, t in ipairs(all_links) do
    if parent_of(t) == parent_link.task_id and t.task_id ~= parent_link.task_id
        and not PARENT_TYPES[t.task_type] then
      out[#out + 1] = t
    end
  end
  return out
end

-- check_parents(links) -> true | nil, errors, "invalid". `links`: every task of the
-- chain, the root included. Each task's parent (extra.parent or
-- taskGroupId) must be a task of the chain of type decision or action:
-- Python checks a task whose extra.parent names, say, a build task against
-- no task graph at all (VERIFY.md #78). A malformed extra.parent is an
-- error too.
function M.check_parents(links)
  local by_id, errors = {}, {}
  for _, l in ipairs(links) do
    if l.task_id ~= nil then
      by_id[l.task_id] = by_id[l.task_id] or l
    end
  end
  for _, l in ipairs(links) do
    local me = who(l)
    local extra = is_object(l.task) and l.task.extra or nil
    local declared = is_object(extra) and extra.parent or nil
    if declared ~= nil and declared ~= null and type(declared) ~= "string" then
      errors[#errors + 1] = format("%s: extra.parent is not a string, got %s", me, show(declared))
    else
      local p = parent_of(l)
      if p == nil then
        errors[#errors + 1] = format("%s: has no parent task (extra.parent or taskGroupId)", me)
      elseif p ~= l.task_id then
        local parent = by_id[p]
        if parent == nil then
          errors[#errors + 1] = format("%s: its parent task %s is not in the chain", me, p)
        elseif not PARENT_TYPES[parent.task_type] then
          errors[#errors + 1] = format("%s: its parent task %s is a %s task, not a decision or action task",
            me, who(parent), tostring(parent.task_type))
        end
      end
    end
  end
  if #errors > 0 then
    return nil, errors, "invalid"
  end
  return true
end

return M
