-- sw.jsone.value: the value model shared by the json-e modules: kinds,
-- truthiness, equality, errors, JavaScript-compatible number and string
-- formatting, UTF-16 string order and the $json serialiser.
local json = require("sw.json")

local M = {}

local type, getmetatable, setmetatable = type, getmetatable, setmetatable
local next, tostring, tonumber, error = next, tostring, tonumber, error
local byte, find, format, sub, gsub, match =
  string.byte, string.find, string.format, string.sub, string.gsub, string.match
local concat, sort = table.concat, table.sort
local math_type, tointeger, huge = math.type, math.tointeger, math.huge
local utf8_len, utf8_codepoint, utf8_char = utf8.len, utf8.codepoint, utf8.char

local null, array_mt, object_mt = json.null, json.array_mt, json.object_mt
M.null, M.array_mt, M.object_mt = null, array_mt, object_mt

-- Largest integer a double holds exactly (2^53).
local MAX_SAFE = 9007199254740992
M.MAX_SAFE = MAX_SAFE

-- Errors ---------------------------------------------------------------

-- A json-e error is a table {kind = "TemplateError", msg = "..."} with this
-- metatable; render() turns it into "Kind at template.path: msg".
local ERR_MT = {
  __tostring = function(e)
    return e.kind .. ": " .. e.msg
  end,
}
M.ERR_MT = ERR_MT

local function raise(kind, msg)
  error(setmetatable({ kind = kind, msg = msg }, ERR_MT), 0)
end
M.raise = raise

function M.new_error(kind, msg)
  return setmetatable({ kind = kind, msg = msg }, ERR_MT)
end

-- Value kinds ------------------------------------------------------------

-- The "delete marker" returned by operators such as {$if: false}: an empty
-- object (json-e's marker is `{}` too, and behaves as one where it leaks).
local DELETE = setmetatable({}, object_mt)
M.DELETE = DELETE

-- Unmarked Lua tables (built by callers rather than decoded) are classified
-- as the JSON encoder does: an array when the keys are exactly 1..n (n >= 1),
-- an object otherwise. The answer is cached for the current render.
local unmarked = setmetatable({}, { __mode = "k" })

function M.reset_cache()
  unmarked = setmetatable({}, { __mode = "k" })
end

local function classify(t)
  local k = unmarked[t]
  if k then
    return k
  end
  local n = #t
  k = "object"
  if n > 0 then
    local count = 0
    for _ in next, t do
      count = count + 1
      if count > n then
        break
      end
    end
    if count == n then
      k = "array"
    end
  end
  unmarked[t] = k
  return k
end

-- kind(v) -> "null" | "boolean" | "number" | "string" | "array" | "object"
--            | "function" | the Lua type of anything else
local function kind(v)
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    if mt == array_mt then
      return "array"
    elseif mt == object_mt then
      return "object"
    end
    return classify(v)
  elseif v == null then
    return "null"
  end
  return t
end
M.kind = kind

-- is_array / is_object: kind(v) == "array" / "object", on the hot path.
local function is_array(v)
  if type(v) ~= "table" then
    return false
  end
  local mt = getmetatable(v)
  return mt == array_mt or (mt ~= object_mt and classify(v) == "array")
end
M.is_array = is_array

local function is_object(v)
  if type(v) ~= "table" then
    return false
  end
  local mt = getmetatable(v)
  return mt == object_mt or (mt ~= array_mt and classify(v) == "object")
end
M.is_object = is_object

function M.new_array(t)
  return setmetatable(t or {}, array_mt)
end

function M.new_object(t)
  return setmetatable(t or {}, object_mt)
end

-- json-e truthiness: null, false, 0, "", [] and {} are false.
function M.truthy(v)
  if v == nil or v == null or v == false then
    return false
  end
  local t = type(v)
  if t == "number" then
    return v ~= 0
  elseif t == "string" then
    return v ~= ""
  elseif t == "table" then
    return next(v) ~= nil
  end
  return true
end

-- Numbers ----------------------------------------------------------------

-- json-e computes with doubles; results that are whole numbers come back
-- as Lua integers (so JSON prints 3, not 3.0), everything else as floats.
local function norm(x)
  if math_type(x) == "float" then
    return tointeger(x) or x
  end
  return x
end
M.norm = norm

-- Exact ECMAScript Number::toString for finite and non-finite values.
local EFMT = {}
for p = 0, 16 do
  EFMT[p] = "%." .. p .. "e"
end

local function js_num(x)
  if math_type(x) == "integer" then
    if x >= -MAX_SAFE and x <= MAX_SAFE then
      return tostring(x)
    end
    x = x + 0.0
  end
  if x ~= x then
    return "NaN"
  elseif x == huge then
    return "Infinity"
  elseif x == -huge then
    return "-Infinity"
  elseif x == 0 then
    return "0"
  end
  local i = tointeger(x)
  if i and i >= -MAX_SAFE and i <= MAX_SAFE then
    return tostring(i)
  end
  local sign = ""
  if x < 0 then
    sign, x = "-", -x
  end
  local s
  for p = 0, 16 do
    s = format(EFMT[p], x)
    if tonumber(s) == x then
      break
    end
  end
  local d1, rest, e = match(s, "^(%d)%.?(%d*)e([-+]%d+)$")
  local digits = d1 .. rest
  digits = match(digits, "^(%d-)0*$")
  if digits == "" then
    digits = "0"
  end
  local k = #digits
  local n = tonumber(e) + 1
  local out
  if k <= n and n <= 21 then
    out = digits .. string.rep("0", n - k)
  elseif 0 < n and n <= 21 then
    out = sub(digits, 1, n) .. "." .. sub(digits, n + 1)
  elseif -6 < n and n <= 0 then
    out = "0." .. string.rep("0", -n) .. digits
  else
    local ex = n - 1
    local es = ex < 0 and ("-" .. tostring(-ex)) or ("+" .. tostring(ex))
    if k == 1 then
      out = digits .. "e" .. es
    else
      out = sub(digits, 1, 1) .. "." .. sub(digits, 2) .. "e" .. es
    end
  end
  return sign .. out
end
M.js_num = js_num

function M.is_integer(v)
  if math_type(v) == "integer" then
    return true
  end
  return math_type(v) == "float" and v == v and v ~= huge and v ~= -huge
    and v == math.floor(v)
end

-- Strings ----------------------------------------------------------------

-- String order: JavaScript compares UTF-16 code units. UTF-8 byte order is
-- the same except when a character U+E000..U+FFFF meets one above U+FFFF,
-- which is only possible when both strings hold a byte >= 0xEE.
local c_collate = os.setlocale(nil, "collate")
local bytes_ok = c_collate == "C" or c_collate == "POSIX"

local function byte_lt(a, b)
  if bytes_ok then
    return a < b
  end
  local la, lb = #a, #b
  for i = 1, (la < lb and la or lb) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return la < lb
end

local function utf16_key(cp)
  if cp >= 0x10000 then
    return 0xD800 + ((cp - 0x10000) >> 10)
  end
  return cp
end

local function str_lt(a, b)
  if a == b then
    return false
  end
  if not find(a, "[\238-\244]") or not find(b, "[\238-\244]") then
    return byte_lt(a, b)
  end
  if not utf8_len(a) or not utf8_len(b) then
    return byte_lt(a, b)
  end
  local i, j, la, lb = 1, 1, #a, #b
  while true do
    if i > la then
      return j <= lb
    elseif j > lb then
      return false
    end
    local ca, cb = utf8_codepoint(a, i), utf8_codepoint(b, j)
    if ca ~= cb then
      local ka, kb = utf16_key(ca), utf16_key(cb)
      if ka ~= kb then
        return ka < kb
      end
      return ca < cb
    end
    local w = ca < 0x80 and 1 or ca < 0x800 and 2 or ca < 0x10000 and 3 or 4
    i, j = i + w, j + w
  end
end
M.str_lt = str_lt

-- Code-point aware length and slicing (json-e counts code points).
local function is_ascii(s)
  return not find(s, "[\128-\255]")
end
M.is_ascii = is_ascii

-- Returns an array of the code points of s as strings (or bytes when s is
-- not valid UTF-8).
local function chars(s)
  local out, n = {}, 0
  if is_ascii(s) or not utf8_len(s) then
    for i = 1, #s do
      out[i] = sub(s, i, i)
    end
    return out, #s
  end
  for _, cp in utf8.codes(s) do
    n = n + 1
    out[n] = utf8_char(cp)
  end
  return out, n
end
M.chars = chars

-- text(S, s[, need_chars]) -> length in code points, and (with need_chars,
-- unless s is ASCII so bytes are code points) the array of its characters.
-- Long strings are analysed once per render (S.text) and the scan is
-- charged to the render's work.
function M.text(S, s, need_chars)
  local n = #s
  local memo
  if n > 64 then
    memo = S.text[s]
    if memo and (memo.ascii or memo.chars or not need_chars) then
      return memo.len, memo.chars
    end
  end
  if not memo then
    memo = { ascii = is_ascii(s) }
    memo.len = memo.ascii and n or utf8_len(s) or n
    if n > 64 then
      M.charge_bytes(S, n)
      S.text[s] = memo
    end
  end
  if need_chars and not memo.ascii then
    memo.chars = chars(s)
  end
  return memo.len, memo.chars
end

-- JavaScript's \s (WhiteSpace and LineTerminator): ASCII ones plus these.
local UNI_WS = {
  ["\194\160"] = true, ["\225\154\128"] = true, ["\226\128\168"] = true,
  ["\226\128\169"] = true, ["\226\128\175"] = true, ["\226\129\159"] = true,
  ["\227\128\128"] = true, ["\239\187\191"] = true,
}
for c = 0x80, 0x8A do
  UNI_WS["\226\128" .. string.char(c)] = true
end
M.UNI_WS = UNI_WS

-- Length in bytes of the JS whitespace character at s[i], or 0.
local function ws_at(s, i)
  local c = byte(s, i)
  if c == nil then
    return 0
  end
  if c == 32 or (c >= 9 and c <= 13) then
    return 1
  end
  if c == 0xC2 then
    return UNI_WS[sub(s, i, i + 1)] and 2 or 0
  end
  if c >= 0xE1 and c <= 0xEF then
    return UNI_WS[sub(s, i, i + 2)] and 3 or 0
  end
  return 0
end
M.ws_at = ws_at

-- Index of the first non-whitespace byte at or after i.
local function skip_ws(s, i)
  while true do
    local w = ws_at(s, i)
    if w == 0 then
      return i
    end
    i = i + w
  end
end
M.skip_ws = skip_ws

function M.lstrip(s)
  return sub(s, skip_ws(s, 1))
end

-- Strips trailing JS whitespace.
local function rstrip(s)
  local e = #s
  while e > 0 do
    local c = byte(s, e)
    if c == 32 or (c >= 9 and c <= 13) then
      e = e - 1
    elseif c >= 0x80 then
      local w = 0
      if e >= 2 and UNI_WS[sub(s, e - 1, e)] then
        w = 2
      elseif e >= 3 and UNI_WS[sub(s, e - 2, e)] then
        w = 3
      end
      if w == 0 then
        break
      end
      e = e - w
    else
      break
    end
  end
  return sub(s, 1, e)
end
M.rstrip = rstrip

-- JSON.stringify of a string.
local ESC = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for c = 0, 31 do
  local ch = string.char(c)
  ESC[ch] = ESC[ch] or format("\\u%04x", c)
end

local function quote(s)
  if find(s, '[%z\1-\31"\\]') then
    s = gsub(s, '[%z\1-\31"\\]', ESC)
  end
  return '"' .. s .. '"'
end
M.quote = quote

-- Object keys --------------------------------------------------------------

-- Keys in the order JavaScript's Object.keys gives them for an object built
-- in sorted order: canonical array indices ascending, then the rest in
-- UTF-16 order (json-e sees objects in insertion order; Lua tables have
-- none, so sorted order stands in for it).
local function is_index(k)
  local c = byte(k)
  if c == nil or c < 48 or c > 57 then
    return false
  end
  local n = #k
  if n == 1 then
    return true
  end
  if n > 10 or c == 48 or not find(k, "^%d+$") then
    return false
  end
  return tonumber(k) <= 4294967294
end

-- Sorts strings in UTF-16 order: with the plain byte comparison unless a
-- string holds a byte >= 0xEE (where UTF-8 and UTF-16 orders can differ).
local function sort_strings(list, n)
  if n < 2 then
    return
  end
  if bytes_ok then
    for i = 1, n do
      if find(list[i], "[\238-\244]") then
        sort(list, str_lt)
        return
      end
    end
    sort(list)
  else
    sort(list, str_lt)
  end
end
M.sort_strings = sort_strings

local function by_number(a, b)
  return tonumber(a) < tonumber(b)
end

local function object_keys(t)
  local idx, other, ni, no = nil, {}, 0, 0
  for k in next, t do
    if type(k) == "string" then
      if is_index(k) then
        idx = idx or {}
        ni = ni + 1
        idx[ni] = k
      else
        no = no + 1
        other[no] = k
      end
    end
  end
  sort_strings(other, no)
  if not idx then
    return other, no
  end
  sort(idx, by_number)
  for i = 1, no do
    idx[ni + i] = other[i]
  end
  return idx, ni + no
end
M.object_keys = object_keys

-- Keys sorted as JavaScript's Array.prototype.sort() sorts strings.
local function sorted_keys(t)
  local out, n = {}, 0
  for k in next, t do
    if type(k) == "string" then
      n = n + 1
      out[n] = k
    end
  end
  sort_strings(out, n)
  return out, n
end
M.sorted_keys = sorted_keys

-- Deep operations (bounded by the render's budget and depth) -------------

-- S: the render state; S.work is the remaining work budget.
local function charge(S, n)
  local w = S.work - n
  S.work = w
  if w < 0 then
    raise("TemplateError", "render exceeded its work limit (" .. S.max_work .. ")")
  end
end
M.charge = charge

-- Work for scanning a string: one unit per 64 bytes.
local function charge_bytes(S, n)
  if n >= 64 then
    charge(S, n >> 6)
  end
end
M.charge_bytes = charge_bytes

-- Substring search ---------------------------------------------------------

-- string.find(s, p, init, true) tries p at every position where its first
-- byte occurs and compares up to #p bytes there, so its time can grow with
-- #s * #p (4 MiB of "a" searched for 2 MiB of "a" then "b": minutes). The
-- searcher gives the same answers in time linear in #s: needles up to
-- SHORT bytes go to string.find (at most SHORT bytes compared per
-- position); longer ones are located by string.find on their first SHORT
-- bytes and checked whole, until the checks have compared twice the
-- haystack's length, after which Knuth-Morris-Pratt (in Lua) takes over.
-- Every part is charged to the render as it goes: string.find 1 unit per
-- 32 bytes scanned, checks 1 per 64 bytes compared, Knuth-Morris-Pratt
-- (about 0.2 microseconds a byte) 1 per byte of haystack and, before its
-- tables (32 bytes a needle byte) are built, 1 per byte of needle.
local SHORT = 64
local CHUNK = 4096

-- The bytes of p (m bytes) in an array.
local function bytes_of(p, m)
  local out, n = {}, 0
  for i = 1, m, CHUNK do
    local part = { byte(p, i, i + CHUNK - 1) }
    for k = 1, #part do
      n = n + 1
      out[n] = part[k]
    end
  end
  return out
end

-- fail[q]: the length of the longest proper border of the needle's first
-- q bytes (pb: the needle's bytes).
local function kmp_table(pb, m)
  local fail = { 0 }
  local k = 0
  for q = 2, m do
    local c = pb[q]
    while k > 0 and pb[k + 1] ~= c do
      k = fail[k]
    end
    if pb[k + 1] == c then
      k = k + 1
    end
    fail[q] = k
  end
  return fail
end

-- The first match, at or after init, in s (n bytes) of the needle (m > 1
-- bytes pb, table fail); reads s a chunk at a time, skipping to the next
-- occurrence of the needle's first byte with string.find when no partial
-- match is pending.
local function kmp_find(S, s, n, pb, m, fail, init)
  local first = string.char(pb[1])
  local q, i = 0, init
  while i <= n do
    if q == 0 then
      local j = find(s, first, i, true)
      charge_bytes(S, 2 * ((j or n + 1) - i))
      if not j then
        return nil
      end
      i = j
    end
    local last = i + CHUNK - 1
    if last > n then
      last = n
    end
    charge(S, last - i + 1)
    local buf = { byte(s, i, last) }
    for k = 1, last - i + 1 do
      local c = buf[k]
      while q > 0 and pb[q + 1] ~= c do
        q = fail[q]
      end
      if pb[q + 1] == c then
        q = q + 1
        if q == m then
          local e = i + k - 1
          return e - m + 1, e
        end
      end
    end
    i = last + 1
  end
  return nil
end

-- searcher(S, s, p) -> next(init) -> j, e | nil: successive calls (init
-- not decreasing) answer as string.find(s, p, init, true).
function M.searcher(S, s, p)
  local n, m = #s, #p
  if m <= SHORT then
    return function(init)
      local j, e = find(s, p, init, true)
      charge_bytes(S, 2 * ((j or n) - init + 1))
      return j, e
    end
  end
  local head = sub(p, 1, SHORT)
  local checked, pb, fail = 0, nil, nil
  return function(init)
    while not fail do
      if n - init + 1 < m then
        return nil
      end
      local j = find(s, head, init, true)
      charge_bytes(S, 2 * ((j or n) - init + 1))
      if not j or j + m - 1 > n then
        return nil
      end
      charge_bytes(S, m)
      if sub(s, j, j + m - 1) == p then
        return j, j + m - 1
      end
      init = j + 1
      checked = checked + m
      if checked > 2 * n then
        charge(S, m)
        pb = bytes_of(p, m)
        fail = kmp_table(pb, m)
      end
    end
    return kmp_find(S, s, n, pb, m, fail, init)
  end
end

local MAX_DATA_DEPTH = 1000
M.MAX_DATA_DEPTH = MAX_DATA_DEPTH

local function too_deep(kindname)
  raise(kindname, "value nested too deep (limit " .. MAX_DATA_DEPTH .. ")")
end

-- Number(v) as JavaScript computes it ------------------------------------

-- JavaScript's StringToNumber: surrounding whitespace, decimal literals
-- with an optional sign and exponent, Infinity, 0x/0o/0b integers; "" is 0,
-- anything else NaN.
local RADIX = { x = 16, X = 16, o = 8, O = 8, b = 2, B = 2 }
local RADIX_DIGITS = { [16] = "^%x+$", [8] = "^[0-7]+$", [2] = "^[01]+$" }

local function string_to_number(s)
  s = rstrip(sub(s, skip_ws(s, 1)))
  if s == "" then
    return 0
  end
  local sign, body = match(s, "^([+-]?)(.*)$")
  local v
  if body == "Infinity" then
    v = huge
  elseif find(body, "^%d+%.?%d*$") or find(body, "^%.%d+$")
    or find(body, "^%d+%.?%d*[eE][+-]?%d+$") or find(body, "^%.%d+[eE][+-]?%d+$") then
    v = tonumber(body) + 0.0
  elseif sign == "" then
    local base = RADIX[sub(body, 2, 2)]
    local digits = sub(body, 3)
    if sub(body, 1, 1) ~= "0" or not base or not find(digits, RADIX_DIGITS[base]) then
      return 0 / 0
    end
    v = 0.0
    for i = 1, #digits do
      v = v * base + tonumber(sub(digits, i, i), 16)
    end
    return v
  else
    return 0 / 0
  end
  return sign == "-" and -v or v
end

-- to_number(S, v): Number(v) for a json-e value, charged to the render.
-- An array is converted through its String(), so only [] (0) and
-- one-element arrays can be numbers; objects and functions are NaN.
function M.to_number(S, v)
  local depth = 0
  while true do
    local t = type(v)
    if t == "number" then
      return v
    elseif t == "string" then
      charge_bytes(S, 32 * #v)
      return string_to_number(v)
    elseif v == null then
      return 0
    elseif t == "boolean" then
      -- String([true]) is "true"
      return depth == 0 and (v and 1 or 0) or 0 / 0
    elseif t ~= "table" or not is_array(v) or #v > 1 then
      return 0 / 0
    elseif #v == 0 then
      return 0
    end
    depth = depth + 1
    if depth > MAX_DATA_DEPTH then
      too_deep("InterpreterError")
    end
    v = v[1]
  end
end

-- json-e equality: deep for arrays and objects, identity for functions.
local function equal(a, b, S, depth)
  local ta, tb = type(a), type(b)
  if ta == "number" then
    return tb == "number" and a + 0.0 == b + 0.0
  elseif ta ~= "table" or tb ~= "table" then
    if ta == "string" and tb == "string" then
      charge_bytes(S, #a)
    end
    return a == b
  end
  if depth > MAX_DATA_DEPTH then
    too_deep("InterpreterError")
  end
  charge(S, 1)
  local ka, kb = kind(a), kind(b)
  if ka ~= kb then
    return false
  end
  if ka == "array" then
    local n = #a
    if n ~= #b then
      return false
    end
    for i = 1, n do
      if not equal(a[i], b[i], S, depth + 1) then
        return false
      end
    end
    return true
  end
  local na = 0
  for k, v in next, a do
    na = na + 1
    local w = b[k]
    if w == nil or not equal(v, w, S, depth + 1) then
      return false
    end
  end
  for _ in next, b do
    na = na - 1
  end
  return na == 0
end
M.equal = equal

-- True when v holds a function anywhere. With `fix`, also replaces delete
-- markers that ended up inside arrays (json-e's marker is a plain `{}`)
-- with fresh empty objects.
local function has_function(v, S, depth, fix)
  local t = type(v)
  if t == "function" then
    return true
  elseif t ~= "table" then
    return false
  end
  if depth > MAX_DATA_DEPTH then
    too_deep("TemplateError")
  end
  charge(S, 1)
  local arr = fix and is_array(v)
  for k, x in next, v do
    local tx = type(x)
    if tx == "function" then
      return true
    elseif tx == "table" then
      if x == DELETE then
        if arr then
          v[k] = setmetatable({}, object_mt)
        end
      elseif has_function(x, S, depth + 1, fix) then
        return true
      end
    end
  end
  return false
end
M.has_function = has_function

-- $json: JSON.stringify with sorted keys (json-stable-stringify).
local function stringify(v, S, out, n, depth)
  local t = type(v)
  if t == "string" then
    n = n + 1
    out[n] = quote(v)
    charge_bytes(S, #v)
  elseif t == "number" then
    n = n + 1
    if v ~= v or v == huge or v == -huge then
      out[n] = "null"
    else
      out[n] = js_num(v)
    end
  elseif t == "boolean" then
    n = n + 1
    out[n] = v and "true" or "false"
  elseif t == "table" then
    if depth > MAX_DATA_DEPTH then
      too_deep("TemplateError")
    end
    charge(S, 1)
    if is_array(v) then
      n = n + 1
      out[n] = "["
      for i = 1, #v do
        if i > 1 then
          n = n + 1
          out[n] = ","
        end
        n = stringify(v[i], S, out, n, depth + 1)
      end
      n = n + 1
      out[n] = "]"
    else
      local keys, nk = sorted_keys(v)
      n = n + 1
      out[n] = "{"
      for i = 1, nk do
        local k = keys[i]
        n = n + 1
        out[n] = (i > 1 and "," or "") .. quote(k) .. ":"
        n = stringify(v[k], S, out, n, depth + 1)
      end
      n = n + 1
      out[n] = "}"
    end
  else
    n = n + 1
    out[n] = "null"
  end
  return n
end

function M.stringify(v, S)
  local out = {}
  local n = stringify(v, S, out, 0, 0)
  return concat(out, "", 1, n)
end

-- String conversions as JavaScript does them ------------------------------

-- Array.prototype.join's view of an element (null -> "").
local function join_str(v, S, depth)
  local t = type(v)
  if t == "string" then
    return v
  elseif t == "number" then
    return js_num(v)
  elseif t == "boolean" then
    return v and "true" or "false"
  elseif v == null or v == nil then
    return ""
  elseif t == "function" then
    return "function () { [native code] }"
  elseif t == "table" then
    if is_array(v) then
      if depth > MAX_DATA_DEPTH then
        too_deep("InterpreterError")
      end
      charge(S, 1)
      local parts = {}
      for i = 1, #v do
        parts[i] = join_str(v[i], S, depth + 1)
      end
      return concat(parts, ",")
    end
    return "[object Object]"
  end
  return tostring(v)
end
M.join_str = join_str

-- `${value}` in a JavaScript template literal (null -> "null").
function M.template_str(v, S)
  if v == null then
    return "null"
  end
  return join_str(v, S, 0)
end

return M
