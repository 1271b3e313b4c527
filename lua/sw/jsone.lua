-- sw.jsone: json-e (https://json-e.js.org), the template language of
-- Taskcluster's .taskcluster.yml and action tasks, in pure Lua; behaves as
-- the reference implementation, the npm package json-e 4.8.4.
--
--   local jsone = require("sw.jsone")
--   local result, err, kind = jsone.render(template, context[, opts])
--
-- Templates and contexts are JSON values as sw.json represents them. On
-- failure render returns nil, "<Kind>[ at template<path>]: <message>" and
-- the kind ("SyntaxError", "InterpreterError", "TemplateError" or
-- "BuiltinError"). Rendering is bounded (nesting depth, work, string and
-- array sizes); see docs/reference.md (sw.jsone).
local value = require("sw.jsone.value")
local interp = require("sw.jsone.interp")
local builtins = require("sw.jsone.builtins")
local time = require("sw.jsone.time")

local M = {}

local type, setmetatable, getmetatable, next, error, pcall = type, setmetatable,
  getmetatable, next, error, pcall
local find, sub, byte = string.find, string.sub, string.byte
local concat = table.concat
local math_type, tointeger = math.type, math.tointeger
local null, array_mt, object_mt = value.null, value.array_mt, value.object_mt
local raise, truthy, kind = value.raise, value.truthy, value.kind
local is_array, is_object = value.is_array, value.is_object
local charge, js_num, DELETE = value.charge, value.js_num, value.DELETE
local expr, plan = interp.expr, interp.plan

local TE = "TemplateError"

-- opts.max_depth above this counts as this: each level takes Lua stack
-- and a $let or each(...) scope (looked up through a chain of __index
-- tables, which Lua cuts at 2000), and results nested deeper than
-- value.MAX_DATA_DEPTH are refused anyway.
M.MAX_DEPTH = value.MAX_DATA_DEPTH

M.defaults = {
  max_depth = 100, -- nesting of template arrays/objects/operators (at most M.MAX_DEPTH)
  max_work = 2000000, -- work units: renders, calls, elements, visits
  max_string = 4 * 1024 * 1024, -- bytes in one string built by the template
  max_array = 1000000, -- elements in one array built by the template
}

local render

-- Scopes -------------------------------------------------------------------

-- A scope is a table of variables whose metatable's __index is the parent
-- scope (and whose depth is the metatable's `depth`); the root is the
-- table of builtins (depth 0), then the context (depth 1). A lookup walks
-- the chain, so a parent deeper than FLAT_DEPTH is replaced by a copy of
-- the variables its chain adds to the context's (made once per parent and
-- charged), which keeps every lookup within FLAT_DEPTH + 2 tables however
-- deep the template nests $let and each(...).
local FLAT_DEPTH = 32
local scope_mts = setmetatable({}, { __mode = "k" })

local function flatten(scope, S)
  local chain, n = {}, 0
  local mt = getmetatable(scope)
  while mt.depth > 1 do
    n = n + 1
    chain[n] = scope
    scope = mt.__index
    mt = getmetatable(scope)
  end
  local flat, copied = {}, 0
  for i = n, 1, -1 do
    for k, v in next, chain[i] do
      flat[k] = v
      copied = copied + 1
    end
  end
  charge(S, copied)
  return setmetatable(flat, { __index = scope, depth = 2 })
end

local function child_scope(parent, vars, S)
  local mt = scope_mts[parent]
  if not mt then
    local up, pmt = parent, getmetatable(parent)
    local depth = pmt and pmt.depth or 0
    if depth > FLAT_DEPTH then
      up = flatten(parent, S)
      depth = 2
    end
    mt = { __index = up, depth = depth + 1 }
    scope_mts[parent] = mt
  end
  return setmetatable(vars, mt)
end

local function is_identifier(k)
  return type(k) == "string" and find(k, "^[a-zA-Z_][a-zA-Z0-9_]*$") ~= nil
end

-- Path of the template position, for error messages -------------------------

local function location(S)
  local parts = {}
  for i = 1, S.pn do
    local seg = S.path[i]
    if type(seg) == "number" then
      parts[i] = "[" .. seg .. "]"
    elseif find(seg, "^[a-zA-Z][a-zA-Z0-9]*$") then
      parts[i] = "." .. seg
    else
      parts[i] = "[" .. value.quote(seg) .. "]"
    end
  end
  return concat(parts)
end

-- Keys of a template object in iteration order, cached for the render.
local function keys_of(S, t)
  local keys = S.keys[t]
  if not keys then
    keys = value.object_keys(t)
    S.keys[t] = keys
  end
  return keys, #keys
end

-- String interpolation -----------------------------------------------------

-- The text a "${...}" part contributes (null gives "").
local function piece(part, ctx, S)
  local v = part.f(ctx, S)
  local t = type(v)
  if t == "string" then
    return v
  elseif t == "function" then
    raise(TE, "interpolation of '" .. part.raw .. "' produced a function")
  elseif t == "table" then
    raise(TE, "interpolation of '" .. part.raw .. "' produced an array or object")
  end
  return value.join_str(v, S, 0)
end

local function interpolate(s, ctx, S)
  local p = plan(s, S)
  local n = p.n
  if n == 1 then
    local part = p[1]
    if type(part) == "string" then
      return part
    elseif part.f then
      return piece(part, ctx, S)
    end
  end
  local parts = {}
  for i = 1, n do
    local part = p[i]
    if type(part) == "string" then
      parts[i] = part
    elseif part.err then
      error(part.err, 0)
    else
      parts[i] = piece(part, ctx, S)
    end
  end
  local out = concat(parts, "", 1, n)
  if #out > S.max_string then
    raise(TE, "string longer than the string limit (" .. S.max_string .. " bytes)")
  end
  value.charge_bytes(S, #out)
  return out
end

-- Operators ----------------------------------------------------------------

-- json-e checks an operator's other keys against the alternatives of an
-- unanchored regex such as /\$if|then|else$/: each alternative but the last
-- may appear anywhere in the key, the last must end it.
local ID = "[a-zA-Z_][a-zA-Z0-9_]*"

-- Whitespace as JavaScript's \s, at i; returns the index after it.
local skip_ws = value.skip_ws

-- Matches "each(a)", "each(a, b)" (nids = 1) or "each(a, b)", "each(a, b, c)"
-- (nids = 2) at s[i..]; returns the identifiers when it runs exactly to
-- the end.
local function match_call(s, i, word, nmin, nmax)
  if sub(s, i, i + #word) ~= word .. "(" then
    return nil
  end
  local ids = {}
  local j = i + #word + 1
  while true do
    local a, e = find(s, "^" .. ID, j)
    if not a then
      return nil
    end
    ids[#ids + 1] = sub(s, a, e)
    j = e + 1
    if byte(s, j) == 44 and #ids < nmax then
      j = skip_ws(s, j + 1)
    elseif byte(s, j) == 41 and j == #s and #ids >= nmin then
      return ids
    else
      return nil
    end
  end
end

local function ends_with_call(s, word, nmin, nmax)
  local i = 1
  while true do
    local p = find(s, word .. "(", i, true)
    if not p then
      return false
    end
    if match_call(s, p, word, nmin, nmax) then
      return true
    end
    i = p + 1
  end
end

-- Per operator: {"contains", x}, {"ends", x} or {"call", word, min, max}
-- (a key ending with word(id, ...) taking min..max identifiers).
local ALLOWED = {
  ["$eval"] = { { "ends", "$eval" } },
  ["$flatten"] = { { "ends", "$flatten" } },
  ["$flattenDeep"] = { { "ends", "$flattenDeep" } },
  ["$fromNow"] = { { "contains", "$fromNow" }, { "ends", "from" } },
  ["$if"] = { { "contains", "$if" }, { "contains", "then" }, { "ends", "else" } },
  ["$json"] = { { "ends", "$json" } },
  ["$let"] = { { "contains", "$let" }, { "ends", "in" } },
  ["$map"] = { { "contains", "$map" }, { "call", "each", 1, 2 } },
  ["$reduce"] = { { "contains", "$reduce" }, { "contains", "initial" }, { "call", "each", 2, 3 } },
  ["$find"] = { { "contains", "$find" }, { "call", "each", 1, 2 } },
  ["$match"] = { { "ends", "$match" } },
  ["$switch"] = { { "ends", "$switch" } },
  ["$merge"] = { { "ends", "$merge" } },
  ["$mergeDeep"] = { { "ends", "$mergeDeep" } },
  ["$reverse"] = { { "ends", "$reverse" } },
  ["$sort"] = { { "contains", "$sort" }, { "call", "by", 1, 1 } },
}

-- Answers are memoised per operator (bounded, like the expression cache).
local allowed_memo, allowed_n = {}, 0

local function allowed_uncached(op, k)
  for _, rule in ipairs(ALLOWED[op]) do
    local how, x = rule[1], rule[2]
    if how == "contains" then
      if find(k, x, 1, true) then
        return true
      end
    elseif how == "ends" then
      if #k >= #x and sub(k, -#x) == x then
        return true
      end
    elseif ends_with_call(k, x, rule[3], rule[4]) then
      return true
    end
  end
  return false
end

local function allowed(op, k)
  local memo = allowed_memo[op]
  local v = memo and memo[k]
  if v == nil then
    v = allowed_uncached(op, k)
    allowed_n = allowed_n + 1
    if allowed_n > 4096 then
      allowed_memo, allowed_n = {}, 1
    end
    memo = allowed_memo[op] or {}
    allowed_memo[op] = memo
    memo[k] = v
  end
  return v
end

-- (Operator objects are looked at in `next` order; only results that
-- depend on the order sort the keys.)
local function check_keys(t, op)
  local memo = allowed_memo[op]
  for k in next, t do
    if not (memo and memo[k]) and type(k) == "string" and not allowed(op, k) then
      local bad = {}
      local keys, n = value.sorted_keys(t)
      for j = 1, n do
        if not allowed(op, keys[j]) then
          bad[#bad + 1] = keys[j]
        end
      end
      raise(TE, op .. " has undefined properties: " .. concat(bad, " "))
    end
  end
end

local function count_keys(t)
  local n = 0
  for k in next, t do
    if type(k) == "string" then
      n = n + 1
    end
  end
  return n
end

-- The first key other than the given ones, in object order.
local function other_key(S, t, a, b)
  local found
  for k in next, t do
    if k ~= a and k ~= b and type(k) == "string" then
      if found then
        -- more than one: the first in object order
        local keys, n = keys_of(S, t)
        for i = 1, n do
          if keys[i] ~= a and keys[i] ~= b then
            return keys[i]
          end
        end
      end
      found = k
    end
  end
  return found
end

local function new_object()
  return setmetatable({}, object_mt)
end

-- Object.assign-like merge into a new object.
local function merge_objects(list, n, S)
  local out = {}
  for i = 1, n do
    local o = list[i]
    for k, v in next, o do
      out[k] = v
    end
    charge(S, 1)
  end
  return setmetatable(out, object_mt)
end

local function check_array_size(S, n, what)
  if n > S.max_array then
    raise(TE, what .. " result longer than the array limit (" .. S.max_array .. ")")
  end
end

local ops = {}

-- Checks an operator's keys and returns its rendered operand, which must
-- pass `test` (else TemplateError `msg`).
local function operand(S, t, ctx, op, test, msg)
  check_keys(t, op)
  local v = render(t[op], ctx, S)
  if not test(v) then
    raise(TE, msg)
  end
  return v
end

local function array_or_object(v)
  return is_array(v) or is_object(v)
end

local function array_of_objects(v)
  if not is_array(v) then
    return false
  end
  for i = 1, #v do
    if not is_object(v[i]) then
      return false
    end
  end
  return true
end

ops["$eval"] = function(t, ctx, S)
  check_keys(t, "$eval")
  local src = t["$eval"]
  if type(src) ~= "string" then
    raise(TE, "$eval must be given a string expression")
  end
  local v = expr(src, S)(ctx, S)
  if math_type(v) == "float" then
    return tointeger(v) or v
  end
  return v
end

ops["$flatten"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$flatten", is_array, "$flatten value must evaluate to an array")
  local out, n = {}, 0
  for i = 1, #v do
    local x = v[i]
    if is_array(x) then
      for j = 1, #x do
        n = n + 1
        out[n] = x[j]
      end
    else
      n = n + 1
      out[n] = x
    end
  end
  check_array_size(S, n, "$flatten")
  charge(S, n)
  return setmetatable(out, array_mt)
end

local function flatten_deep(x, out, n, S, depth)
  if depth > value.MAX_DATA_DEPTH then
    raise(TE, "value nested too deep (limit " .. value.MAX_DATA_DEPTH .. ")")
  end
  charge(S, 1)
  for i = 1, #x do
    local y = x[i]
    if is_array(y) then
      n = flatten_deep(y, out, n, S, depth + 1)
    else
      n = n + 1
      out[n] = y
    end
  end
  return n
end

ops["$flattenDeep"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$flattenDeep", is_array,
    "$flattenDeep value must evaluate to an array")
  local out = {}
  local n = flatten_deep(v, out, 0, S, 0)
  check_array_size(S, n, "$flattenDeep")
  return setmetatable(out, array_mt)
end

ops["$fromNow"] = function(t, ctx, S)
  check_keys(t, "$fromNow")
  local v = render(t["$fromNow"], ctx, S)
  local ref = ctx.now
  local from = t.from
  -- JavaScript truthiness here: any array or object counts
  if from ~= nil and from ~= null and from ~= false and from ~= "" and from ~= 0
    and from == from then
    ref = render(from, ctx, S)
  end
  if type(v) ~= "string" then
    raise(TE, "$fromNow expects a string")
  end
  return time.from_now(v, ref, TE)
end

ops["$if"] = function(t, ctx, S)
  check_keys(t, "$if")
  local cond = t["$if"]
  if type(cond) ~= "string" then
    raise(TE, "$if can evaluate string expressions only")
  end
  if truthy(expr(cond, S)(ctx, S)) then
    if t["$then"] ~= nil then
      raise(TE, "$if Syntax error: $then: should be spelled then: (no $)")
    end
    local th = t["then"]
    if th == nil then
      return DELETE
    end
    return render(th, ctx, S)
  end
  local el = t["else"]
  if el == nil then
    return DELETE
  end
  return render(el, ctx, S)
end

ops["$json"] = function(t, ctx, S)
  check_keys(t, "$json")
  local v = render(t["$json"], ctx, S)
  if value.has_function(v, S, 0) then
    raise(TE, "evaluated template contained uncalled functions")
  end
  local s = value.stringify(v, S)
  if #s > S.max_string then
    raise(TE, "string longer than the string limit (" .. S.max_string .. " bytes)")
  end
  return s
end

ops["$let"] = function(t, ctx, S)
  check_keys(t, "$let")
  local bindings = t["$let"]
  if not is_object(bindings) then
    raise(TE, "$let value must be an object")
  end
  local v = render(bindings, ctx, S)
  if not is_object(v) then
    raise(TE, "$let value must be an object")
  end
  local vars = {}
  local keys, n = value.object_keys(v)
  for i = 1, n do
    local k = keys[i]
    if not is_identifier(k) then
      raise(TE, "top level keys of $let must follow /[a-zA-Z_][a-zA-Z0-9_]*/")
    end
    vars[k] = v[k]
  end
  local body = t["in"]
  if body == nil or body == null then
    raise(TE, "$let operator requires an `in` clause")
  end
  return render(body, child_scope(ctx, vars, S), S)
end

-- The start of $map, $reduce and $find: checks the keys, renders the
-- value and checks its type, the number of keys and the each(...) key.
-- Returns the value, the each template and the identifiers.
local MAP = { what = "an array or object", objects = true, nkeys = 2, nmin = 1, nmax = 2 }
local REDUCE = { what = "an array", nkeys = 3, skip = "initial", nmin = 2, nmax = 3 }
local FIND = { what = "an array", nkeys = 2, nmin = 1, nmax = 2 }
local COUNT = { [2] = "two", [3] = "three" }

local function each_operator(S, t, ctx, op, spec)
  local v = operand(S, t, ctx, op, spec.objects and array_or_object or is_array,
    op .. " value must evaluate to " .. spec.what)
  if count_keys(t) ~= spec.nkeys then
    raise(TE, op .. " must have exactly " .. COUNT[spec.nkeys] .. " properties")
  end
  local key = other_key(S, t, op, spec.skip)
  local ids = key and match_call(key, 1, "each", spec.nmin, spec.nmax)
  if not ids then
    raise(TE, op .. " requires each(identifier) syntax")
  end
  return v, t[key], ids
end

ops["$map"] = function(t, ctx, S)
  local v, each, ids = each_operator(S, t, ctx, "$map", MAP)
  local obj = is_object(v)
  local x, i = ids[1], ids[2]
  if obj then
    local keys, n = value.object_keys(v)
    local results, m = {}, 0
    for j = 1, n do
      local k = keys[j]
      local vars
      if i then
        vars = { [x] = v[k] }
        vars[i] = k
      else
        vars = { [x] = setmetatable({ key = k, val = v[k] }, object_mt) }
      end
      local r = render(each, child_scope(ctx, vars, S), S)
      if not is_object(r) then
        raise(TE, "$map on objects expects each(" .. x .. ") to evaluate to an object")
      end
      if r ~= DELETE then
        m = m + 1
        results[m] = r
      end
    end
    return merge_objects(results, m, S)
  end
  local out, m = {}, 0
  for j = 1, #v do
    local vars = { [x] = v[j] }
    if i then
      vars[i] = j - 1
    end
    local r = render(each, child_scope(ctx, vars, S), S)
    if r ~= DELETE then
      m = m + 1
      out[m] = r
    end
  end
  return setmetatable(out, array_mt)
end

ops["$reduce"] = function(t, ctx, S)
  local v, each, ids = each_operator(S, t, ctx, "$reduce", REDUCE)
  local a, x, i = ids[1], ids[2], ids[3]
  local acc = t.initial
  if acc == nil then
    acc = null
  end
  for j = 1, #v do
    local vars = { [a] = acc }
    vars[x] = v[j]
    if i then
      vars[i] = j - 1
    end
    local r = render(each, child_scope(ctx, vars, S), S)
    if r ~= DELETE then
      acc = r
    end
  end
  return acc
end

ops["$find"] = function(t, ctx, S)
  local v, each, ids = each_operator(S, t, ctx, "$find", FIND)
  if type(each) ~= "string" then
    raise(TE, "each can evaluate string expressions only")
  end
  local x, i = ids[1], ids[2]
  local f = expr(each, S)
  for j = 1, #v do
    local vars = { [x] = v[j] }
    if i then
      vars[i] = j - 1
    end
    local scope = child_scope(ctx, vars, S)
    charge(S, 1)
    -- json-e's callback also interpolates the expression text and needs
    -- that to be non-empty
    if truthy(f(scope, S)) and truthy(interpolate(each, scope, S)) then
      return v[j]
    end
  end
  return DELETE
end

-- Renders the values of the conditions (keys) of a $match / $switch that
-- are truthy, in sorted order (skipping `skip`).
local function truthy_conditions(op, t, ctx, S, skip)
  check_keys(t, op)
  local conds = t[op]
  if not is_object(conds) then
    raise(TE, op .. " can evaluate objects only")
  end
  local out, m = {}, 0
  local keys, n = value.sorted_keys(conds)
  for j = 1, n do
    local c = keys[j]
    if c ~= skip and truthy(expr(c, S)(ctx, S)) then
      m = m + 1
      out[m] = render(conds[c], ctx, S)
    end
  end
  return out, m, conds
end

ops["$match"] = function(t, ctx, S)
  local out = truthy_conditions("$match", t, ctx, S)
  return setmetatable(out, array_mt)
end

ops["$switch"] = function(t, ctx, S)
  local out, m, conds = truthy_conditions("$switch", t, ctx, S, "$default")
  if m > 1 then
    raise(TE, "$switch can only have one truthy condition")
  end
  if m == 0 then
    local d = conds["$default"]
    if d ~= nil then
      return render(d, ctx, S)
    end
    return DELETE
  end
  return out[1]
end

ops["$merge"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$merge", array_of_objects,
    "$merge value must evaluate to an array of objects")
  return merge_objects(v, #v, S)
end

local function merge_deep(l, r, S, depth)
  if depth > value.MAX_DATA_DEPTH then
    raise(TE, "value nested too deep (limit " .. value.MAX_DATA_DEPTH .. ")")
  end
  charge(S, 1)
  if is_array(l) and is_array(r) then
    local out, n = {}, #l
    for i = 1, n do
      out[i] = l[i]
    end
    for i = 1, #r do
      out[n + i] = r[i]
    end
    check_array_size(S, n + #r, "$mergeDeep")
    charge(S, n + #r)
    return setmetatable(out, array_mt)
  end
  if is_object(l) and is_object(r) then
    local out = {}
    for k, x in next, l do
      out[k] = x
    end
    for k, x in next, r do
      local y = l[k]
      if y ~= nil then
        out[k] = merge_deep(y, x, S, depth + 1)
      else
        out[k] = x
      end
    end
    return setmetatable(out, object_mt)
  end
  return r
end

ops["$mergeDeep"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$mergeDeep", array_of_objects,
    "$mergeDeep value must evaluate to an array of objects")
  local n = #v
  if n == 0 then
    return new_object()
  end
  local acc = v[1]
  for i = 2, n do
    acc = merge_deep(acc, v[i], S, 0)
  end
  return acc
end

ops["$reverse"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$reverse", is_array,
    "$reverse value must evaluate to an array of objects")
  local n = #v
  local out = {}
  for i = 1, n do
    out[i] = v[n + 1 - i]
  end
  charge(S, n)
  return setmetatable(out, array_mt)
end

local SORT_TYPE = "$sorted values to be sorted must have the same type"

ops["$sort"] = function(t, ctx, S)
  local v = operand(S, t, ctx, "$sort", is_array, SORT_TYPE)
  local n = #v
  if n == 0 then
    -- json-e evaluates by(x) for each element only
    return setmetatable({}, array_mt)
  end
  local key = other_key(S, t, "$sort")
  local ids = key and match_call(key, 1, "by", 1, 1)
  local tags = {}
  if ids then
    local src = t[key]
    if is_array(src) then
      interp.raise_array_expr(src, S)
    elseif type(src) ~= "string" then
      raise(TE, "$sort by(" .. ids[1] .. ") must be given a string expression")
    end
    local f = expr(src, S)
    local vars = {}
    local scope = child_scope(ctx, vars, S)
    local x = ids[1]
    for i = 1, n do
      vars[x] = v[i]
      charge(S, 1)
      tags[i] = f(scope, S)
    end
  else
    for i = 1, n do
      local e = v[i]
      if type(e) == "table" and (is_array(e) or is_object(e)) then
        raise(TE, SORT_TYPE)
      end
      tags[i] = e
    end
  end
  local ty = type(tags[1])
  if ty ~= "number" and ty ~= "string" then
    raise(TE, SORT_TYPE)
  end
  local bytes = 0
  for i = 2, n do
    if type(tags[i]) ~= ty then
      raise(TE, SORT_TYPE)
    end
    if ty == "string" then
      bytes = bytes + #tags[i]
    end
  end
  -- n log n comparisons
  charge(S, n)
  value.charge_bytes(S, bytes * math.max(1, math.ceil(math.log(n, 2))))
  local order = {}
  for i = 1, n do
    order[i] = i
  end
  local lt
  if ty == "number" then
    -- NaN sorts last (json-e's comparator leaves it unspecified)
    lt = function(a, b)
      local x, y = tags[a] + 0.0, tags[b] + 0.0
      if x ~= y then
        if x ~= x then
          return false
        elseif y ~= y then
          return true
        end
        return x < y
      end
      return a < b
    end
  else
    local str_lt = value.str_lt
    lt = function(a, b)
      local x, y = tags[a], tags[b]
      if x ~= y then
        return str_lt(x, y)
      end
      return a < b
    end
  end
  table.sort(order, lt)
  local out = {}
  for i = 1, n do
    out[i] = v[order[i]]
  end
  return setmetatable(out, array_mt)
end

-- render ---------------------------------------------------------------------

local function render_object(t, ctx, S)
  local op
  for k in next, t do
    if ops[k] then
      if op then
        raise(TE, "only one operator allowed")
      end
      op = k
    end
  end
  if op then
    return ops[op](t, ctx, S)
  end
  local keys, n = keys_of(S, t)
  local out = {}
  local path, pn = S.path, S.pn + 1
  for i = 1, n do
    local k = keys[i]
    path[pn] = k
    S.pn = pn
    local v = render(t[k], ctx, S)
    S.pn = pn - 1
    if v ~= DELETE then
      if byte(k) == 36 then
        if byte(k, 2) == 36 then
          k = sub(k, 2)
        elseif find(k, "^%$[a-zA-Z][a-zA-Z0-9]*$") then
          raise(TE, "$<identifier> is reserved; use $$<identifier>")
        else
          k = interpolate(k, ctx, S)
        end
      elseif find(k, "${", 1, true) then
        k = interpolate(k, ctx, S)
      end
      out[k] = v
    end
  end
  charge(S, n)
  return setmetatable(out, object_mt)
end

function render(t, ctx, S)
  local ty = type(t)
  if ty == "string" then
    if find(t, "${", 1, true) then
      return interpolate(t, ctx, S)
    end
    return t
  elseif ty ~= "table" then
    if math_type(t) == "float" then
      return tointeger(t) or t
    end
    return t
  end
  local depth = S.depth + 1
  if depth > S.max_depth then
    raise(TE, "template nested too deep (limit " .. S.max_depth .. ")")
  end
  S.depth = depth
  local w = S.work - 1
  S.work = w
  if w < 0 then
    charge(S, 0)
  end
  local mt = getmetatable(t)
  local out
  if mt == object_mt or (mt ~= array_mt and not is_array(t)) then
    out = render_object(t, ctx, S)
  else
    local n = #t
    out = {}
    local m = 0
    local pn = S.pn + 1
    local path = S.path
    S.pn = pn
    for i = 1, n do
      path[pn] = i - 1
      local v = render(t[i], ctx, S)
      if v ~= DELETE then
        m = m + 1
        out[m] = v
      end
    end
    S.pn = pn - 1
    charge(S, n)
    setmetatable(out, array_mt)
  end
  S.depth = depth - 1
  return out
end

-- Public API -----------------------------------------------------------------

local function opt(opts, name)
  local v = opts and opts[name]
  if v == nil then
    return M.defaults[name]
  end
  if math_type(v) ~= "integer" or v < 0 then
    error("jsone.render: opts." .. name .. " must be a non-negative integer", 3)
  end
  return v
end

-- render(template, context[, opts]) -> result | nil, message, kind
function M.render(template, context, opts)
  if context == nil then
    context = {}
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("jsone.render: opts must be a table", 2)
  end
  local S = {
    depth = 0,
    pn = 0,
    path = {},
    keys = {},
    text = {},
    exprs = {},
    plans = {},
    memo_bytes = 0,
    max_depth = math.min(opt(opts, "max_depth"), M.MAX_DEPTH),
    max_work = opt(opts, "max_work"),
    max_string = opt(opts, "max_string"),
    max_array = opt(opts, "max_array"),
  }
  S.work = S.max_work
  value.reset_cache()
  local ok, res = pcall(function()
    if not is_object(context) then
      raise(TE, "context must be an object")
    end
    local vars = {}
    for k, v in next, context do
      if not is_identifier(k) then
        raise(TE, "top level keys of context must follow /[a-zA-Z_][a-zA-Z0-9_]*/")
      end
      vars[k] = v
    end
    if vars.now == nil then
      vars.now = time.now_iso()
    end
    local scope = child_scope(builtins.scope, vars, S)
    local r = render(template, scope, S)
    if r == DELETE then
      return null
    end
    S.pn = 0
    if value.has_function(r, S, 0, true) then
      raise(TE, "evaluated template contained uncalled functions")
    end
    return r
  end)
  if ok then
    return res
  end
  if getmetatable(res) ~= value.ERR_MT then
    error(res, 0)
  end
  local msg
  if S.pn > 0 then
    msg = res.kind .. " at template" .. location(S) .. ": " .. res.msg
  else
    msg = res.kind .. ": " .. res.msg
  end
  return nil, msg, res.kind
end

-- Exposed for tests and tools.
M.js_number_string = js_num
M.kind = kind
M.truthy = truthy

return M
