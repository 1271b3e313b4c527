-- sw.jsone.interp: evaluates json-e expressions. Each parsed expression is
-- compiled once into a tree of Lua closures f(ctx, S) (ctx: the scope
-- table, looked up through __index chains; S: the render state), kept for
-- the render and in bounded caches keyed by its source text, shared by
-- all renders. Parsing and evaluating are charged to the render's work.
local value = require("sw.jsone.value")
local parser = require("sw.jsone.parser")
local builtins = require("sw.jsone.builtins")

local M = {}

local type, setmetatable, getmetatable, error, pcall = type, setmetatable, getmetatable,
  error, pcall
local find, sub, byte = string.find, string.sub, string.byte
local concat, unpack = table.concat, table.unpack
local math_type, tointeger = math.type, math.tointeger
local null, array_mt, object_mt = value.null, value.array_mt, value.object_mt
local raise, norm, truthy, equal = value.raise, value.norm, value.truthy, value.equal
local is_array, is_object, is_integer = value.is_array, value.is_object, value.is_integer
local str_lt, charge, charge_bytes = value.str_lt, value.charge, value.charge_bytes
local is_builtin = builtins.is_builtin

local IE = "InterpreterError"

local compile

-- Nodes compiled since the counter was last reset (by parse_compile).
local nodes = 0

local function expectation(op, what)
  raise(IE, op .. " expects " .. what)
end

local function compile_unary(n)
  local e = compile(n.e)
  local op = n.op
  if op == "!" then
    return function(ctx, S)
      return not truthy(e(ctx, S))
    end
  elseif op == "-" then
    return function(ctx, S)
      local v = e(ctx, S)
      if type(v) ~= "number" then
        expectation("unary -", "number")
      end
      return norm(-(v + 0.0))
    end
  end
  return function(ctx, S)
    local v = e(ctx, S)
    if type(v) ~= "number" then
      expectation("unary +", "number")
    end
    return v
  end
end

local function arith(op)
  local msg = "number " .. op .. " number"
  local opname = "infix: " .. op
  return msg, opname
end

-- Comparisons: numbers as doubles, strings in UTF-16 code unit order.
local NUM_CMP = {
  ["<"] = function(a, b)
    return a < b
  end,
  [">"] = function(a, b)
    return a > b
  end,
  ["<="] = function(a, b)
    return a <= b
  end,
  [">="] = function(a, b)
    return a >= b
  end,
}
local STR_CMP = {
  ["<"] = str_lt,
  [">"] = function(a, b)
    return str_lt(b, a)
  end,
  ["<="] = function(a, b)
    return not str_lt(b, a)
  end,
  [">="] = function(a, b)
    return not str_lt(a, b)
  end,
}

local function compile_binary(n)
  local op = n.op
  local l, r = compile(n.l), compile(n.r)
  if op == "||" then
    return function(ctx, S)
      if truthy(l(ctx, S)) then
        return true
      end
      return truthy(r(ctx, S))
    end
  elseif op == "&&" then
    return function(ctx, S)
      if not truthy(l(ctx, S)) then
        return false
      end
      return truthy(r(ctx, S))
    end
  elseif op == "+" then
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      local ta, tb = type(a), type(b)
      if ta == "number" and tb == "number" then
        return norm(a + 0.0 + b)
      elseif ta == "string" and tb == "string" then
        local size = #a + #b
        if size > S.max_string then
          raise("TemplateError", "string longer than the string limit ("
            .. S.max_string .. " bytes)")
        end
        if size > 256 then
          charge(S, size // 256)
        end
        return a .. b
      end
      expectation("infix: +", "numbers/strings + numbers/strings")
    end
  elseif op == "-" or op == "*" or op == "/" or op == "**" then
    local msg, opname = arith(op)
    local f
    if op == "-" then
      f = function(a, b)
        return a - b
      end
    elseif op == "*" then
      f = function(a, b)
        return a * b
      end
    elseif op == "/" then
      f = function(a, b)
        if b == 0 then
          raise(IE, "division by zero")
        end
        return a / b
      end
    else
      -- for ** the tree holds the exponent on the left (evaluated first)
      f = function(e, base)
        if e ~= e or ((base == 1 or base == -1) and (e == math.huge or e == -math.huge)) then
          return 0 / 0
        end
        return base ^ e
      end
    end
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      if type(a) ~= "number" or type(b) ~= "number" then
        expectation(opname, msg)
      end
      return norm(f(a + 0.0, b + 0.0))
    end
  elseif NUM_CMP[op] then
    local opname = "infix: " .. op
    local msg = "numbers/strings " .. op .. " numbers/strings"
    local num, str = NUM_CMP[op], STR_CMP[op]
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      local ta, tb = type(a), type(b)
      if ta == "number" and tb == "number" then
        return num(a + 0.0, b + 0.0)
      elseif ta == "string" and tb == "string" then
        charge_bytes(S, #a)
        return str(a, b)
      end
      expectation(opname, msg)
    end
  elseif op == "==" then
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      return equal(a, b, S, 0)
    end
  elseif op == "!=" then
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      return not equal(a, b, S, 0)
    end
  elseif op == "in" then
    return function(ctx, S)
      local a, b = l(ctx, S), r(ctx, S)
      if is_object(b) then
        if type(a) ~= "string" then
          expectation("Infix: in-object", "string on left side")
        end
        return b[a] ~= nil
      elseif type(b) == "string" then
        if type(a) ~= "string" then
          expectation("Infix: in-string", "string on left side")
        end
        return value.searcher(S, b, a)(1) ~= nil
      elseif not is_array(b) then
        expectation("Infix: in", "Array, string, or object on right side")
      end
      for i = 1, #b do
        if equal(a, b[i], S, 0) then
          return true
        end
      end
      return false
    end
  end
  error("unknown operator " .. op)
end

-- x[a], x[a:b] on arrays and strings (code points), x[key] on objects.
local function clamp_index(i, len)
  -- i: an integral number >= 0
  if i > len then
    return len
  end
  return tointeger(i) or len
end

local function index_or_slice(v, interval, a, b, S)
  local s
  local len
  local chars
  if type(v) == "string" then
    s = v
    len, chars = value.text(S, v, true)
  elseif is_array(v) then
    len = #v
  else
    if not is_object(v) then
      expectation('infix: "[..]"', "object, array, or string")
    end
    if type(a) ~= "string" then
      raise(IE, "object keys must be strings")
    end
    local x = v[a]
    if x == nil then
      return null
    end
    return x
  end
  if type(a) == "number" and a < 0 then
    a = len + a
    if a < 0 then
      a = 0
    end
  end
  if interval then
    if b == null then
      b = len
    end
    if type(b) == "number" and b < 0 then
      b = len + b
      if b < 0 then
        b = 0
      end
    end
    if type(b) == "number" then
      if type(a) == "number" then
        if a > b then
          a = b
        end
      elseif is_integer(b) and value.to_number(S, a) > b then
        -- json-e compares with JavaScript's coercion ("5" > 1, true > 0)
        -- before checking for integers, so such a start becomes the end
        a = b
      end
    end
    if not is_integer(a) or not is_integer(b) then
      raise(IE, "cannot perform interval access with non-integers")
    end
    local i, j = clamp_index(a, len), clamp_index(b, len)
    if s then
      if chars then
        return concat(chars, "", i + 1, j)
      end
      return sub(s, i + 1, j)
    end
    local out, n = {}, 0
    for k = i + 1, j do
      n = n + 1
      out[n] = v[k]
    end
    charge(S, n)
    return setmetatable(out, array_mt)
  end
  if not is_integer(a) then
    raise(IE, "should only use integers to access arrays or strings")
  end
  if a >= len then
    raise(IE, "index out of bounds")
  end
  local i = tointeger(a) + 1
  if s then
    if chars then
      return chars[i]
    end
    return sub(s, i, i)
  end
  return v[i]
end

local EXPECTED = "!, (, +, -, [, false, identifier, null, number, string, true, {"

function compile(n)
  nodes = nodes + 1
  local t = n.t
  if t == "lit" then
    local v = n.v
    return function()
      return v
    end
  elseif t == "id" then
    local name = n.name
    local msg = "unknown context value " .. name
    return function(ctx)
      local v = ctx[name]
      if v == nil then
        raise(IE, msg)
      end
      return v
    end
  elseif t == "un" then
    return compile_unary(n)
  elseif t == "bin" then
    return compile_binary(n)
  elseif t == "dot" then
    local l, name = compile(n.l), n.name
    local msg = 'object has no property "' .. name .. '"'
    return function(ctx, S)
      local v = l(ctx, S)
      if not is_object(v) then
        expectation("infix: .", "objects")
      end
      local x = v[name]
      if x == nil then
        raise(IE, msg)
      end
      return x
    end
  elseif t == "idx" then
    local e = compile(n.e)
    local a = n.a and compile(n.a)
    local b = n.b and compile(n.b)
    local interval = n.interval
    return function(ctx, S)
      local v = e(ctx, S)
      local av, bv = 0, null
      if a then
        av = a(ctx, S)
      end
      if b then
        bv = b(ctx, S)
      end
      return index_or_slice(v, interval, av, bv, S)
    end
  elseif t == "call" then
    local f = compile(n.f)
    local args, nargs = {}, n.n
    for i = 1, nargs do
      args[i] = compile(n.args[i])
    end
    return function(ctx, S)
      local fn = f(ctx, S)
      if type(fn) ~= "function" then
        raise(IE, value.template_str(fn, S) .. " is not callable")
      end
      local vals = {}
      for i = 1, nargs do
        vals[i] = args[i](ctx, S)
      end
      charge(S, 1)
      if is_builtin[fn] then
        return fn(S, ctx, vals, nargs)
      end
      local r = fn(unpack(vals, 1, nargs))
      if r == nil then
        return null
      elseif math_type(r) == "float" then
        return norm(r)
      end
      return r
    end
  elseif t == "list" then
    local items, count = {}, n.n
    for i = 1, count do
      items[i] = compile(n.items[i])
    end
    return function(ctx, S)
      local out = {}
      for i = 1, count do
        out[i] = items[i](ctx, S)
      end
      return setmetatable(out, array_mt)
    end
  elseif t == "obj" then
    local keys, vals, count = n.keys, {}, n.n
    for i = 1, count do
      vals[i] = compile(n.vals[i])
    end
    return function(ctx, S)
      local out = {}
      for i = 1, count do
        out[keys[i]] = vals[i](ctx, S)
      end
      return setmetatable(out, object_mt)
    end
  elseif t == "missing" then
    -- json-e crashes (TypeError) when it evaluates such a node
    local msg = "Found: " .. n.tok .. " token, expected one of: " .. EXPECTED
    return function()
      raise("SyntaxError", msg)
    end
  end
  error("unknown node " .. tostring(t))
end

-- Caches and work -----------------------------------------------------------

-- Parsing and compiling are charged as the parser reads each token
-- (parser.PARSE_WORK units a token). A render keeps what it compiled (up
-- to MEMO_BYTES of sources), so that a source is parsed and charged once
-- per render however often it is evaluated; a source found in the shared
-- caches is charged as if parsed, so that the outcome of a render does not
-- depend on what earlier renders left there. Evaluating an expression
-- costs a unit per node of its tree beyond the fourth (small ones are paid
-- for by the template node holding them). The shared caches keep up to
-- MAX_CACHED compiled sources of up to MAX_CACHED_LEN bytes each and
-- CACHED_BYTES in all (a compiled tree takes up to ~400 bytes per byte of
-- source).
local PARSE_WORK = parser.PARSE_WORK
local FREE_NODES = 4
local MEMO_BYTES = 256 * 1024
local MAX_CACHED = 4096
local MAX_CACHED_LEN = 4096
local CACHED_BYTES = 256 * 1024
local exprs, nexprs, exprs_bytes = {}, 0, 0
local plans, nplans, plans_bytes = {}, 0, 0

local function raiser(err)
  return function()
    error(err, 0)
  end
end

local function weighed(f, n)
  local w = n - FREE_NODES
  if w <= 0 then
    return f
  end
  return function(ctx, S)
    charge(S, w)
    return f(ctx, S)
  end
end

-- Parses with fn(..., S) and compiles: returns the compiled function (nil
-- and the error if the source does not parse), fn's second result and the
-- work of parsing. Running out of work while parsing raises.
local function parse_compile(S, fn, ...)
  local ok, tree, extra, ntok = pcall(fn, ...)
  if not ok then
    if getmetatable(tree) ~= value.ERR_MT or S.work < 0 then
      error(tree, 0)
    end
    return nil, tree, PARSE_WORK * (tree.ntok or 1)
  end
  nodes = 0
  local f = compile(tree)
  return weighed(f, nodes), extra, PARSE_WORK * ntok
end

-- Keeps entry.v for the rest of the render when there is room; charges
-- the work of compiling `src` (entry.work) unless it was just compiled.
local function use(S, memo, src, entry, compiled)
  if not compiled then
    charge(S, entry.work)
  end
  local size = S.memo_bytes + #src
  if size <= MEMO_BYTES then
    S.memo_bytes = size
    memo[src] = entry.v
  end
  return entry.v
end

-- The compiled form of a whole expression (for $eval, $if, ...): a
-- function(ctx, S); a source that does not parse gives a function raising
-- the parse error.
function M.expr(src, S)
  local memo = S.exprs
  local f = memo[src]
  if f then
    return f
  end
  local entry = exprs[src]
  local compiled = not entry
  if compiled then
    local err, work
    f, err, work = parse_compile(S, parser.parse, src, S)
    entry = { v = f or raiser(err), work = work }
    local n = #src
    if n <= MAX_CACHED_LEN then
      nexprs, exprs_bytes = nexprs + 1, exprs_bytes + n
      if nexprs > MAX_CACHED or exprs_bytes > CACHED_BYTES then
        exprs, nexprs, exprs_bytes = {}, 1, n
      end
      exprs[src] = entry
    end
  end
  return use(S, memo, src, entry, compiled)
end

-- Raises the error json-e gives for a by(x) expression that is an array
-- (see parser.parse_array); nothing is cached.
function M.raise_array_expr(list, S)
  local parts, starts, pos = {}, {}, 1
  for i = 1, #list do
    local part = value.join_str(list[i], S, 0)
    starts[i] = pos
    pos = pos + #part + 1
    if pos - 2 > S.max_string then
      raise("TemplateError", "string longer than the string limit (" .. S.max_string .. " bytes)")
    end
    parts[i] = part
  end
  local str = concat(parts, ",")
  charge(S, #list)
  charge_bytes(S, #str)
  parser.parse_array(str, starts, #list, S)
  error("sw.jsone: an array parsed as an expression")
end

-- The interpolation plan of a string holding "${": an array of literal
-- strings and {f = compiled, raw = source} parts, ending at a part
-- {err = error} if an expression does not parse (json-e parses and
-- evaluates them one by one, so earlier parts still run first).
function M.plan(s, S)
  local memo = S.plans
  local p = memo[s]
  if p then
    return p
  end
  local entry = plans[s]
  if entry then
    return use(S, memo, s, entry)
  end
  p = {}
  local work = 0
  local n, pos = 0, 1
  local lit = {}
  local function flush()
    if #lit > 0 then
      n = n + 1
      p[n] = concat(lit)
      lit = {}
    end
  end
  while true do
    local i = find(s, "%$%$?{", pos)
    if not i then
      lit[#lit + 1] = sub(s, pos)
      break
    end
    lit[#lit + 1] = sub(s, pos, i - 1)
    if byte(s, i + 1) == 36 then
      lit[#lit + 1] = "${"
      pos = i + 3
    else
      local f, close, w = parse_compile(S, parser.parse_until_brace, s, i + 2, S)
      work = work + w
      flush()
      n = n + 1
      if not f then
        p[n] = { err = close }
        break
      end
      p[n] = { f = f, raw = sub(s, i + 2, close - 1) }
      pos = close + 1
    end
  end
  flush()
  p.n = n
  charge_bytes(S, #s)
  entry = { v = p, work = work + (#s >> 6) }
  local len = #s
  if len <= MAX_CACHED_LEN then
    nplans, plans_bytes = nplans + 1, plans_bytes + len
    if nplans > MAX_CACHED or plans_bytes > CACHED_BYTES then
      plans, nplans, plans_bytes = {}, 1, len
    end
    plans[s] = entry
  end
  return use(S, memo, s, entry, true)
end

return M
