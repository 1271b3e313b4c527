-- sw.jsone: the bounds a differential run against json-e 4.8.4 found
-- loose (substring search, expression parsing, template depth) and the
-- corner cases where we differed from it (slice bounds, $sort by(x)).
-- The worst cases' times are in `make bench` (bench_jsone_bounds.sh).
local json = require("sw.json")
local jsone = require("sw.jsone")

local A, O = json.array, json.object

local function render(template, context, opts)
  return jsone.render(template, context, opts)
end

local function eval(expr, context)
  return jsone.render(O({ ["$eval"] = expr }), context)
end

local WORK = "TemplateError: render exceeded its work limit (2000000)"

-- Loads fresh copies of the sw.jsone modules with string.find replaced by
-- `find` (the modules keep it as an upvalue), runs f(jsone, value) and puts
-- everything back.
local function with_find(find, f)
  local names = { "sw.jsone", "sw.jsone.value", "sw.jsone.interp", "sw.jsone.parser",
    "sw.jsone.builtins", "sw.jsone.time" }
  local saved = {}
  for _, name in ipairs(names) do
    saved[name] = package.loaded[name]
    package.loaded[name] = nil
  end
  local real = string.find
  string.find = find -- luacheck: ignore 122
  local ok, err = pcall(function()
    local j = require("sw.jsone")
    string.find = real -- luacheck: ignore 122
    f(j, require("sw.jsone.value"))
  end)
  string.find = real -- luacheck: ignore 122
  for _, name in ipairs(names) do
    package.loaded[name] = saved[name]
  end
  assert(ok, err)
end

describe("sw.jsone bounds", function()
  describe("substring search (in, split)", function()
    local value = require("sw.jsone.value")

    -- xorshift: the same strings on every run
    local state = 88172645463325252
    local function rand(n)
      state = state ~ (state << 13)
      state = state ~ (state >> 7)
      state = state ~ (state << 17)
      return (state >> 1) % n + 1
    end
    local function word(len, alphabet)
      local t = {}
      for i = 1, len do
        local k = rand(#alphabet)
        t[i] = alphabet:sub(k, k)
      end
      return table.concat(t)
    end

    local function all_matches(search, n)
      local out, i = {}, 1
      while i <= n + 1 do
        local j, e = search(i)
        out[#out + 1] = tostring(j) .. ":" .. tostring(e)
        if not j then
          break
        end
        i = math.max(e, j) + 1
      end
      return table.concat(out, " ")
    end

    it("finds what string.find finds, for short and long needles", function()
      local S = { work = math.maxinteger, max_work = math.maxinteger }
      for _ = 1, 300 do
        local alphabet = ({ "a", "ab", "abc", "abcdefgh" })[rand(4)]
        local p
        if rand(2) == 1 then
          p = word(rand(70) - 1, alphabet)
        else
          -- long periodic needles: the checks fail often, Knuth-Morris-Pratt runs
          p = string.rep(word(rand(5), alphabet), 20 + rand(40)) .. word(rand(3), alphabet)
        end
        local s = word(rand(3000), alphabet)
        if rand(2) == 1 then
          local at = rand(#s)
          s = s:sub(1, at) .. p .. s:sub(at + 1) .. p
        end
        local want = all_matches(function(i)
          return string.find(s, p, i, true)
        end, #s)
        assert.equal(want, all_matches(value.searcher(S, s, p), #s), p .. " in " .. s)
      end
    end)

    it("takes time linear in the haystack", function()
      -- string.find(s, p, i, true) costs up to (bytes scanned) * #p
      local cost = 0
      local real = string.find
      local function find(s, p, i, plain)
        local j, e = real(s, p, i, plain)
        if plain then
          cost = cost + ((j or #s) - (i or 1) + 1) * #p
        end
        return j, e
      end
      with_find(find, function(j)
        local n = 64 * 1024
        local ctx = O({ s = string.rep("a", n), p = string.rep("a", n // 2 - 1) .. "b" })
        assert.same(A({ ctx.s }), j.render(O({ ["$eval"] = "split(s, p)" }), ctx))
        assert.is_false(j.render(O({ ["$eval"] = "p in s" }), ctx))
        assert.is_true(cost <= 1000 * n, "string.find cost " .. cost)
      end)
    end)

    it("charges the search to the render", function()
      local ctx = O({ s = string.rep("a", 64 * 1024), p = string.rep("a", 32 * 1024 - 1) .. "b" })
      for _, e in ipairs({ "split(s, p)", "p in s" }) do
        local t = O({ ["$map"] = O({ ["$eval"] = "range(0, 200)" }),
          ["each(i)"] = O({ ["$eval"] = e }) })
        assert.same({ nil, WORK, "TemplateError" }, { render(t, ctx) }, e)
      end
      assert.same(A({ ctx.s }), eval("split(s, p)", ctx))
    end)
  end)

  describe("expressions", function()
    local parser = require("sw.jsone.parser")

    -- a list literal of n ones: 2n + 1 tokens, n + 1 nodes
    local function ones(n)
      return "[" .. string.rep("1,", n - 1) .. "1]"
    end

    local function count_parses(f)
      local real, calls = parser.parse, 0
      parser.parse = function(...)
        calls = calls + 1
        return real(...)
      end
      local ok, err = pcall(f)
      parser.parse = real
      assert(ok, err)
      return calls
    end

    it("are parsed once per render, however long", function()
      local src = ones(5000) .. " "
      local t = O({ ["$map"] = O({ ["$eval"] = "range(0, 20)" }),
        ["each(x)"] = O({ ["$if"] = "x >= 0", ["then"] = O({ ["$eval"] = src }) }) })
      local r
      local calls = count_parses(function()
        r = render(t)
      end)
      assert.equal(20, #r)
      assert.equal(5000, #r[20])
      -- src, "x >= 0" and "range(0, 20)" at most once each
      assert.is_true(calls <= 3, calls .. " parses")
      -- interpolated strings too
      local plan = O({ ["$map"] = O({ ["$eval"] = "range(0, 20)" }),
        ["each(x)"] = "${len(" .. src .. ")}" .. string.rep(" ", 5000) })
      local real, calls2 = parser.parse_until_brace, 0
      parser.parse_until_brace = function(...)
        calls2 = calls2 + 1
        return real(...)
      end
      local ok, err = pcall(render, plan)
      parser.parse_until_brace = real
      assert(ok, err)
      assert.equal(1, calls2)
    end)

    it("charge parsing and evaluation to the render", function()
      -- parsing: 8 units a token
      local src = ones(5000)
      assert.same({ nil, "TemplateError: render exceeded its work limit (50000)",
        "TemplateError" }, { render(O({ ["$eval"] = src }), nil, { max_work = 50000 }) })
      assert.equal(5000, #render(O({ ["$eval"] = src }), nil, { max_work = 100000 }))
      -- evaluating: a unit a node beyond the fourth
      local t = O({ ["$map"] = O({ ["$eval"] = "range(0, 1000)" }),
        ["each(x)"] = O({ ["$eval"] = src }) })
      assert.same({ nil, WORK, "TemplateError" }, { render(t) })
      local s = O({ ["$map"] = O({ ["$eval"] = "range(0, 1000)" }),
        ["each(x)"] = "${" .. src .. "[0]}" })
      assert.same({ nil, WORK, "TemplateError" }, { render(s) })
    end)

    it("charge the same whatever earlier renders cached", function()
      local seen = {}
      for w = 1, 120 do
        -- a source no render used before: the first render compiles it
        local t = O({ ["$eval"] = "1 + 2 + 3 + " .. (100000 + w) })
        local cold = { render(t, nil, { max_work = w }) }
        local warm = { render(t, nil, { max_work = w }) }
        assert.same(cold, warm, "max_work " .. w)
        seen[cold[1] == nil and "fail" or "pass"] = true
      end
      assert.is_true(seen.fail and seen.pass)
    end)
  end)

  describe("template depth", function()
    it("is capped, so deep templates give an error rather than overflow", function()
      local arrays = 1
      for _ = 1, 300000 do
        arrays = A({ arrays })
      end
      local r, err, kind = render(arrays, nil, { max_depth = 1000000000 })
      assert.is_nil(r)
      assert.equal("TemplateError at template" .. string.rep("[0]", 1000)
        .. ": template nested too deep (limit 1000)", err)
      assert.equal("TemplateError", kind)
      -- each $let adds a scope to the chain variables are looked up in
      local lets = O({ ["$eval"] = "x + len([])" })
      for _ = 1, 3000 do
        lets = O({ ["$let"] = O({ x = 1 }), ["in"] = lets })
      end
      assert.same({ nil, "TemplateError: template nested too deep (limit 1000)",
        "TemplateError" }, { render(lets, nil, { max_depth = 5000 }) })
      -- up to the cap, the deepest template renders
      local ok = O({ ["$eval"] = "x + len([])" })
      for _ = 1, 998 do
        ok = O({ ["$let"] = O({ x = 1 }), ["in"] = ok })
      end
      assert.equal(1, render(ok, nil, { max_depth = 5000 }))
      assert.equal(1000, jsone.MAX_DEPTH)
    end)

    it("keeps every variable in sight through deep scopes", function()
      -- 300 nested $let, each binding v<i> and rebinding x, around a $map
      -- whose each(...) sees them all, the context and the builtins
      local inner = O({ ["$map"] = O({ ["$eval"] = "range(0, 3)" }), ["each(i)"] = O({
        ["$eval"] = "[x, i, v1, v150, v300, len(c), defined('v299'), defined('nope')]" }) })
      local t = inner
      for i = 300, 1, -1 do
        t = O({ ["$let"] = O({ x = i, ["v" .. i] = i * 10 }), ["in"] = t })
      end
      local r, err = render(t, O({ c = "ctx", x = 0 }), { max_depth = 1000 })
      assert.is_nil(err)
      for i = 0, 2 do
        assert.same(A({ 300, i, 10, 1500, 3000, 3, true, false }), r[i + 1])
      end
    end)
  end)

  describe("slices", function()
    it("clamp the start to the end with JavaScript's coercion, as json-e", function()
      -- results of json-e 4.8.4 for each expression
      local IE = "InterpreterError: cannot perform interval access with non-integers"
      local cases = {
        { "[][true:]", A({}) }, { '[1,2,3]["5":1]', A({}) }, { '"abc"["5":1]', "" },
        { '"h\u{E9}llo"["9":2]', "" }, { "[1,2,3][true:0]", A({}) },
        { '[1,2,3]["2":1]', A({}) }, { "[1,2,3][[5]:1]", A({}) }, { "[1,2,3][[[5]]:1]", A({}) },
        { '[1,2,3][["3"]:1]', A({}) }, { '[1,2,3]["0x10":2]', A({}) },
        { '[1,2,3][" 7 ":2]', A({}) }, { '[1,2,3]["Infinity":1]', A({}) },
        { '[1,2,3]["1e3":1]', A({}) }, { '[1,2,3][".5":0]', A({}) }, { '[1,2,3]["5.":1]', A({}) },
        { '[1,2,3]["0b11":2]', A({}) }, { '[1,2,3]["0o7":2]', A({}) },
        { '[1,2,3]["+5":0]', A({}) }, { '[1,2,3]["0X1f":0]', A({}) },
        { '[1,2,3]["5":-1]', A({}) }, { '[1,2,3]["5":]', A({}) },
        { "[1,2,3][true:1]", IE }, { '[1,2,3]["1":1]', IE }, { "[1,2,3][[5,1]:1]", IE },
        { "[1,2,3][[]:0]", IE }, { "[1,2,3][[null]:0]", IE }, { "[1,2,3][null:0]", IE },
        { '[1,2,3]["-5":0]', IE }, { '[1,2,3]["abc":0]', IE }, { "[1,2,3][{}:0]", IE },
        { '[1,2,3]["-Infinity":1]', IE }, { '[1,2,3]["-0x10":0]', IE },
        { '[1,2,3]["1_0":0]', IE }, { '[1,2,3]["":0]', IE }, { '[1,2,3]["5":1.5]', IE },
        { '[1,2,3][5:"1"]', IE }, { '[1,2,3]["5":"1"]', IE }, { "[1,2,3][[true]:0]", IE },
        { "[1,2,3][min:0]", IE }, { '[1,2,3]["5e":0]', IE },
        { '[1,2,3]["5"]', "InterpreterError: should only use integers to access arrays or strings" },
        { "[1,2,3][true]", "InterpreterError: should only use integers to access arrays or strings" },
      }
      for _, c in ipairs(cases) do
        local src = c[1]
        local r, err = eval(src)
        if type(c[2]) == "string" and c[2]:find("^InterpreterError") then
          assert.is_nil(r, src)
          assert.equal(c[2], err, src)
        else
          assert.is_nil(err, src)
          assert.same(c[2], r, src)
        end
      end
    end)

    it("charge converting a long string start", function()
      local t = O({ ["$map"] = O({ ["$eval"] = "range(0, 1000)" }),
        ["each(x)"] = O({ ["$eval"] = "[1, 2, 3][t:1]" }) })
      local ctx = O({ t = string.rep(" ", 64 * 1024) .. "5" })
      assert.same({ nil, WORK, "TemplateError" }, { render(t, ctx) })
      assert.same(A({}), eval("[1, 2, 3][t:1]", ctx))
    end)
  end)

  describe("$sort by(x)", function()
    local function sort(values, by)
      return render(O({ ["$sort"] = values, ["by(x)"] = by }))
    end

    it("is not looked at for an empty array", function()
      for _, by in ipairs({ 1, true, json.null, A({ "x" }), O({}), "1 +" }) do
        assert.same(A({}), sort(A({}), by))
      end
      assert.same(O({ a = A({ A({}) }) }),
        render(O({ a = A({ O({ ["$sort"] = A({}), ["by(x)"] = 1 }) }) })))
    end)

    it("gives json-e's SyntaxError for an array", function()
      -- json-e tokenizes the array itself: each token is matched against
      -- String() of the elements from an offset on, which then moves by as
      -- many elements as the token has characters (messages of json-e 4.8.4)
      local trailing = "Found: y token, expected one of: !=, &&, (, *, **, +, -, ., /, <, <=, "
        .. "==, >, >=, [, in, ||"
      local cases = {
        { A({}), "Unexpected input for '' at ''" },
        { A({ "x" }), "Unexpected input for 'x' at ''" },
        { A({ "x", "y" }), trailing },
        { A({ "ab", "c" }), "Unexpected input for 'ab,c' at ''" },
        { A({ " ", "x" }), "Unexpected input for ' ,x' at ''" },
        { A({ "x", "+", "1", json.null }), "Unexpected input for 'x,+,1,' at ''" },
        { A({ "[1", json.null, "2]" }), "Found: , token, expected one of: !, (, +, -, [, false, "
          .. "identifier, null, number, string, true, {" },
        { A({ "\u{A0}x" }), "Unexpected input for '\u{A0}x' at ''" },
        { A({ "'\u{1F600}'", "+", "x" }), "Unexpected input for ''\u{1F600}',+,x' at ''" },
        { A({ A({ 1, 2 }), "+" }), "Unexpected input for '1,2,+' at ''" },
        { A({ O({}) }), "Unexpected input for '[object Object]' at ''" },
        { A({ true, "x" }), "Unexpected input for 'true,x' at ''" },
        { A({ "x", "*", "(" }), "Unexpected input for 'x,*,(' at ''" },
      }
      for _, c in ipairs(cases) do
        local what = json.encode(c[1])
        assert.same({ nil, "SyntaxError: " .. c[2], "SyntaxError" }, { sort(A({ 2, 1 }), c[1]) },
          what)
      end
    end)

    it("charges tokenizing an array", function()
      local by = { "[" }
      for i = 2, 199999, 2 do
        by[i], by[i + 1] = "1", json.null
      end
      by[#by + 1] = "]"
      local t = O({ ["$sort"] = A({ 2, 1 }), ["by(x)"] = A(by) })
      assert.same({ nil, "TemplateError: render exceeded its work limit (100000)",
        "TemplateError" }, { render(t, nil, { max_work = 100000 }) })
      local r, err = render(t)
      assert.is_nil(r)
      assert.truthy(err:find("^SyntaxError: Unexpected input for '%[,1,,1,"), err:sub(1, 80))
    end)

    it("refuses other non-strings, where json-e crashes", function()
      for _, by in ipairs({ 1, true, json.null, O({}) }) do
        assert.same({ nil, "TemplateError: $sort by(x) must be given a string expression",
          "TemplateError" }, { sort(A({ 2, 1 }), by) })
      end
    end)
  end)
end)
