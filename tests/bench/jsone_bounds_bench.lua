-- Helper of bench_jsone_bounds.sh, run as `scriptworker lua
-- jsone_bounds_bench.lua`: renders the worst case of each bound of
-- sw.jsone with the default options (the limits stop each one) and prints
-- one line per case: its name, wall seconds and how the render ended.
local json = require("sw.json")
local jsone = require("sw.jsone")
local ok, sched = pcall(require, "sw.sched")
local wall = ok and sched.monotonic or os.clock

local A, O = json.array, json.object
local MiB = 1024 * 1024

-- {$map: range(0, n), each(x): each}
local function map(n, each)
  return O({ ["$map"] = O({ ["$eval"] = "range(0, " .. n .. ")" }), ["each(x)"] = each })
end

-- a list literal of n ones: 2n + 1 tokens
local function ones(n)
  return "[" .. string.rep("1,", n - 1) .. "1]"
end

local cases = {}
local function case(name, template, context, opts)
  cases[#cases + 1] = { name = name, template = template, context = context, opts = opts }
end

-- substring search: string.find compares up to #p bytes at each position
local s = string.rep("a", 4 * MiB)
local long = string.rep("a", 2 * MiB - 1) .. "b"
local short = string.rep("a", 63) .. "b"
local just_long = string.rep("a", 64) .. "b"
case("split(4 MiB, 2 MiB needle)", map(100, O({ ["$eval"] = "split(s, p)" })), O({ s = s, p = long }))
case("in (4 MiB, 2 MiB needle)", map(100, O({ ["$eval"] = "p in s" })), O({ s = s, p = long }))
case("split(4 MiB, 1 MiB needle)", map(100, O({ ["$eval"] = "split(s, p)" })),
  O({ s = s, p = string.rep("a", MiB - 1) .. "b" }))
case("split(4 MiB, 64 B needle)", map(1000, O({ ["$eval"] = "split(s, p)" })), O({ s = s, p = short }))
case("split(4 MiB, 65 B needle)", map(1000, O({ ["$eval"] = "split(s, p)" })),
  O({ s = s, p = just_long }))

-- expressions: parsing (8 units a token) and evaluation (a unit a node)
local src = ones(50000)
case("100 KB $eval in $map", map(1000000, O({ ["$eval"] = src })))
case("100 KB ${} in $map", map(1000000, "${len(" .. src .. ")}"))
case("4 MiB $eval", O({ ["$eval"] = ones(2 * MiB) }))
local distinct = {}
for i = 1, 200000 do
  distinct[i] = O({ ["$eval"] = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, " .. i .. "]" })
end
case("200000 distinct expressions", A(distinct))

-- template depth: max_depth counts as at most 1000
local deep = 1
for _ = 1, 300000 do
  deep = A({ deep })
end
case("300000 nested arrays", deep, nil, { max_depth = 1000000000 })
-- a lookup walks the scopes between the expression and the name
local lets = map(1000000, O({ ["$eval"] = "len([]) + z" }))
for _ = 1, 997 do
  lets = O({ ["$let"] = O({ y = 1 }), ["in"] = lets })
end
case("$map inside 997 nested $let", lets, O({ z = 1 }), { max_depth = 1000000000 })

-- slice start coerced as JavaScript does: Number() of a long string
case("slice from a 4 MiB string", map(1000000, O({ ["$eval"] = "[1, 2, 3][t:1]" })),
  O({ t = string.rep(" ", 4 * MiB - 1) .. "5" }))

-- $sort by(x) given an array: json-e's tokenizer over its elements
local by = { "[" }
for i = 2, 999999, 2 do
  by[i], by[i + 1] = "1", json.null
end
by[#by + 1] = "]"
case("$sort by(x) a 1M-element array", map(1000, O({ ["$sort"] = A({ 2, 1 }), ["by(x)"] = A(by) })))

for _, c in ipairs(cases) do
  collectgarbage()
  local t0 = wall()
  local result, err = jsone.render(c.template, c.context, c.opts)
  local secs = wall() - t0
  local outcome = err and err:gsub("template[%[%]%d.]+", "template...") or ("a " .. jsone.kind(result))
  print(string.format("%-34s %7.3f s  %s", c.name, secs, outcome:sub(1, 70)))
end
