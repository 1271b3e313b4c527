-- sw.yaml: YAML loaded as PyYAML's safe_load loads it (core/yaml.c). The
-- expected values were taken from PyYAML 6.0 (python3 -c 'import yaml;
-- print(repr(yaml.safe_load(...)))'), except where docs/reference.md (sw.yaml) lists a
-- deliberate difference; those cases say so.
local json = require("sw.json")
local yaml = require("sw.yaml")
local support = require("support")

local null = json.null
local NAN = setmetatable({}, { __name = "NaN" }) -- marks an expected NaN

local function arr(t)
  return setmetatable(t, json.array_mt)
end

local function obj(t)
  return setmetatable(t, json.object_mt)
end

local function show(v)
  if type(v) == "string" then
    return string.format("%q", v)
  elseif math.type(v) == "float" then
    return string.format("%.17g (float)", v)
  end
  return tostring(v)
end

-- nil when actual is expected: same types, integer/float subtypes,
-- array/object marks and keys; otherwise where and how they differ.
local function differ(expected, actual, path)
  path = path or "value"
  if expected == NAN then
    if math.type(actual) == "float" and actual ~= actual then
      return nil
    end
    return path .. ": expected NaN, got " .. show(actual)
  end
  if type(expected) ~= "table" then
    if type(expected) ~= type(actual) or math.type(expected) ~= math.type(actual)
      or expected ~= actual then
      return path .. ": expected " .. show(expected) .. ", got " .. show(actual)
    end
    return nil
  end
  if type(actual) ~= "table" then
    return path .. ": expected a table, got " .. show(actual)
  end
  if getmetatable(actual) ~= getmetatable(expected) then
    return path .. ": not marked as " ..
      (getmetatable(expected) == json.array_mt and "an array" or "an object")
  end
  for k, v in pairs(expected) do
    local d = differ(v, actual[k], path .. "[" .. show(k) .. "]")
    if d then
      return d
    end
  end
  for k in pairs(actual) do
    if expected[k] == nil then
      return path .. ": unexpected key " .. show(k)
    end
  end
  return nil
end

local function assert_loads(text, expected, opts)
  local v, msg = yaml.load(text, opts)
  assert.is_nil(msg)
  local d = differ(expected, v)
  assert(d == nil, d)
end

local function assert_refused(text, message, code, opts)
  local v, msg, c = yaml.load(text, opts)
  assert.is_nil(v)
  assert.are.equal(message, msg)
  assert.are.equal(code or "parse", c)
end

-- A structural fingerprint of a value and its FNV-1a hash; the Python side
-- (the same function over yaml.safe_load) gave the numbers in CONFORMANCE.
local function fingerprint(v, out)
  if v == null then
    out[#out + 1] = "n"
  elseif v == true or v == false then
    out[#out + 1] = v and "t" or "f"
  elseif math.type(v) == "integer" then
    out[#out + 1] = "i" .. v .. ";"
  elseif math.type(v) == "float" then
    out[#out + 1] = string.format("d%.17g;", v)
  elseif type(v) == "string" then
    out[#out + 1] = "s" .. #v .. ":" .. v
  elseif getmetatable(v) == json.array_mt then
    out[#out + 1] = "["
    for i = 1, #v do
      fingerprint(v[i], out)
    end
    out[#out + 1] = "]"
  else
    local items = {}
    for k, x in pairs(v) do
      items[#items + 1] = table.concat(fingerprint(x, fingerprint(k, {})))
    end
    table.sort(items)
    out[#out + 1] = "{" .. table.concat(items) .. "}"
  end
  return out
end

local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h
end

-- The text of a "billion laughs" document: 9 levels of 9 aliases.
local function billion_laughs()
  local lines = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
  for i = 2, 9 do
    local name, prev = string.char(96 + i), string.char(95 + i)
    lines[i] = string.format("%s: &%s [%s]", name, name, string.rep("*" .. prev, 9, ","))
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Every plain scalar rule of PyYAML's resolver, both sides of each.
local RESOLVED = {
  -- null
  { "~", null }, { "null", null }, { "Null", null }, { "NULL", null },
  { "nULL", "nULL" }, { "nil", "nil" }, { "None", "None" },
  -- bool
  { "yes", true }, { "Yes", true }, { "YES", true }, { "no", false }, { "No", false },
  { "NO", false }, { "true", true }, { "True", true }, { "TRUE", true },
  { "false", false }, { "False", false }, { "FALSE", false }, { "on", true },
  { "On", true }, { "ON", true }, { "off", false }, { "Off", false }, { "OFF", false },
  { "yEs", "yEs" }, { "y", "y" }, { "n", "n" }, { "Y", "Y" }, { "N", "N" },
  { "tRUE", "tRUE" }, { "oN", "oN" }, { "0ff", "0ff" },
  -- int: decimal, with '_' and a sign
  { "0", 0 }, { "-0", 0 }, { "+1", 1 }, { "12", 12 }, { "-12", -12 },
  { "1_000", 1000 }, { "1__0", 10 },
  -- int: octal is a leading 0 (YAML 1.1), not 0o
  { "010", 8 }, { "+010", 8 }, { "-010", -8 }, { "00", 0 }, { "0_", 0 },
  { "08", "08" }, { "09", "09" }, { "0_8", "0_8" }, { "0o10", "0o10" },
  -- int: binary and hexadecimal
  { "0b101", 5 }, { "-0b101", -5 }, { "0b1_0", 2 }, { "0b2", "0b2" }, { "0B1", "0B1" },
  { "0x1F", 31 }, { "0x1f", 31 }, { "-0x1F", -31 }, { "0x_1F", 31 },
  { "0X1F", "0X1F" }, { "0x1g", "0x1g" },
  -- int: sexagesimal
  { "190:20:30", 685230 }, { "-1:30", -90 }, { "1:5", 65 }, { "1_0:30", 630 },
  { "1:05", 65 }, { "1:2:3", 3723 }, { "1:60", "1:60" }, { "0:30", "0:30" },
  -- int: the 64-bit range
  { "9223372036854775807", math.maxinteger }, { "-9223372036854775808", math.mininteger },
  -- float: a point is required, an exponent needs its sign
  { "1.5", 1.5 }, { "-1.5", -1.5 }, { "+1.5", 1.5 }, { "1.", 1.0 }, { "0.", 0.0 },
  { "-1.", -1.0 }, { ".5", 0.5 }, { "-.5", "-.5" }, { "+.5", "+.5" },
  { "1_000.5", 1000.5 }, { "1._5", 1.5 }, { "1.5e+3", 1500.0 }, { "1.5E-3", 0.0015 },
  { ".5e+3", 500.0 }, { "1.5e3", "1.5e3" }, { "1e3", "1e3" }, { "1e+3", "1e+3" },
  { "1.5e+3_0", "1.5e+3_0" },
  -- float: sexagesimal
  { "190:20:30.15", 685230.15 }, { "1:20.5", 80.5 }, { "0:30.5", 30.5 },
  { "-1:30.5", -90.5 },
  -- float: infinity and NaN
  { ".inf", math.huge }, { ".Inf", math.huge }, { ".INF", math.huge },
  { "+.inf", math.huge }, { "-.inf", -math.huge }, { "-.Inf", -math.huge },
  { ".iNf", ".iNf" }, { "inf", "inf" }, { "Infinity", "Infinity" },
  { ".nan", NAN }, { ".NaN", NAN }, { ".NAN", NAN }, { "-.nan", "-.nan" },
  { "+.nan", "+.nan" }, { "nan", "nan" },
  -- strings that look like numbers
  { "._5", "._5" }, { ".", "." }, { "0.1.2", "0.1.2" }, { "1,000", "1,000" },
  { "1 000", "1 000" }, { "12abc", "12abc" },
  -- timestamps stay strings (PyYAML builds datetime objects)
  { "2001-12-14", "2001-12-14" },
  { "2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00" },
  { "2001-12-14 21:59:43.10 -5", "2001-12-14 21:59:43.10 -5" },
  { "2002-1-1", "2002-1-1" },
}

local CONFORMANCE = {
  -- path under shared/conformance, documents, fingerprint length and hash
  { "jsone/specification.yml", 1211, 161350, 0x1ec74bf2 },
  { "scriptworker/cotv2/.taskcluster.yml", 1, 5238, 0xfc8350c0 },
  { "scriptworker/cotv2/parameters.yml", 1, 727, 0xd104ba09 },
  { "scriptworker/cotv2/projects.yml", 1, 7183, 0x1333bc77 },
  { "scriptworker/cotv4/.taskcluster.yml", 1, 6925, 0x498b7282 },
  { "scriptworker/cotv4/parameters.yml", 1, 965, 0x6ef71683 },
  { "scriptworker/cotv4/private_github_.taskcluster.yml", 1, 8217, 0xbc90faaa },
  { "scriptworker/cotv4/projects.yml", 1, 8112, 0x71474c46 },
}

describe("sw.yaml", function()
  describe("plain scalars follow PyYAML's YAML 1.1 resolver", function()
    for _, case in ipairs(RESOLVED) do
      local text, expected = case[1], case[2]
      local want = expected == NAN and "NaN" or show(expected)
      it(string.format("%q is %s", text, want), function()
        assert_loads(text, expected)
        assert_loads("- " .. text, arr({ expected }))
      end)
    end

    it("makes an empty value null", function()
      assert_loads("a:\nb: ''", obj({ a = null, b = "" }))
      assert_loads("- \n-", arr({ null, null }))
      assert_loads("{a: , b: }", obj({ a = null, b = null }))
    end)

    it("makes integers beyond 64 bits the nearest float (PyYAML: a big int)", function()
      assert_loads("9223372036854775808", 9223372036854775808.0)
      assert_loads("-9223372036854775809", -9223372036854775808.0)
      assert_loads("0x8000000000000000", 2.0 ^ 63)
      assert_loads("0x1" .. string.rep("0", 20), 2.0 ^ 80)
      -- rounded to nearest, ties to even, as Python's float(int)
      assert_loads("0x1fffffffffffff7ff", 3.6893488147419099e+19)
      assert_loads("0x1fffffffffffff800", 3.6893488147419103e+19)
      assert_loads("0x1ffffffffffffe800", 3.6893488147419095e+19)
      assert_loads("0x1fffffffffffff8001", 5.9029581035870565e+20)
      assert_loads("0x1fffffffffffff7fff", 5.9029581035870559e+20)
      assert_loads("0777777777777777777777777", 4.7223664828696452e+21)
      assert_loads("18446744073709551617", 1.8446744073709552e+19)
      assert_loads("0b1" .. string.rep("0", 70), 2.0 ^ 70)
      assert_loads("01" .. string.rep("0", 30), 2.0 ^ 90)
      assert_loads("1" .. string.rep("0", 30), 1e30)
      assert_loads("1" .. string.rep("0", 400), math.huge)
    end)

    it("reads a multi-line plain scalar as one folded string", function()
      assert_loads("a: 1\n  2\nb: yes\n  no", obj({ a = "1 2", b = "yes no" }))
    end)
  end)

  describe("quoted, block and tagged scalars", function()
    it("keeps quoted and block scalars as strings", function()
      assert_loads("['yes', \"010\", '~', '', '1.5', \"null\"]",
        arr({ "yes", "010", "~", "", "1.5", "null" }))
      assert_loads("a: |\n  yes\nb: >-\n  12\n", obj({ a = "yes\n", b = "12" }))
    end)

    it("resolves a scalar with the non-specific tag ! as PyYAML does", function()
      assert_loads("! 12", 12)
      assert_loads('! "12"', 12)
      assert_loads("! yes", true)
    end)

    it("honours !!str", function()
      assert_loads("[!!str 12, !!str yes, !!str ~, !!str ]", arr({ "12", "yes", "~", "" }))
    end)

    it("honours !!int", function()
      assert_loads("[!!int '12', !!int \"0x1F\", !!int 1:30, !!int 1_0, !!int '-010']",
        arr({ 12, 31, 90, 10, -8 }))
    end)

    it("refuses an !!int it cannot read", function()
      assert_refused("!!int abc", 'yaml: line 1 column 1: invalid int "abc"')
      assert_refused("a: !!int 1.5", 'yaml: line 1 column 4: invalid int "1.5"')
      assert_refused("!!int", 'yaml: line 1 column 1: invalid int ""')
      assert_refused("0b_", 'yaml: line 1 column 1: invalid int "0b_"')
      -- Python's int() takes "0o17" in base 8; we do not
      assert_refused("!!int 0o17", 'yaml: line 1 column 1: invalid int "0o17"')
    end)

    it("honours !!float", function()
      assert_loads("[!!float '1', !!float 1e3, !!float .5, !!float 1_0, !!float -2]",
        arr({ 1.0, 1000.0, 0.5, 10.0, -2.0 }))
      assert_loads("[!!float infinity, !!float -.inf, !!float 1:30]",
        arr({ math.huge, -math.huge, 90.0 }))
      assert_loads("!!float nan", NAN)
    end)

    it("refuses a !!float it cannot read", function()
      assert_refused("!!float x", 'yaml: line 1 column 1: invalid float "x"')
      assert_refused("!!float '1e'", 'yaml: line 1 column 1: invalid float "1e"')
      assert_refused("!!float ' 1'", 'yaml: line 1 column 1: invalid float " 1"')
    end)

    it("honours !!bool in any case", function()
      assert_loads("[!!bool yEs, !!bool 'off', !!bool TRUE]", arr({ true, false, true }))
      assert_refused("!!bool 1", 'yaml: line 1 column 1: invalid bool "1"')
      assert_refused("!!bool y_es", 'yaml: line 1 column 1: invalid bool "y_es"')
    end)

    it("honours !!null whatever the scalar says", function()
      assert_loads("[!!null x, !!null '', !!null ]", arr({ null, null, null }))
    end)

    it("keeps an !!timestamp as its string when it is one", function()
      assert_loads("[!!timestamp 2001-1-1, !!timestamp '2001-12-14 21:59:43.10 Z']",
        arr({ "2001-1-1", "2001-12-14 21:59:43.10 Z" }))
      assert_refused("!!timestamp 2001-12-14T1", 'yaml: line 1 column 1: invalid timestamp ' ..
        '"2001-12-14T1"')
    end)

    it("honours !!seq and !!map on their own kind of node", function()
      assert_loads("!!map {a: !!seq [1]}", obj({ a = arr({ 1 }) }))
    end)

    it("refuses a tag on the wrong kind of node", function()
      assert_refused("!!str [1]", "yaml: line 1 column 1: expected a scalar node, but found sequence")
      assert_refused("a: !!int {}", "yaml: line 1 column 4: expected a scalar node, but found mapping")
      assert_refused("!!seq a", "yaml: line 1 column 1: expected a sequence node, but found scalar")
      assert_refused("!!map [a]", "yaml: line 1 column 1: expected a mapping node, but found sequence")
    end)

    it("refuses the tags safe_load refuses, naming line and column", function()
      assert_refused("a: 1\nb: !!python/object/apply:os.system ['true']",
        "yaml: line 2 column 4: could not determine a constructor for the tag " ..
        "'tag:yaml.org,2002:python/object/apply:os.system'")
      assert_refused("!!python/name:os.system x", "yaml: line 1 column 1: could not determine " ..
        "a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'")
      assert_refused("- !foo x", "yaml: line 1 column 3: could not determine a constructor for " ..
        "the tag '!foo'")
      assert_refused("!<tag:example.com,2000:x> {}", "yaml: line 1 column 1: could not " ..
        "determine a constructor for the tag 'tag:example.com,2000:x'")
    end)

    it("refuses !!binary, !!set, !!omap and !!pairs (PyYAML builds them)", function()
      for _, tag in ipairs({ "binary aGk=", "set {a}", "omap [a: 1]", "pairs [a: 1]" }) do
        local v, msg = yaml.load("!!" .. tag)
        assert.is_nil(v)
        assert.are.equal("yaml: line 1 column 1: could not determine a constructor for the " ..
          "tag 'tag:yaml.org,2002:" .. tag:match("^%a+") .. "'", msg)
      end
    end)

    it("expands tag handles declared with %TAG", function()
      assert_loads("%TAG !e! tag:yaml.org,2002:\n---\n[!e!int '7', !e!str 7]", arr({ 7, "7" }))
    end)
  end)

  describe("collections", function()
    it("marks sequences with json.array_mt and mappings with json.object_mt", function()
      local v = assert(yaml.load("a: [1, {b: []}]\nc: {}\nd:\n  - x\n  - y: z\n"))
      assert.are.equal(json.object_mt, getmetatable(v))
      assert.are.equal(json.array_mt, getmetatable(v.a))
      assert.are.equal(json.object_mt, getmetatable(v.a[2]))
      assert.are.equal(json.array_mt, getmetatable(v.a[2].b))
      assert.are.equal(json.object_mt, getmetatable(v.c))
      assert_loads("a: [1, {b: []}]\nc: {}\nd:\n  - x\n  - y: z\n", obj({
        a = arr({ 1, obj({ b = arr({}) }) }),
        c = obj({}),
        d = arr({ "x", obj({ y = "z" }) }),
      }))
    end)

    it("keeps json.null in sequences, so their length stays right", function()
      local v = assert(yaml.load("[~, 1, null]"))
      assert.are.equal(3, #v)
      assert.are.equal(null, v[1])
    end)

    it("keeps keys typed as PyYAML does: ints, floats, bools, null", function()
      local v = assert(yaml.load("1: a\n0x10: b\n1.5: c\nyes: d\noff: e\n~: f\n'2': g\n"))
      assert.are.equal("a", v[1])
      assert.are.equal("b", v[16])
      assert.are.equal("c", v[1.5])
      assert.are.equal("d", v[true])
      assert.are.equal("e", v[false])
      assert.are.equal("f", v[null])
      assert.are.equal("g", v["2"])
    end)

    it("folds a float key with an integer value into the integer key, as Python", function()
      assert_loads("{1.0: a, 1: b}", obj({ [1] = "b" }))
    end)

    it("keeps true apart from 1 (Python: True == 1 as a key)", function()
      assert_loads("{yes: a, 1: b}", obj({ [true] = "a", [1] = "b" }))
    end)

    it("lets the last of duplicate keys win", function()
      assert_loads("a: 1\nb: 2\na: 3\n", obj({ a = 3, b = 2 }))
    end)

    it("refuses a sequence or mapping as a key", function()
      assert_refused("? [a]\n: 1", "yaml: line 1 column 3: found unhashable key " ..
        "(while constructing a mapping at line 1 column 1)")
      assert_refused("x:\n  {a: 1}: 2", "yaml: line 2 column 3: found unhashable key " ..
        "(while constructing a mapping at line 2 column 3)")
    end)

    it("refuses a NaN key, which a Lua table cannot hold", function()
      assert_refused("a: 1\n.nan: 2", "yaml: line 2 column 1: found a NaN key, which a Lua " ..
        "table cannot hold (while constructing a mapping at line 1 column 1)")
    end)

    it("reads the YAML 1.1 value key = as a string key only", function()
      assert_loads("=: 1", obj({ ["="] = 1 }))
      assert_refused("a: =", "yaml: line 1 column 4: could not determine a constructor for " ..
        "the tag 'tag:yaml.org,2002:value'")
    end)
  end)

  describe("merge keys", function()
    it("merges one mapping", function()
      assert_loads("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  z: 3\n", obj({
        base = obj({ x = 1, y = 2 }),
        other = obj({ x = 1, y = 2, z = 3 }),
      }))
    end)

    it("lets the mapping's own keys win, before or after <<", function()
      assert_loads("- &b {x: 1, y: 2}\n- {x: 0, <<: *b, y: 0}\n",
        arr({ obj({ x = 1, y = 2 }), obj({ x = 0, y = 0 }) }))
    end)

    it("lets the first mapping of a list win", function()
      assert_loads("<<: [{a: 1}, {a: 2, b: 2}]\nc: 4\n", obj({ a = 1, b = 2, c = 4 }))
    end)

    it("lets a later << win over an earlier one", function()
      assert_loads("<<: [{a: 1}, {a: 2, b: 2}]\n<<: {b: 3, c: 3}\nc: 4\n",
        obj({ a = 1, b = 3, c = 4 }))
    end)

    it("merges a list reached through an alias, and merges of merges", function()
      assert_loads("l: &l [{a: 1}, {b: 2}]\nm: &m {<<: *l, c: 3}\nn: {<<: *m}\n", obj({
        l = arr({ obj({ a = 1 }), obj({ b = 2 }) }),
        m = obj({ a = 1, b = 2, c = 3 }),
        n = obj({ a = 1, b = 2, c = 3 }),
      }))
    end)

    it("treats a quoted '<<' as an ordinary key", function()
      assert_loads("'<<': {a: 1}", obj({ ["<<"] = obj({ a = 1 }) }))
    end)

    it("ignores the tag of a merged mapping, as PyYAML does", function()
      assert_loads("{<<: !!str {a: 1}, b: 2}", obj({ a = 1, b = 2 }))
      assert_refused("a: &x !!str {}\nb: {<<: *x}", "yaml: line 1 column 4: expected a scalar " ..
        "node, but found mapping")
    end)

    it("refuses a scalar to merge", function()
      assert_refused("<<: 1", "yaml: line 1 column 5: expected a mapping or list of mappings " ..
        "for merging, but found scalar (while constructing a mapping at line 1 column 1)")
    end)

    it("refuses a list item that is not a mapping, pointing at the item", function()
      assert_refused("a:\n  <<: [{b: 1}, 2]", "yaml: line 2 column 16: expected a mapping for " ..
        "merging, but found scalar (while constructing a mapping at line 2 column 3)")
      -- through an alias, the position is the list's (PyYAML: the item's)
      assert_refused("l: &l [[1]]\nm: {<<: *l}", "yaml: line 1 column 4: expected a mapping " ..
        "for merging, but found sequence (while constructing a mapping at line 2 column 4)")
    end)

    it("refuses << anywhere but as a key", function()
      assert_refused("a: <<", "yaml: line 1 column 4: could not determine a constructor for " ..
        "the tag 'tag:yaml.org,2002:merge'")
    end)
  end)

  describe("anchors and aliases", function()
    it("shares the anchor's table with each alias", function()
      local v = assert(yaml.load("a: &x {k: [1]}\nb: *x\nc: [*x, *x]\n"))
      assert.are.equal(v.a, v.b)
      assert.are.equal(v.a, v.c[1])
      assert.are.equal(v.a, v.c[2])
    end)

    it("repeats a scalar's value", function()
      assert_loads("[&x 010, *x, &y ~, *y]", arr({ 8, 8, null, null }))
    end)

    it("refuses an undefined alias", function()
      assert_refused("a: 1\nb: *nope", "yaml: line 2 column 4: found undefined alias 'nope'")
    end)

    it("refuses an anchor defined twice in a document", function()
      assert_refused("a: &x 1\nb: &x 2", "yaml: line 2 column 4: found duplicate anchor 'x' " ..
        "(first occurrence at line 1 column 4)")
    end)

    it("refuses a recursive structure (PyYAML builds one)", function()
      assert_refused("&a [1, *a]", "yaml: line 1 column 8: alias 'a' inside its own node " ..
        "(recursive structures are not supported)")
      assert_refused("&a {<<: *a}", "yaml: line 1 column 9: alias 'a' inside its own node " ..
        "(recursive structures are not supported)")
    end)
  end)

  describe("limits", function()
    it("refuses a billion laughs, counting each alias as a copy", function()
      assert_refused(billion_laughs(), "yaml: line 7 column 8: more than 1000000 nodes " ..
        "(max_nodes), counting each alias as a copy of its node", "limit")
    end)

    it("allows 1,000,000 nodes by default, and not one more", function()
      -- 1 sequence + 1000 for &a + 998 aliases of 1000 + 999 zeros
      local body = "- &a [" .. string.rep("0", 999, ",") .. "]\n" ..
        string.rep("- *a\n", 998) .. string.rep("- 0\n", 999)
      local v = assert(yaml.load(body))
      assert.are.equal(1 + 998 + 999, #v)
      assert_refused(body .. "- 0\n", "yaml: line 1999 column 3: more than 1000000 nodes " ..
        "(max_nodes), counting each alias as a copy of its node", "limit")
    end)

    it("takes max_nodes, counting aliases at full size", function()
      assert_loads("a: &x [1, 2, 3]\nb: *x", obj({ a = arr({ 1, 2, 3 }), b = arr({ 1, 2, 3 }) }),
        { max_nodes = 11 })
      assert_refused("a: &x [1, 2, 3]\nb: *x", "yaml: line 2 column 4: more than 10 nodes " ..
        "(max_nodes), counting each alias as a copy of its node", "limit", { max_nodes = 10 })
    end)

    it("allows 512 nested collections by default, and not 513", function()
      assert.is_table(yaml.load(string.rep("[", 512) .. string.rep("]", 512)))
      assert_refused(string.rep("[", 513) .. string.rep("]", 513), "yaml: line 1 column 513: " ..
        "more than 512 nested collections (max_depth)", "limit")
      assert_refused(string.rep("- ", 600) .. "x", "yaml: line 1 column 1025: more than 512 " ..
        "nested collections (max_depth)", "limit")
    end)

    it("takes max_depth", function()
      assert_loads("a: {b: [c]}", obj({ a = obj({ b = arr({ "c" }) }) }), { max_depth = 3 })
      assert_refused("a: {b: [c]}", "yaml: line 1 column 8: more than 2 nested collections " ..
        "(max_depth)", "limit", { max_depth = 2 })
      local deep = string.rep("[", 5000) .. string.rep("]", 5000)
      assert.is_table(yaml.load(deep, { max_depth = 5000 }))
    end)

    it("raises on bad options", function()
      assert.has_error(function()
        yaml.load("x", { max_nodes = 0 })
      end, "bad argument #2 to 'load' (max_nodes must be a positive integer)")
      assert.has_error(function()
        yaml.load("x", { max_depth = 100001 })
      end, "bad argument #2 to 'load' (max_depth must be an integer from 1 to 100000)")
      assert.has_error(function()
        yaml.load("x", { max_deep = 3 })
      end, "bad argument #2 to 'load' (unknown option 'max_deep')")
      assert.has_error(function()
        yaml.load("x", 5)
      end, "bad argument #2 to 'load' (table expected, got number)")
      assert.has_error(function()
        yaml.load(nil)
      end, "bad argument #1 to 'load' (string expected, got nil)")
    end)
  end)

  describe("documents", function()
    it("makes an empty stream null, as PyYAML returns None", function()
      assert.are.equal(null, yaml.load(""))
      assert.are.equal(null, yaml.load("# just a comment\n"))
      assert.are.equal(null, yaml.load("---\n"))
      assert.are.equal(null, yaml.load("--- ~\n...\n"))
    end)

    it("reads a document with markers and a BOM", function()
      assert_loads("%YAML 1.1\n--- x\n...\n", "x")
      assert_loads("\239\187\191a: 1", obj({ a = 1 }))
    end)

    it("refuses a second document", function()
      assert_refused("a: 1\n---\nb: 2\n", "yaml: line 2 column 1: expected a single document " ..
        "in the stream, but found another document")
    end)
  end)

  describe("errors", function()
    it("names line and column from libyaml's marks", function()
      assert_refused("a: 1\nb: 2\nc: d: e\n", "yaml: line 3 column 5: mapping values are not " ..
        "allowed in this context")
      assert_refused("a: 1\nb:\n  - x\n - y\n", "yaml: line 4 column 2: did not find expected key " ..
        "(while parsing a block mapping at line 1 column 1)")
      assert_refused("key: 'open", "yaml: line 1 column 11: found unexpected end of stream " ..
        "(while scanning a quoted scalar at line 1 column 6)")
      assert_refused("{a: 1", "yaml: line 2 column 1: did not find expected ',' or '}' " ..
        "(while parsing a flow mapping at line 1 column 1)")
      assert_refused("a:\tb\n\tc: d", "yaml: line 2 column 1: found a tab character that " ..
        "violates indentation (while scanning a plain scalar at line 1 column 4)")
    end)

    it("names line, column and byte of bad UTF-8 and control characters", function()
      assert_refused("a: \255\n", "yaml: line 1 column 4 (byte 3): invalid leading UTF-8 octet " ..
        "(0xFF)")
      assert_refused("a: é\nb: \1", "yaml: line 2 column 4 (byte 9): control characters are " ..
        "not allowed (0x01)")
    end)

    it("reports a syntax error before an earlier error in building a value", function()
      assert_refused("a: !!python/object x\nb: c: d", "yaml: line 2 column 5: mapping values " ..
        "are not allowed in this context")
      assert_refused("a: !!python/object x\n---\nb", "yaml: line 2 column 1: expected a single " ..
        "document in the stream, but found another document")
    end)

    it("reports the first error in building a value, in document order", function()
      assert_refused("a: !!int x\nb: !!bool y", 'yaml: line 1 column 4: invalid int "x"')
    end)

    it("quotes and shortens the value in a message", function()
      assert_refused('!!int "a\\"b\\n\\tc' .. string.rep("x", 50) .. '"',
        'yaml: line 1 column 1: invalid int "a\\"b\\n\\x09c' .. string.rep("x", 34) .. '"...')
    end)
  end)

  describe("load_all", function()
    it("returns every document as an array", function()
      local docs = assert(yaml.load_all("a: 1\n---\n- 2\n--- x\n...\n---\n"))
      assert.are.equal(json.array_mt, getmetatable(docs))
      local d = differ(arr({ obj({ a = 1 }), arr({ 2 }), "x", null }), docs)
      assert(d == nil, d)
    end)

    it("returns an empty array for an empty stream", function()
      local docs = assert(yaml.load_all("# nothing\n"))
      assert.are.equal(0, #docs)
      assert.are.equal(json.array_mt, getmetatable(docs))
    end)

    it("forgets anchors between documents", function()
      local docs = assert(yaml.load_all("a: &x 1\n---\nb: &x 2\n"))
      assert.are.equal(2, docs[2].b)
      local v, msg, code = yaml.load_all("a: &x 1\n---\nb: *x\n")
      assert.is_nil(v)
      assert.are.equal("yaml: line 3 column 4: found undefined alias 'x'", msg)
      assert.are.equal("parse", code)
    end)

    it("fails as a whole when one document fails", function()
      local v, msg, code = yaml.load_all("a: 1\n---\n- [x\n")
      assert.is_nil(v)
      assert.are.equal("yaml: line 4 column 1: did not find expected ',' or ']' " ..
        "(while parsing a flow sequence at line 3 column 3)", msg)
      assert.are.equal("parse", code)
    end)

    it("counts max_nodes over the whole stream", function()
      assert.is_table(yaml.load_all("[1]\n---\n[2]\n", { max_nodes = 4 }))
      local v, msg, code = yaml.load_all("[1]\n---\n[2]\n", { max_nodes = 3 })
      assert.is_nil(v)
      assert.are.equal("yaml: line 3 column 2: more than 3 nodes (max_nodes), counting each " ..
        "alias as a copy of its node", msg)
      assert.are.equal("limit", code)
    end)
  end)

  describe("load_file", function()
    local dir
    before_each(function()
      dir = support.tmpdir()
    end)
    after_each(function()
      os.execute("rm -rf '" .. dir .. "'")
    end)

    local function write(name, text)
      local f = assert(io.open(dir .. "/" .. name, "wb"))
      f:write(text)
      f:close()
      return dir .. "/" .. name
    end

    it("loads the file's one document", function()
      local v = assert(yaml.load_file(write("c.yml", "work_dir: /tmp/w\nverbose: on\n")))
      assert.are.equal("/tmp/w", v.work_dir)
      assert.are.equal(true, v.verbose)
    end)

    it("names the file in every error", function()
      local path = write("bad.yml", "a: 1\nb: [\n")
      local v, msg, code = yaml.load_file(path)
      assert.is_nil(v)
      assert.are.equal("yaml: " .. path .. ": line 3 column 1: did not find expected node " ..
        "content (while parsing a flow node at line 3 column 1)", msg)
      assert.are.equal("parse", code)
      v, msg, code = yaml.load_file(write("big.yml", "[1, 2]"), { max_nodes = 2 })
      assert.is_nil(v)
      assert.are.equal("yaml: " .. dir .. "/big.yml: line 1 column 5: more than 2 nodes " ..
        "(max_nodes), counting each alias as a copy of its node", msg)
      assert.are.equal("limit", code)
    end)

    it("returns the errno name of a file it cannot read", function()
      local v, msg, code = yaml.load_file(dir .. "/missing.yml")
      assert.is_nil(v)
      assert.are.equal("yaml: " .. dir .. "/missing.yml: No such file or directory", msg)
      assert.are.equal("ENOENT", code)
      v, msg, code = yaml.load_file(dir)
      assert.is_nil(v)
      assert.are.equal("yaml: " .. dir .. ": Is a directory", msg)
      assert.are.equal("EISDIR", code)
    end)
  end)

  describe("conformance files load as PyYAML loads them", function()
    for _, case in ipairs(CONFORMANCE) do
      local path, ndocs, len, hash = case[1], case[2], case[3], case[4]
      it(path, function()
        local full = support.shared .. "/conformance/" .. path
        local docs = assert(yaml.load_all(support.read(full)))
        assert.are.equal(ndocs, #docs)
        if ndocs == 1 then
          local d = differ(docs[1], assert(yaml.load_file(full)))
          assert(d == nil, d)
        end
        local s = table.concat(fingerprint(ndocs == 1 and docs[1] or docs, {}))
        assert.are.equal(len, #s)
        assert.are.equal(string.format("0x%08x", hash), string.format("0x%08x", fnv1a(s)))
      end)
    end

    it("has the values PyYAML gives in jsone/specification.yml", function()
      local docs = assert(yaml.load_all(support.read(support.shared ..
        "/conformance/jsone/specification.yml")))
      assert.are.equal("Initial Minimal Subset", docs[1].section)
      local d = differ(obj({
        title = "Identity",
        context = obj({}),
        template = obj({ key = arr({ 1, 2, obj({ key2 = "val", key3 = 1 }), true }), f = false }),
        result = obj({ key = arr({ 1, 2, obj({ key2 = "val", key3 = 1 }), true }), f = false }),
      }), docs[2])
      assert(d == nil, d)
      assert.are.equal(3.75, docs[21].context.decimal)
      assert.are.equal(10.1, docs[203].template["$map"])
      -- past 64 bits: PyYAML keeps a big int, we the nearest float
      assert.are.equal("$sort of very large integers", docs[333].title)
      assert.are.equal(2.2222222222222221e+19, docs[333].result[3])
      assert.are.equal(3333333, docs[333].result[2])
    end)

    it("has the values PyYAML gives in cotv4's parameters, projects and .taskcluster.yml", function()
      local dir = support.shared .. "/conformance/scriptworker/cotv4/"
      local p = assert(yaml.load_file(dir .. "parameters.yml"))
      assert.are.equal("default\n", p.hg_branch)
      assert.are.equal("65.0b9", p.version)
      assert.are.equal("65.0", p.app_version)
      assert.are.equal(1545243227, p.pushdate)
      assert.are.equal(null, p.next_version)
      assert.are.equal(true, p.optimize_target_tasks)
      local pr = assert(yaml.load_file(dir .. "projects.yml"))
      local d = differ(obj({
        repo = "https://hg.mozilla.org/projects/ash",
        repo_type = "hg",
        access = "scm_level_2",
        trust_domain = "gecko",
        features = obj({
          ["gecko-roles"] = true,
          ["gecko-actions"] = true,
          buildbot = true,
          ["taskcluster-docker-routes-v1"] = true,
          ["taskcluster-docker-routes-v2"] = true,
          ["taskcluster-cron"] = false,
          ["taskcluster-push"] = true,
        }),
      }), pr.ash)
      assert(d == nil, d)
      local tc = assert(yaml.load_file(dir .. ".taskcluster.yml"))
      assert.are.equal(1, tc.version)
      assert.are.equal("gecko-level-${repository.level}", tc.tasks[1]["then"]["in"].schedulerId)
      local gh = assert(yaml.load_file(dir .. "private_github_.taskcluster.yml"))
      assert.are.equal("checks-v1", gh.reporting)
      assert.are.equal(false, gh.tasks[1]["$let"].taskgraph.treeherder)
    end)
  end)
end)
