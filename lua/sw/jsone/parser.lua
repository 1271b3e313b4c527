-- sw.jsone.parser: json-e's expression tokenizer and parser. It follows
-- json-e's own recursive-descent grammar (precedence from loosest:
-- ||, &&, in, == !=, < > <= >=, + -, * /, ** (right associative), then
-- unary - + ! binding to a unit, then . [..] (..) postfix), tokenising
-- lazily so errors come in the same order as in json-e.
--
-- AST nodes are tables {t = <type>, ...}:
--   lit  {v}                       number, string, true, false, null
--   id   {name}                    context value
--   un   {op, e}                   - + !
--   bin  {op, l, r}                binary operator (for ** l is the exponent)
--   dot  {l, name}                 property access
--   idx  {e, interval, a, b}       indexing / slicing (a, b optional)
--   call {f, args}                 function call
--   list {items}                   array literal
--   obj  {keys, vals}              object literal (keys in evaluation order)
--   missing {tok}                  a unit json-e leaves undefined; fails when
--                                  evaluated
local value = require("sw.jsone.value")

local M = {}

local byte, find, sub, gsub = string.byte, string.find, string.sub, string.gsub
local pcall, error, getmetatable = pcall, error, getmetatable
local concat = table.concat
local new_error, skip_ws, charge = value.new_error, value.skip_ws, value.charge
local null = value.null

-- Nesting limits: parenthesised/unary/list/object/call nesting, and the
-- height of the tree (long operator chains).
M.MAX_NESTING = 100
M.MAX_HEIGHT = 1000

-- Work units charged for each token read (parsing and compiling cost
-- about 2 microseconds a token).
local PARSE_WORK = 8
M.PARSE_WORK = PARSE_WORK

local function syntax_error(msg)
  error(new_error("SyntaxError", msg), 0)
end

-- Operator tokens: two-character ones win over their one-character prefix
-- ("=", "&" and "|" alone are no tokens).
local TWO = {
  ["**"] = true, [">="] = true, ["<="] = true, ["=="] = true, ["!="] = true,
  ["&&"] = true, ["||"] = true,
}
local ONE = {}
for ch in ("+-*/[].(){}:,<>!"):gmatch(".") do
  ONE[ch:byte()] = ch
end
local KEYWORDS = { ["true"] = true, ["false"] = true, ["in"] = true, ["null"] = true }

-- The token at byte i (c, not nil) of s: its kind and the index after it,
-- or nil.
local function token_at(s, i, c)
  local two = sub(s, i, i + 1)
  if TWO[two] then
    return two, i + 2
  elseif ONE[c] then
    return ONE[c], i + 1
  elseif c >= 48 and c <= 57 then
    local _, e = find(s, "^[0-9]+", i)
    if byte(s, e + 1) == 46 then
      local _, e2 = find(s, "^[0-9]+", e + 2)
      if e2 then
        e = e2
      end
    end
    return "number", e + 1
  elseif c == 95 or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) then
    local _, e = find(s, "^[a-zA-Z_0-9]*", i + 1)
    local word = sub(s, i, e)
    return KEYWORDS[word] and word or "identifier", e + 1
  elseif c == 39 or c == 34 then
    local e = find(s, c == 39 and "'" or '"', i + 1, true)
    if e then
      return "string", e + 1
    end
  end
  return nil
end

-- Length of UTF-8 text in UTF-16 code units (JavaScript's length).
local function utf16_len(t)
  local _, cont = gsub(t, "[\128-\191]", "")
  local _, four = gsub(t, "[\240-\247]", "")
  return #t - cont + four
end

-- json-e hands a by(x) expression that is an array to its tokenizer as it
-- is: each token is matched against String() of the elements from an
-- offset on (joined with ","), the offset then moves on by as many
-- elements as the token (or whitespace) has UTF-16 code units, and
-- running out of elements is an error rather than the end of input. P.src
-- is String() of the array and P.starts[k] where its element k starts.
local function advance_array(P)
  local s, starts, n = P.src, P.starts, P.nel
  local i
  while true do
    i = P.off < n and starts[P.off + 1] or #s + 1
    local e = skip_ws(s, i)
    if e == i then
      break
    end
    P.off = P.off + utf16_len(sub(s, i, e - 1))
  end
  local c = byte(s, i)
  local kind, j
  if c then
    kind, j = token_at(s, i, c)
  end
  if not kind then
    syntax_error("Unexpected input for '" .. s .. "' at '" .. sub(s, i) .. "'")
  end
  local text = sub(s, i, j - 1)
  P.kind, P.value, P.tstart = kind, text, i
  P.off = P.off + utf16_len(text)
end

-- Reads the token at P.pos into P.kind / P.value / P.tstart (P.kind = nil
-- at the end of the source), charging its work to the render (P.S).
local function advance(P)
  P.ntok = P.ntok + 1
  if P.S then
    charge(P.S, PARSE_WORK)
  end
  if P.starts then
    return advance_array(P)
  end
  local s = P.src
  local i = skip_ws(s, P.pos)
  local c = byte(s, i)
  if c == nil then
    P.kind, P.value, P.tstart, P.pos = nil, nil, i, i
    return
  end
  local kind, j = token_at(s, i, c)
  if not kind then
    syntax_error("Unexpected input for '" .. sub(s, P.base) .. "' at '" .. sub(s, i) .. "'")
  end
  P.kind, P.value, P.tstart, P.pos = kind, sub(s, i, j - 1), i, j
end

local EXPECTED = { "!", "(", "+", "-", "[", "false", "identifier", "null", "number",
  "string", "true", "{" }

-- "Found: X token, expected one of: ..." (json-e's parser message).
local function rule_error(P, expects)
  if P.kind == nil then
    syntax_error("Unexpected end of input")
  end
  syntax_error("Found: " .. P.value .. " token, expected one of: " .. concat(expects, ", "))
end

-- json-e dereferences the current token in many places; at the end of the
-- input that is a crash in json-e and "Unexpected end of input" here.
local function need(P)
  if P.kind == nil then
    syntax_error("Unexpected end of input")
  end
end

local function take(P, kind)
  if P.kind == nil then
    syntax_error("Unexpected end of input")
  end
  if kind and P.kind ~= kind then
    syntax_error("Found: " .. P.value .. " token, expected one of: " .. kind)
  end
  advance(P)
end

local function node(t, h)
  if h > M.MAX_HEIGHT then
    error(new_error("InterpreterError", "expression nested too deep (limit "
      .. M.MAX_HEIGHT .. ")"), 0)
  end
  t.h = h
  return t
end

local function height(n)
  return n and n.h or 0
end

local function max(a, b)
  return a > b and a or b
end

local LEVELS = {
  { ["||"] = true }, { ["&&"] = true }, { ["in"] = true },
  { ["=="] = true, ["!="] = true },
  { ["<"] = true, [">"] = true, ["<="] = true, [">="] = true },
  { ["+"] = true, ["-"] = true }, { ["*"] = true, ["/"] = true }, { ["**"] = true },
}
local NLEVELS = #LEVELS

local parse, parse_unit, parse_postfix

local function enter(P)
  local d = P.depth + 1
  if d > M.MAX_NESTING then
    error(new_error("InterpreterError", "expression nested too deep (limit "
      .. M.MAX_NESTING .. ")"), 0)
  end
  P.depth = d
end

local function is_missing(n)
  return n.t == "missing"
end

-- Comma-separated expressions up to `close` (the opening token taken),
-- for list literals and call arguments.
local function parse_items(P, close)
  need(P)
  local items, n, h = {}, 0, 0
  if P.kind ~= close then
    repeat
      if n > 0 then
        if is_missing(items[n]) then
          rule_error(P, EXPECTED)
        end
        take(P)
      end
      local e = parse(P, 1)
      n = n + 1
      items[n] = e
      h = max(h, e.h)
    until P.kind ~= ","
  end
  take(P, close)
  return items, n, h
end

local function parse_list(P)
  take(P, "[")
  local items, n, h = parse_items(P, "]")
  return node({ t = "list", items = items, n = n }, h + 1)
end

local function is_index_key(k)
  if k == "0" then
    return true
  end
  return find(k, "^[1-9]%d*$") ~= nil and #k <= 10 and tonumber(k) <= 4294967294
end

local function parse_object(P)
  take(P, "{")
  local order, vals, h = {}, {}, 0
  while P.kind == "string" or P.kind == "identifier" do
    local key = P.value
    if P.kind == "string" then
      key = sub(key, 2, -2)
    end
    take(P)
    take(P, ":")
    local v = parse(P, 1)
    if is_missing(v) then
      rule_error(P, EXPECTED)
    end
    if vals[key] == nil then
      order[#order + 1] = key
    end
    vals[key] = v
    h = max(h, v.h)
    if P.kind == "}" then
      break
    end
    take(P, ",")
  end
  take(P, "}")
  -- evaluation order: Object.keys order (array indices first, ascending)
  local idx, other = {}, {}
  for _, k in ipairs(order) do
    if is_index_key(k) then
      idx[#idx + 1] = k
    else
      other[#other + 1] = k
    end
  end
  table.sort(idx, function(a, b)
    return tonumber(a) < tonumber(b)
  end)
  for _, k in ipairs(other) do
    idx[#idx + 1] = k
  end
  local list = {}
  for i, k in ipairs(idx) do
    list[i] = vals[k]
  end
  return node({ t = "obj", keys = idx, vals = list, n = #idx }, h + 1)
end

function parse_unit(P)
  need(P)
  local kind = P.kind
  if kind == "-" or kind == "+" or kind == "!" then
    take(P)
    enter(P)
    local e = parse_unit(P)
    P.depth = P.depth - 1
    return node({ t = "un", op = kind, e = e }, e.h + 1)
  elseif kind == "number" then
    local v = P.value
    take(P)
    return node({ t = "lit", v = value.norm(tonumber(v) + 0.0) }, 1)
  elseif kind == "string" then
    local v = sub(P.value, 2, -2)
    take(P)
    return node({ t = "lit", v = v }, 1)
  elseif kind == "true" then
    take(P)
    return node({ t = "lit", v = true }, 1)
  elseif kind == "false" then
    take(P)
    return node({ t = "lit", v = false }, 1)
  elseif kind == "null" then
    take(P)
    return node({ t = "lit", v = null }, 1)
  elseif kind == "identifier" then
    local name = P.value
    take(P)
    return node({ t = "id", name = name }, 1)
  elseif kind == "(" then
    take(P)
    enter(P)
    local e = parse(P, 1)
    P.depth = P.depth - 1
    if is_missing(e) then
      rule_error(P, EXPECTED)
    end
    take(P, ")")
    return e
  elseif kind == "[" then
    enter(P)
    local e = parse_list(P)
    P.depth = P.depth - 1
    return e
  elseif kind == "{" then
    enter(P)
    local e = parse_object(P)
    P.depth = P.depth - 1
    return e
  end
  return node({ t = "missing", tok = P.value }, 1)
end

local function parse_brackets(P, target)
  take(P, "[")
  need(P)
  if P.kind == "]" then
    rule_error(P, EXPECTED)
  end
  local a, b, interval
  enter(P)
  if P.kind ~= ":" then
    a = parse(P, 1)
  end
  need(P)
  if P.kind == ":" then
    interval = true
    take(P)
  end
  need(P)
  if P.kind ~= "]" then
    b = parse(P, 1)
  end
  P.depth = P.depth - 1
  if interval and (b == nil or is_missing(b)) then
    need(P)
    if P.kind ~= "]" then
      rule_error(P, EXPECTED)
    end
  end
  take(P, "]")
  local h = max(target.h, max(height(a), height(b)))
  return node({ t = "idx", e = target, interval = interval or false, a = a, b = b }, h + 1)
end

local function parse_call(P, f)
  take(P, "(")
  enter(P)
  local args, n, h = parse_items(P, ")")
  P.depth = P.depth - 1
  return node({ t = "call", f = f, args = args, n = n }, max(h, f.h) + 1)
end

function parse_postfix(P)
  local n = parse_unit(P)
  while true do
    local kind = P.kind
    if kind == "[" then
      n = parse_brackets(P, n)
    elseif kind == "." then
      take(P)
      local name = P.value
      take(P, "identifier")
      n = node({ t = "dot", l = n, name = name }, n.h + 1)
    elseif kind == "(" then
      n = parse_call(P, n)
    else
      return n
    end
  end
end

function parse(P, level)
  if level == NLEVELS then
    local n = parse_postfix(P)
    while P.kind == "**" do
      take(P)
      local rhs = parse(P, level)
      n = node({ t = "bin", op = "**", l = rhs, r = n }, max(rhs.h, n.h) + 1)
    end
    return n
  end
  local ops = LEVELS[level]
  local n = parse(P, level + 1)
  while true do
    local kind = P.kind
    if kind == nil or not ops[kind] then
      return n
    end
    take(P)
    local r = parse(P, level + 1)
    n = node({ t = "bin", op = kind, l = n, r = r }, max(n.h, r.h) + 1)
  end
end

local TRAILING = "!=, &&, (, *, **, +, -, ., /, <, <=, ==, >, >=, [, in, ||"

local function parse_all(P)
  advance(P)
  local tree = parse(P, 1)
  if P.kind ~= nil then
    syntax_error("Found: " .. P.value .. " token, expected one of: " .. TRAILING)
  end
  return tree
end

local function parse_braced(P)
  advance(P)
  local tree = parse(P, 1)
  if P.kind == nil then
    syntax_error("unterminated ${..} expression")
  elseif P.kind ~= "}" then
    syntax_error("Found: " .. P.value .. " token, expected one of: " .. TRAILING)
  end
  return tree
end

-- Runs a parse; a json-e error raised by it carries the number of tokens
-- read (e.ntok), for the work it is charged.
local function run(how, P)
  local ok, tree = pcall(how, P)
  if not ok then
    if getmetatable(tree) == value.ERR_MT then
      tree.ntok = P.ntok
    end
    error(tree, 0)
  end
  return tree
end

-- Parses a whole expression; returns the tree, nil and the number of
-- tokens read, or raises json-e's errors. With S, each token read is
-- charged to that render as it is read.
function M.parse(src, S)
  local P = { src = src, base = 1, pos = 1, depth = 0, ntok = 0, S = S }
  local tree = run(parse_all, P)
  return tree, nil, P.ntok
end

-- Parses the expression of "${...}" starting at byte `start` of src, up to
-- its closing "}". Returns the tree, the index of that "}" and the number
-- of tokens read.
function M.parse_until_brace(src, start, S)
  local P = { src = src, base = start, pos = start, depth = 0, ntok = 0, S = S }
  local tree = run(parse_braced, P)
  return tree, P.tstart, P.ntok
end

-- Parses an array as json-e parses a by(x) expression that is one (see
-- advance_array): str is String() of the array and starts[k] the index in
-- str where element k (of n) starts. That always ends in a json-e error.
function M.parse_array(str, starts, n, S)
  local P = { src = str, base = 1, starts = starts, nel = n, off = 0, depth = 0, ntok = 0,
    S = S }
  return run(parse_all, P)
end

return M
