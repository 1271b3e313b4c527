-- sw.jsone.builtins: json-e's built-in functions (json-e 4.8.4): min, max,
-- sqrt, ceil, floor, abs, range, lowercase, uppercase, str, number, len,
-- strip, rstrip, lstrip, split, join, fromNow, typeof, defined.
--
-- A builtin is a Lua function f(S, ctx, args, n) registered in M.is_builtin;
-- M.scope maps names to them (the root of every render's context).
local value = require("sw.jsone.value")
local time = require("sw.jsone.time")

local M = {}

local type, setmetatable = type, setmetatable
local find, sub, byte = string.find, string.sub, string.byte
local concat = table.concat
local math_type, huge = math.type, math.huge
local null, array_mt = value.null, value.array_mt
local raise, norm, js_num, kind = value.raise, value.norm, value.js_num, value.kind
local is_integer, charge = value.is_integer, value.charge

M.is_builtin = {}
M.scope = {}

local function bad(name)
  raise("BuiltinError", "invalid arguments to builtin: " .. name)
end

-- Argument type tests, as json-e names them.
local TESTS = {
  string = function(v)
    return type(v) == "string"
  end,
  number = function(v)
    return type(v) == "number"
  end,
  integer = is_integer,
  boolean = function(v)
    return type(v) == "boolean"
  end,
  array = value.is_array,
  object = value.is_object,
  null = function(v)
    return v == null
  end,
  ["function"] = function(v)
    return type(v) == "function"
  end,
}

local function test_of(spec)
  local fns = {}
  for name in spec:gmatch("[^|]+") do
    fns[#fns + 1] = assert(TESTS[name], name)
  end
  if #fns == 1 then
    return fns[1]
  end
  return function(v)
    for i = 1, #fns do
      if fns[i](v) then
        return true
      end
    end
    return false
  end
end

-- define(name, {args = {...type specs}, min = n, variadic = spec, invoke,
--                memoised = true when string arguments are not rescanned})
-- mirrors json-e's argument checking: too few arguments, fewer than `min`,
-- or an argument of the wrong type raise BuiltinError. (json-e crashes
-- with a TypeError on extra arguments to a non-variadic builtin; here that
-- is a BuiltinError too.)
local function define(name, spec)
  local tests = {}
  for i, s in ipairs(spec.args or {}) do
    tests[i] = test_of(s)
  end
  local ntests = #tests
  local min_args = spec.min
  local variadic = spec.variadic and test_of(spec.variadic)
  local invoke = spec.invoke
  local scans = not spec.memoised -- works through its string arguments
  local fn = function(S, ctx, args, n)
    if not variadic and n < ntests then
      bad(name)
    end
    if min_args and n < min_args then
      bad(name .. ": expected at least " .. min_args .. " arguments")
    end
    for i = 1, n do
      local t = tests[i] or variadic
      local a = args[i]
      if not t or not t(a) then
        bad(name)
      end
      if scans and type(a) == "string" then
        value.charge_bytes(S, #a)
      end
    end
    return invoke(S, ctx, args, n)
  end
  M.is_builtin[fn] = name
  M.scope[name] = fn
end

-- Math ---------------------------------------------------------------------

-- max / min: NaN if any argument is NaN.
local function extreme(better)
  return function(_, _, a, n)
    local m = a[1]
    for i = 1, n do
      local x = a[i]
      if x ~= x then
        return x
      end
      if better(x, m) then
        m = x
      end
    end
    return norm(m)
  end
end

define("max", {
  min = 1,
  variadic = "number",
  invoke = extreme(function(x, m)
    return x > m
  end),
})

define("min", {
  min = 1,
  variadic = "number",
  invoke = extreme(function(x, m)
    return x < m
  end),
})

define("sqrt", {
  args = { "number" },
  invoke = function(_, _, a)
    local x = a[1]
    if x < 0 then
      return 0 / 0
    end
    return norm(math.sqrt(x))
  end,
})

-- ceil / floor: whole numbers as integers; NaN and infinities unchanged.
local function rounding(round)
  return function(_, _, a)
    local x = a[1]
    if math_type(x) == "integer" or x ~= x or x == huge or x == -huge then
      return x
    end
    return norm(round(x) + 0.0)
  end
end

define("ceil", { args = { "number" }, invoke = rounding(math.ceil) })
define("floor", { args = { "number" }, invoke = rounding(math.floor) })

define("abs", {
  args = { "number" },
  invoke = function(_, _, a)
    local x = a[1]
    if math_type(x) == "integer" and x ~= math.mininteger then
      return x < 0 and -x or x
    end
    return norm(math.abs(x + 0.0))
  end,
})

define("range", {
  min = 2,
  args = { "integer", "integer", "integer" },
  variadic = "number",
  invoke = function(S, _, a, n)
    local start, stop = a[1] + 0.0, a[2] + 0.0
    local step = n >= 3 and a[3] + 0.0 or 1.0
    local len = math.ceil((stop - start) / step)
    if len ~= len or len <= 0 then
      return setmetatable({}, array_mt)
    end
    if len == huge then
      bad("range")
    end
    if len > S.max_array then
      raise("TemplateError", "range() result longer than the array limit ("
        .. S.max_array .. ")")
    end
    charge(S, len)
    local out = {}
    for i = 0, len - 1 do
      out[i + 1] = norm(start + i * step)
    end
    return setmetatable(out, array_mt)
  end,
})

-- Strings ------------------------------------------------------------------

local unicase
local ascii_lower, ascii_upper

local function cased(cp)
  if cp == nil then
    return false
  elseif cp < 128 then
    return (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122)
  end
  return unicase.lower[cp] ~= nil or unicase.upper[cp] ~= nil
end

-- The code point that ends just before byte i of s, or nil.
local function cp_before(s, i)
  local j = i - 1
  while j > 0 do
    local c = byte(s, j)
    if c < 0x80 or c >= 0xC0 then
      return utf8.codepoint(s, j)
    end
    j = j - 1
  end
  return nil
end

-- JavaScript's toLowerCase / toUpperCase of a valid UTF-8 string: ASCII by
-- `ascii` (which keeps every byte in place), then each multi-byte character
-- through the Unicode tables. A Greek capital sigma becomes final sigma when
-- a cased letter comes before it and none after.
local function map_case(s, which, ascii)
  unicase = unicase or require("sw.jsone.unicase")
  local tbl = unicase[which]
  return (ascii(s):gsub("()([\194-\244][\128-\191]*)", function(pos, ch)
    local cp = utf8.codepoint(ch)
    if cp == 0x3A3 and which == "lower" then
      local after = pos + #ch
      if cased(cp_before(s, pos)) and not (after <= #s and cased(utf8.codepoint(s, after))) then
        return "\u{3C2}"
      end
    end
    return tbl[cp]
  end))
end

local function case_fn(which)
  return function(S, _, a)
    local s = a[1]
    local ascii = which == "lower" and ascii_lower or ascii_upper
    if not find(s, "[\128-\255]") or not utf8.len(s) then
      return ascii(s)
    end
    -- a callback per character: much more work than a scan
    value.charge_bytes(S, #s * 8)
    return map_case(s, which, ascii)
  end
end

function ascii_lower(s)
  return (s:gsub("%u", function(c)
    return string.char(byte(c) + 32)
  end))
end

function ascii_upper(s)
  return (s:gsub("%l", function(c)
    return string.char(byte(c) - 32)
  end))
end

-- string.lower/upper depend on the C locale; only ASCII letters change
-- in the "C" locale, which is what these need.
local c_ctype = os.setlocale(nil, "ctype")
if c_ctype == "C" or c_ctype == "POSIX" then
  ascii_lower, ascii_upper = string.lower, string.upper
end

define("lowercase", { args = { "string" }, invoke = case_fn("lower") })
define("uppercase", { args = { "string" }, invoke = case_fn("upper") })

define("str", {
  args = { "string|number|boolean|null" },
  invoke = function(S, _, a)
    return value.template_str(a[1], S)
  end,
})

-- JavaScript's Number(string).
local function parse_radix(digits, base)
  local v = 0.0
  for i = 1, #digits do
    v = v * base + tonumber(sub(digits, i, i), base)
  end
  return norm(v)
end

local RADIX = { ["0x"] = { 16, "^%x+$" }, ["0o"] = { 8, "^[0-7]+$" }, ["0b"] = { 2, "^[01]+$" } }

local function to_number(s)
  s = value.rstrip(value.lstrip(s))
  if s == "" then
    return 0
  end
  local radix = RADIX[string.lower(sub(s, 1, 2))]
  if radix then
    local d = sub(s, 3)
    if find(d, radix[2]) then
      return parse_radix(d, radix[1])
    end
    return 0 / 0
  end
  local sign, body = 1, s
  local c = byte(s, 1)
  if c == 43 or c == 45 then
    sign, body = c == 45 and -1 or 1, sub(s, 2)
  end
  if body == "Infinity" then
    return sign * huge
  end
  local mant, ex = body:match("^([%d.]+)([eE][-+]?%d+)$")
  if not mant then
    mant, ex = body, ""
  end
  if not (find(mant, "^%d+%.?%d*$") or find(mant, "^%.%d+$")) then
    return 0 / 0
  end
  local v = tonumber(mant .. ex)
  if not v then
    return 0 / 0
  end
  return norm(sign * (v + 0.0))
end
M.to_number = to_number

define("number", {
  args = { "string" },
  invoke = function(_, _, a)
    return to_number(a[1])
  end,
})

define("len", {
  args = { "string|array" },
  memoised = true, -- value.text charges the first scan of a long string
  invoke = function(S, _, a)
    local x = a[1]
    if type(x) == "string" then
      return (value.text(S, x))
    end
    return #x
  end,
})

define("strip", {
  args = { "string" },
  invoke = function(_, _, a)
    return value.rstrip(value.lstrip(a[1]))
  end,
})

define("rstrip", {
  args = { "string" },
  invoke = function(_, _, a)
    return value.rstrip(a[1])
  end,
})

define("lstrip", {
  args = { "string" },
  invoke = function(_, _, a)
    return value.lstrip(a[1])
  end,
})

define("split", {
  min = 2,
  args = { "string", "string|number" },
  invoke = function(S, _, a)
    local s, sep = a[1], a[2]
    if type(sep) == "number" then
      sep = js_num(sep)
    end
    local out, n = {}, 0
    local function too_long()
      raise("TemplateError", "split() result longer than the array limit ("
        .. S.max_array .. ")")
    end
    if sep == "" then
      if #s > S.max_array and (value.text(S, s)) > S.max_array then
        too_long()
      end
      out, n = value.chars(s)
    else
      local i = 1
      local search = value.searcher(S, s, sep)
      while true do
        local j, e = search(i)
        n = n + 1
        if n > S.max_array then
          too_long()
        end
        if not j then
          out[n] = sub(s, i)
          break
        end
        out[n] = sub(s, i, j - 1)
        i = e + 1
      end
    end
    charge(S, n)
    return setmetatable(out, array_mt)
  end,
})

define("join", {
  args = { "array", "string|number" },
  invoke = function(S, _, a)
    local list, sep = a[1], a[2]
    if type(sep) == "number" then
      sep = js_num(sep)
    end
    local parts = {}
    local size = 0
    for i = 1, #list do
      local p = value.join_str(list[i], S, 1)
      parts[i] = p
      size = size + #p + #sep
    end
    if size > S.max_string then
      raise("TemplateError", "join() result longer than the string limit ("
        .. S.max_string .. " bytes)")
    end
    charge(S, #list + size // 64)
    return concat(parts, sep)
  end,
})

-- Miscellaneous ------------------------------------------------------------

define("fromNow", {
  min = 1,
  variadic = "string",
  invoke = function(_, ctx, a)
    local ref = a[2]
    if ref == nil or ref == "" then
      ref = ctx.now
    end
    return time.from_now(a[1], ref, "InterpreterError")
  end,
})

local TYPEOF = {
  string = "string", number = "number", boolean = "boolean", array = "array",
  object = "object", ["function"] = "function", null = "null",
}

define("typeof", {
  args = { "string|number|boolean|array|object|null|function" },
  invoke = function(_, _, a)
    return TYPEOF[kind(a[1])]
  end,
})

define("defined", {
  args = { "string" },
  invoke = function(_, ctx, a)
    return ctx[a[1]] ~= nil
  end,
})

return M
