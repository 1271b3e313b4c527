-- sw.jsone against the reference implementation: a seeded generator makes
-- templates (operators, expressions, interpolation, deliberate mistakes)
-- and contexts; every case is rendered here and by the npm package json-e
-- (tests/jsone/render.js, one Node process for the whole batch) and must
-- give the same result, or an error of the same kind with the same
-- message. Cases where json-e itself crashes with a JavaScript runtime
-- error (a TypeError inside json-e) only need an error here.
--
-- The generator stays clear of the deviations listed in docs/reference.md (sw.jsone)
-- (invalid date references, -0, object key order, ...).
--
-- SW_JSONE_SEED / SW_JSONE_CASES change the seed and the number of
-- generated cases (default 1 and 400).
local json = require("sw.json")
local jsone = require("sw.jsone")
local support = require("support")
local compare = require("jsone.compare")

local null = json.null
local A, O = json.array, json.object

local SEED = tonumber(os.getenv("SW_JSONE_SEED") or "1")
local NCASES = tonumber(os.getenv("SW_JSONE_CASES") or "400")
local NOW = "2017-01-19T16:27:20.974Z"

-- xorshift64*: the same sequence on every platform.
local state = SEED * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D
local function rand(n)
  state = state ~ (state >> 12)
  state = state ~ (state << 25)
  state = state ~ (state >> 27)
  local r = (state * 0x2545F4914F6CDD1D) >> 33
  return r % n + 1
end
local function pick(list)
  return list[rand(#list)]
end
local function chance(p)
  return rand(1000) <= p * 1000
end

-- The context every generated case gets (objects without array-index keys,
-- so that json-e's key order is the sorted order we use).
local function context()
  return O({
    now = NOW,
    a = 3, b = -2, c = 2.5, z = 0, big = 1000000000000000, tiny = 0.001,
    s = "hello", t = "World", u = "h\u{E9}llo w\u{F6}rld \u{3A3}\u{3C3}", e = "",
    sp = "  padded \t", csv = "a,b,,c",
    yes = true, no = false, n = null,
    arr = A({ 1, 2, 3 }), nums = A({ 5, -1, 2.5, 0, 10 }), sarr = A({ "b", "a", "C", "\u{E9}" }),
    mixed = A({ 1, "a", null, true, A({ 1 }), O({ k = 1 }) }), empty = A({}),
    nested_arr = A({ A({ 1, A({ 2, A({ 3 }) }) }), 4, A({}) }),
    obj = O({ x = 1, y = "two", w = A({ 3 }) }), eobj = O({}),
    deep = O({ p = O({ q = O({ r = 42 }) }) }),
    objs = A({ O({ name = "b", v = 2 }), O({ name = "a", v = 1 }), O({ name = "c", v = 3 }) }),
  })
end

local VARS = {
  num = { "a", "b", "c", "z", "big", "tiny" },
  str = { "s", "t", "u", "e", "sp", "csv" },
  bool = { "yes", "no" },
  arr = { "arr", "nums", "sarr", "mixed", "empty", "nested_arr", "objs" },
  obj = { "obj", "eobj", "deep" },
}
local TYPES = { "num", "str", "bool", "arr", "obj", "null" }

local gen

local function num_lit()
  return pick({ "0", "1", "2", "3", "7", "10", "0.5", "2.5", "100", "1.25", "16" })
end

local function str_lit()
  return pick({ "'abc'", '"x y"', "'\u{C4}\u{D6}\u{FC}'", "''", "'a,b'", "\"it's\"", "'ABC def'",
    "'\u{DF}'", "'\u{130}'", "' z '", "'\u{1F600}x'", "'\u{E000}'", "'\u{10000}'" })
end

local function call(name, ...)
  return name .. "(" .. table.concat({ ... }, ", ") .. ")"
end

local GEN = {}

function GEN.num(d)
  local r = rand(d <= 0 and 3 or 16)
  if r == 1 then
    return num_lit()
  elseif r == 2 then
    return pick(VARS.num)
  elseif r == 3 then
    return "len(" .. pick(VARS.str) .. ")"
  elseif r <= 7 then
    local op = pick({ "+", "-", "*", "/", "**", "+", "-", "*" })
    if op == "**" then
      -- (no negative exponents: -0 is 0 here, see docs/reference.md (sw.jsone))
      return "(" .. gen("num", d - 1) .. ") ** " .. pick({ "2", "0.5", "3", "0" })
    end
    return "(" .. gen("num", d - 1) .. " " .. op .. " " .. gen("num", d - 1) .. ")"
  elseif r == 8 then
    return "-" .. gen("num", d - 1)
  elseif r == 9 then
    return call(pick({ "min", "max" }), gen("num", d - 1), gen("num", d - 1), num_lit())
  elseif r == 10 then
    return call(pick({ "abs", "floor", "ceil", "sqrt" }), gen("num", d - 1))
  elseif r == 11 then
    return call("number", pick({ "'12'", "' 3.5 '", "'0x1f'", "'abc'", "'1e3'", "''", "'-0'",
      "'0b101'", "'.5'", "'5.'", "'Infinity'", "'1_0'" }))
  elseif r == 12 then
    return "len(" .. pick(VARS.arr) .. ")"
  elseif r == 13 then
    return pick({ "arr", "nums" }) .. "[" .. pick({ "0", "1", "-1", "-2", "4", "a - 3" }) .. "]"
  elseif r == 14 then
    return pick({ "deep.p.q.r", "obj.x", "obj['x']", "objs[0].v", "deep['p'].q['r']" })
  elseif r == 15 then
    return "+" .. gen("num", d - 1)
  end
  return "(" .. gen("num", d - 1) .. ")"
end

function GEN.str(d)
  local r = rand(d <= 0 and 2 or 16)
  if r == 1 then
    return str_lit()
  elseif r == 2 then
    return pick(VARS.str)
  elseif r <= 4 then
    return gen("str", d - 1) .. " + " .. gen("str", d - 1)
  elseif r == 5 then
    return call("str", gen(pick({ "num", "num", "bool", "null", "str" }), d - 1))
  elseif r == 6 then
    return call(pick({ "lowercase", "uppercase", "strip", "lstrip", "rstrip" }), gen("str", d - 1))
  elseif r == 7 then
    return call("join", pick({ "sarr", "arr", "mixed", "empty", "nested_arr" }),
      pick({ "','", "''", "' - '", "1" }))
  elseif r == 8 then
    return pick(VARS.str) .. "[" .. pick({ "0", "1", "-1", "2" }) .. "]"
  elseif r == 9 then
    return pick(VARS.str) .. "[" .. pick({ "1:3", ":2", "-3:", "2:-1", ":", "5:1", "-10:2" }) .. "]"
  elseif r == 10 then
    return call("typeof", gen(pick(TYPES), d - 1))
  elseif r == 11 then
    return call("fromNow", pick({ "'1 day'", "'-2 hours 3 min'", "'1y2mo3w'", "'0 seconds'" }),
      pick({ "'2019-03-01T00:00:00.000Z'", "now" }))
  elseif r == 12 then
    return pick({ "obj.y", "sarr[1]", "objs[2].name", "mixed[1]" })
  elseif r == 13 then
    return "'" .. pick({ "q", "${", "$$", "}" }) .. "' + " .. gen("str", d - 1)
  end
  return "str(" .. gen("num", d - 1) .. ")"
end

function GEN.bool(d)
  local r = rand(d <= 0 and 2 or 12)
  if r == 1 then
    return pick({ "true", "false" })
  elseif r == 2 then
    return pick(VARS.bool)
  elseif r <= 4 then
    local ty = pick({ "num", "str", "num" })
    return gen(ty, d - 1) .. " " .. pick({ "<", ">", "<=", ">=" }) .. " " .. gen(ty, d - 1)
  elseif r == 5 then
    local ty = pick(TYPES)
    return gen(ty, d - 1) .. " " .. pick({ "==", "!=" }) .. " " .. gen(ty, d - 1)
  elseif r == 6 then
    return "!" .. gen(pick(TYPES), d - 1)
  elseif r == 7 then
    return "(" .. gen("bool", d - 1) .. ") " .. pick({ "&&", "||" }) .. " ("
      .. gen("bool", d - 1) .. ")"
  elseif r == 8 then
    return gen("str", d - 1) .. " in " .. pick({ "s", "u", "obj", "sarr", "csv" })
  elseif r == 9 then
    return gen(pick({ "num", "str", "null" }), d - 1) .. " in "
      .. pick({ "arr", "mixed", "sarr", "[1, 'a', null]" })
  elseif r == 10 then
    return call("defined", pick({ "'a'", "'nope'", "'min'", "'now'" }))
  end
  return gen(pick(TYPES), d - 1) .. " " .. pick({ "||", "&&" }) .. " " .. gen(pick(TYPES), d - 1)
end

function GEN.arr(d)
  local r = rand(d <= 0 and 1 or 9)
  if r == 1 then
    return pick(VARS.arr)
  elseif r <= 3 then
    local items = {}
    for i = 1, rand(4) - 1 do
      items[i] = gen(pick(TYPES), d - 1)
    end
    return "[" .. table.concat(items, ", ") .. "]"
  elseif r == 4 then
    return call("split", pick({ "csv", "s", "u", "'a--b--'" }),
      pick({ "','", "'l'", "''", "'--'", "1" }))
  elseif r == 5 then
    return call("range", pick({ "0", "1", "5", "-3" }), pick({ "4", "10", "0", "-6" }),
      pick({ "1", "2", "3", "-1", "-2" }))
  elseif r == 6 then
    return call("range", pick({ "0", "2", "-1" }), pick({ "5", "0", "3" }))
  elseif r == 7 then
    return pick({ "arr", "nums", "sarr", "mixed" }) .. "["
      .. pick({ "1:", ":-1", "0:2", "-2:", "a:" }) .. "]"
  elseif r == 8 then
    return pick({ "obj.w", "deep.p.q.r", "mixed[4]" })
  end
  return pick(VARS.arr)
end

function GEN.obj(d)
  local r = rand(d <= 0 and 1 or 4)
  if r == 1 then
    return pick(VARS.obj)
  elseif r == 2 then
    return "{k: " .. gen(pick(TYPES), d - 1) .. ", 'other key': " .. gen(pick(TYPES), d - 1) .. "}"
  elseif r == 3 then
    return pick({ "deep.p", "objs[1]", "mixed[5]", "{}" })
  end
  return "{a: 1, b: [1, 2], c: {d: null}}"
end

function GEN.null()
  return pick({ "null", "n", "obj['missing']", "mixed[2]" })
end

-- An expression of about type ty (now and then of another, on purpose).
function gen(ty, d)
  if chance(0.06) then
    ty = pick(TYPES)
  end
  return GEN[ty](d)
end

-- Broken expressions: syntax errors and json-e's lenient corners.
local BROKEN = {
  "1 +", "(1", "[1, 2", "a.", "a..b", "1 2", "=", "a = 1", "{a 1}", "{a: 1,}", "[1,]",
  "f(", "min(1,)", "x[]", "arr[1:2:3]", "'unterminated", "a & b", "a | b", "#", "1.2.3",
  "true || [1,]", "false && arr[)", "arr[1 2]", "-", "!", "()", "{'a': }", "obj.in", "a ** ",
  "len()", "str()", "sqrt(1, 2)", "range(1, 2.5)", "range(0, 5, 0)", "range(5, 0, 0)",
  "split('a')", "join(arr)", "typeof()", "1 / 0", "1 / (a - 3)", "x", "nope(1)",
  "a(1)", "s.length", "arr.x", "arr['x']", "obj[1]", "obj[1:2]", "5[0]", "null[0]",
  "-'a'", "+'a'", "'a' - 1", "'a' * 2", "[1] + [2]", "{} + 1", "'a' < 1", "null < 1",
  "1 in 1", "1 in obj", "arr[0.5]", "arr[0.5:1]", "s[9]", "arr[3]", "empty[0]", "empty[-1]",
  "lowercase(1)", "min()", "max('a')", "fromNow(1)", "fromNow('xyz')",
  "defined(1)", "number(1)", "len(1)", "strip(null)",
}

local gen_tpl

local function interp_string(d)
  local parts = {}
  for i = 1, rand(3) do
    local r = rand(6)
    if r == 1 then
      parts[i] = pick({ "x", " - ", "$$", "$${a}", "${", "}", "$$${s}" })
    elseif r == 2 then
      parts[i] = "${" .. gen(pick({ "arr", "obj", "bool", "null" }), d) .. "}"
    else
      parts[i] = "${" .. gen(pick({ "num", "str", "num" }), d) .. "}"
    end
  end
  return table.concat(parts, pick({ "", " ", "/" }))
end

local function scalar_tpl()
  local r = rand(6)
  if r == 1 then
    return pick({ 0, 1, -5, 2.5, 1e3 })
  elseif r == 2 then
    return pick({ true, false, null })
  elseif r == 3 then
    return pick({ "plain", "", "$$not", "\u{E9}t\u{E9}" })
  end
  return interp_string(2)
end

local function eval_tpl(d)
  if chance(0.08) then
    return O({ ["$eval"] = pick(BROKEN) })
  end
  return O({ ["$eval"] = gen(pick(TYPES), d) })
end

local OPS = {}

function OPS.eval(d)
  return eval_tpl(d)
end

function OPS.if_(d)
  local t = O({ ["$if"] = gen("bool", 2), ["then"] = gen_tpl(d - 1) })
  if chance(0.6) then
    t["else"] = gen_tpl(d - 1)
  end
  if chance(0.05) then
    t["$then"] = 1
  end
  return t
end

function OPS.let(d)
  local b = O({})
  b[pick({ "a", "s", "fresh" })] = gen_tpl(d - 1)
  if chance(0.3) then
    b[pick({ "b", "t", "1bad", "min" })] = gen_tpl(d - 1)
  end
  local t = O({ ["$let"] = b, ["in"] = gen_tpl(d - 1) })
  if chance(0.05) then
    t["in"] = nil
  end
  return t
end

function OPS.map(d)
  local r = rand(4)
  if r == 1 then
    return O({ ["$map"] = O({ ["$eval"] = gen("arr", 1) }),
      ["each(x)"] = O({ ["$eval"] = "[x, typeof(x)]" }) })
  elseif r == 2 then
    return O({ ["$map"] = O({ ["$eval"] = pick({ "arr", "nums", "range(0, 4)" }) }),
      ["each(x,i)"] = O({ ["$eval"] = "x * i + a" }) })
  elseif r == 3 then
    return O({ ["$map"] = O({ ["$eval"] = pick({ "obj", "deep", "eobj", "{p: 1, q: 2}" }) }),
      ["each(v,k)"] = O({ ["${k}_x"] = O({ ["$eval"] = "v" }) }) })
  end
  return O({ ["$map"] = A({ 1, "two", O({ ["$eval"] = "a" }) }),
    [pick({ "each(y)", "each(y, j)", "each(1)", "each (y)" })] = gen_tpl(d - 1) })
end

function OPS.reduce(_)
  local r = rand(3)
  if r == 1 then
    return O({ ["$reduce"] = O({ ["$eval"] = pick({ "arr", "nums", "range(1, 6)" }) }),
      initial = 0, ["each(acc, x)"] = O({ ["$eval"] = "acc + x" }) })
  elseif r == 2 then
    return O({ ["$reduce"] = O({ ["$eval"] = "sarr" }), initial = "",
      ["each(acc,x,i)"] = "${acc}${i}${x}" })
  end
  return O({ ["$reduce"] = A({ 1, 2 }), initial = O({ ["$eval"] = "not rendered" }),
    ["each(acc, x)"] = O({ ["$if"] = "x > 1", ["then"] = O({ ["$eval"] = "acc" }) }) })
end

function OPS.find(_)
  return O({ ["$find"] = O({ ["$eval"] = pick({ "arr", "nums", "sarr", "objs", "empty" }) }),
    [pick({ "each(x)", "each(x,i)" })] = pick({ "x == 2", "typeof(x) == 'string'", "i > 1",
      "x.v == 3", "false" }) })
end

function OPS.match(d)
  return O({ ["$match"] = O({ [gen("bool", 1)] = gen_tpl(d - 1), [gen("bool", 1)] = gen_tpl(d - 1),
    ["a > 1"] = O({ ["$if"] = "false" }) }) })
end

function OPS.switch(d)
  local cases = O({ [gen("bool", 1)] = gen_tpl(d - 1),
    ["a == " .. pick({ "3", "4" })] = gen_tpl(d - 1) })
  if chance(0.5) then
    cases["$default"] = gen_tpl(d - 1)
  end
  return O({ ["$switch"] = cases })
end

function OPS.merge(d)
  local op = pick({ "$merge", "$mergeDeep" })
  local items = A({ O({ a = 1, l = A({ 1 }), o = O({ x = 1 }) }), O({ ["$eval"] = gen("obj", 1) }),
    O({ b = gen_tpl(d - 1), l = A({ 2 }), o = O({ y = 2, x = O({ z = 1 }) }) }) })
  if chance(0.1) then
    items[#items + 1] = 5
  end
  return O({ [op] = items })
end

function OPS.sort(_)
  local r = rand(4)
  if r == 1 then
    return O({ ["$sort"] = O({ ["$eval"] = pick({ "nums", "sarr", "arr", "mixed", "empty",
      "['\u{E000}', '\u{10000}', 'a', '\u{FFFF}']" }) }) })
  elseif r == 2 then
    return O({ ["$sort"] = O({ ["$eval"] = "objs" }),
      [pick({ "by(o)", "by(x)" })] = pick({ "o.name", "o.v", "-o.v" }) })
  elseif r == 3 then
    return O({ ["$sort"] = A({ 3, 1, 2 }), ["by(x)"] = pick({ "x", "-x", "str(x)", "[x]" }) })
  end
  return O({ ["$sort"] = A({ 2, "a" }) })
end

function OPS.misc(d)
  local r = rand(9)
  if r == 1 then
    return O({ ["$reverse"] = O({ ["$eval"] = gen("arr", 1) }) })
  elseif r == 2 then
    return O({ [pick({ "$flatten", "$flattenDeep" })] =
      O({ ["$eval"] = pick({ "nested_arr", "mixed", "arr", "s" }) }) })
  elseif r == 3 then
    return O({ ["$json"] = gen_tpl(d - 1) })
  elseif r == 4 then
    return O({
      ["$fromNow"] = pick({ "1 day", "2 hours 5 minutes", "-1 week", "3 mo", "bad", "1s 1y" }),
      from = pick({ "2018-12-31T23:59:59.999Z", "2000-02-28T12:00:00.000Z" }) })
  elseif r == 5 then
    return O({ ["$fromNow"] = pick({ "1 day", "10 years" }) })
  elseif r == 6 then
    return O({ ["$$eval"] = "escaped", ["$${s}"] = 1, ["k${a}"] = gen_tpl(d - 1) })
  elseif r == 7 then
    return O({ [pick({ "$unknown", "$eval2" })] = 1, other = gen_tpl(d - 1) })
  elseif r == 8 then
    return O({ ["$eval"] = "a", [pick({ "extra", "then", "x$eval" })] = 1 })
  end
  return O({ ["$if"] = "true", ["$eval"] = "1" })
end

local OP_LIST = { "eval", "eval", "if_", "let", "map", "reduce", "find", "match", "switch",
  "merge", "sort", "misc", "misc" }

function gen_tpl(d)
  if d <= 0 then
    return scalar_tpl()
  end
  local r = rand(10)
  if r <= 2 then
    return scalar_tpl()
  elseif r == 3 then
    local t = A({})
    for i = 1, rand(3) do
      t[i] = gen_tpl(d - 1)
    end
    return t
  elseif r == 4 then
    local t = O({})
    for _ = 1, rand(3) do
      t[pick({ "k", "key two", "3", "${s}", "$$x", "\u{E9}" })] = gen_tpl(d - 1)
    end
    return t
  end
  return OPS[pick(OP_LIST)](d)
end

-- Hand-picked cases: number formatting, Unicode, messages and locations.
local FIXED = {
  { ["$eval"] = "str(10 / 4) + ' ' + str(10 ** 21) + ' ' + str(1 / 3) + ' ' + str(2 ** 0.5)" },
  { ["$eval"] = "[0.1 + 0.2, 1 / 10000000, 123456789 * 987654321, 2 ** 53 + 1, -0, 10 ** 21]" },
  { ["$eval"] = "[str(0.000001), str(1 / 10000000), str(-15 * 10 ** 300), str(2 ** 70)]" },
  { ["$json"] = { 0.1, 1e21, -0.0, 1e-7, 123.456, "\1\31\127\u{2028}\u{E9}\"\\" } },
  { ["$eval"] = "[len(u), u[1], u[-3:], uppercase(u), lowercase('\u{130}\u{C4}\u{DF}'),"
    .. " uppercase('\u{DF}\u{149}')]" },
  { ["$eval"] = "['\u{E000}' < '\u{10000}', '\u{FFFF}' > '\u{1F600}', 'a' < 'B']" },
  { ["$json"] = { ["\u{E000}"] = 1, ["\u{10000}"] = 2, a = 3, B = 4 } },
  { ["$eval"] = "[split('\u{E9}a\u{E9}', ''), split('a1b1', 1), split('', ''), split('', 'x')]" },
  { ["$eval"] = "[number('  42  '), number('0X1F'), number('1e400'), number('-Infinity'),"
    .. " number('1e-7')]" },
  { ["$eval"] = "join([1, null, [2, [3, null]], {}, true], '-')" },
  { a = { { b = { ["c d"] = { ["$eval"] = "nope" } } } } },
  { ["x y"] = { { ["$eval"] = "1 + )" } } },
  { ["$let"] = { x = { ["$eval"] = "[1, 2]" } }, ["in"] = "${x}" },
  { ["$map"] = { 1, 2 }, ["each(x)"] = { ["$if"] = "x > 1", ["then"] = "${x}" } },
  { ["$match"] = { ["true"] = { ["$if"] = "false" } } },
  { ["$mergeDeep"] = { ["$match"] = { ["true"] = { ["$if"] = "false" } } } },
  { ["$eval"] = "fromNow('1000000000 years')" },
  { ["$fromNow"] = "1 day", from = "2017-03-05" },
  { ["$eval"] = "[range(0, 10, 3)[1:], range(10, 0, -4), range(3, 3), range(1, 1, 0)]" },
  { ["$sort"] = { "b", "B", "a", "\u{E9}", "e" } },
  { ["$eval"] = "[2 ** -1, (-8) ** (1/3), 1 ** (10 ** 400), -2 ** 2, 2 ** 3 ** 2]" },
  { ["$eval"] = "[abs(-2.5), floor(-2.5), ceil(-0.5), sqrt(2), max(1, 2.5, -3), min(0)]" },
  { ["$eval"] = "{a: 1, 'b c': [1, 2][1:], '1': 2, '0': 1}" },
  { ["$eval"] = "[s[1:-1], s[-100:100], s[3:1], u[10], arr[:], [1,2,3,4][1:null]]" },
  { ["k.${s}"] = 1, ["$$k"] = 2, ["$${s}"] = 3 },
  { ["$if"] = "a", ["$then"] = 1 },
  { ["$foo"] = 1 },
  { ["$eval"] = "x", ["$if"] = "y" },
}

local function mark(v)
  if type(v) ~= "table" or getmetatable(v) then
    return v
  end
  local n = #v
  local is_arr = n > 0 or next(v) == nil
  for k, x in pairs(v) do
    v[k] = mark(x)
  end
  if is_arr and n > 0 then
    return A(v)
  end
  return O(v)
end

local function build_cases()
  local cases = {}
  for _, t in ipairs(FIXED) do
    cases[#cases + 1] = { template = mark(t) }
  end
  for _ = 1, NCASES do
    local d = rand(4)
    local t = rand(3) == 1 and eval_tpl(d) or gen_tpl(d)
    cases[#cases + 1] = { template = t }
  end
  for _, c in ipairs(cases) do
    c.context = context()
  end
  return cases
end

-- Runs the reference renderer over all cases; returns its outputs or nil
-- and a message.
local function reference(cases)
  local dir = support.tmpdir()
  local input = dir .. "/cases.json"
  local list = A({})
  for i, c in ipairs(cases) do
    list[i] = O({ template = c.template, context = c.context })
  end
  -- sorted keys: json-e visits keys in insertion order, we in sorted order
  local text = assert(json.encode(list, { canonical = true }))
  local f = assert(io.open(input, "wb"))
  f:write(text)
  f:close()
  local p = assert(io.popen("node tests/jsone/render.js '" .. input .. "' 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  os.execute("rm -rf '" .. dir .. "'")
  if not ok then
    return nil, string.format("node tests/jsone/render.js failed (exit %s): %s",
      tostring(code), out)
  end
  local decoded, err = json.decode(out)
  if not decoded then
    return nil, "cannot decode the reference output: " .. tostring(err)
  end
  return decoded
end

-- The reference writes NaN and the infinities as {"$number": "NaN"}.
local function number_marker(v)
  if compare.kind(v) == "object" and type(v["$number"]) == "string" then
    return v["$number"]
  end
  return nil
end

describe("sw.jsone against npm json-e 4.8.4", function()
  local cases = build_cases()
  local ref, ref_err = reference(cases)
  if not ref then
    it("runs the reference renderer (needs `make deps`)", function()
      error(ref_err)
    end)
    return
  end

  local stats = { results = 0, errors = 0, js_crashes = 0 }

  it("renders every case in the reference", function()
    assert.equal(#cases, #ref)
  end)

  for i, c in ipairs(cases) do
    local label = json.encode(c.template) or "?"
    if #label > 120 then
      label = label:sub(1, 117) .. "..."
    end
    it(string.format("case %d: %s", i, label), function()
      local want = ref[i]
      local result, err, kind = jsone.render(c.template, c.context)
      if want.error then
        assert(result == nil, "reference failed with " .. want.error.message
          .. ", we gave " .. (json.encode(result) or tostring(result)))
        if want.error.jsone then
          assert.equal(want.error.kind, kind)
          assert.equal(want.error.message, err)
          stats.errors = stats.errors + 1
        else
          assert.is_string(err)
          stats.js_crashes = stats.js_crashes + 1
        end
      else
        assert(err == nil, "reference gave " .. tostring(json.encode(want.result))
          .. ", we failed: " .. tostring(err))
        local d = compare.diff(want.undefined and null or want.result, result, number_marker)
        assert(d == nil, d)
        stats.results = stats.results + 1
      end
    end)
  end

  teardown(function()
    print(string.format("\njsone differential: %d cases (seed %d): %d same results, "
      .. "%d same errors, %d json-e crashes (we raise an error)",
      #cases, SEED, stats.results, stats.errors, stats.js_crashes))
  end)
end)
