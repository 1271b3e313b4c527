-- sw.jsone: json-e's own conformance suite (specification.yml, every case
-- as its own test) plus our additions: numbers, Unicode, limits, API.
local json = require("sw.json")
local yaml = require("sw.yaml")
local jsone = require("sw.jsone")
local support = require("support")
local compare = require("jsone.compare")

local null = json.null

-- The suite's fixed clock (its "Test conditions").
local SPEC_NOW = "2017-01-19T16:27:20.974Z"

-- Messages we do not reproduce word for word, by case title: none; a
-- deviation would be listed here with the message we give instead.
local MESSAGE_DEVIATIONS = {}

local function encode(v)
  local s = json.encode(v)
  return s or tostring(v)
end

describe("sw.jsone specification.yml", function()
  local text = support.read(support.shared .. "/conformance/jsone/specification.yml")
  local docs = assert(yaml.load_all(text))
  local total, passed = 0, 0
  local section = "(no section)"

  for _, doc in ipairs(docs) do
    if doc ~= null and doc.section then
      section = doc.section
    elseif doc ~= null and doc.title then
      total = total + 1
      local name = string.format("%d %s / %s", total, section, doc.title)
      it(name, function()
        local context = doc.context
        if context == nil or context == null then
          context = json.object()
        end
        -- pin the clock as the suite requires, without touching the doc
        local ctx = json.object()
        for k, v in pairs(context) do
          ctx[k] = v
        end
        if ctx.now == nil then
          ctx.now = SPEC_NOW
        end
        local result, err, kind = jsone.render(doc.template, ctx)
        if doc.error ~= nil then
          assert(result == nil, "expected an error, got " .. encode(result))
          assert.is_string(err)
          assert.is_string(kind)
          assert.equal(kind, err:match("^(%a+)"))
          if doc.error ~= true then
            local want = MESSAGE_DEVIATIONS[doc.title] or doc.error
            assert.equal(want, err)
          end
        else
          assert(err == nil, "unexpected error: " .. tostring(err))
          local d = compare.diff(doc.result, result)
          assert(d == nil, d)
        end
        passed = passed + 1
      end)
    end
  end

  teardown(function()
    print(string.format("\njsone specification.yml: %d of %d cases passed", passed, total))
  end)
end)

describe("sw.jsone", function()
  local A, O = json.array, json.object

  local function render(template, context, opts)
    return jsone.render(template, context, opts)
  end

  local function eval(expr, context)
    return jsone.render(O({ ["$eval"] = expr }), context)
  end

  describe("API", function()
    it("returns the result, or nil, a message and the kind", function()
      assert.equal(3, render(O({ ["$eval"] = "1 + 2" })))
      local r, err, kind = render(O({ a = A({ O({ ["$eval"] = "nope" }) }) }), O({}))
      assert.is_nil(r)
      assert.equal("InterpreterError at template.a[0]: unknown context value nope", err)
      assert.equal("InterpreterError", kind)
    end)

    it("accepts a missing context and unmarked Lua tables", function()
      assert.equal(2, render({ ["$eval"] = "x.y[1]" }, { x = { y = { 1, 2 } } }))
      local r = render({ ["$eval"] = "[]" })
      assert.equal(json.array_mt, getmetatable(r))
      assert.equal(0, #r)
      assert.equal(json.object_mt, getmetatable(render({ ["$eval"] = "{}" })))
    end)

    it("refuses a context that is not an object or has bad keys", function()
      assert.same({ nil, "TemplateError: context must be an object", "TemplateError" },
        { render(O({}), A({ 1 })) })
      assert.same({ nil, "TemplateError: context must be an object", "TemplateError" },
        { render(O({}), "x") })
      assert.same({ nil, "TemplateError: top level keys of context must follow "
        .. "/[a-zA-Z_][a-zA-Z0-9_]*/", "TemplateError" }, { render(O({}), O({ ["1x"] = 1 })) })
    end)

    it("raises on bad options", function()
      assert.has_error(function()
        render(O({}), O({}), "x")
      end, "jsone.render: opts must be a table")
      assert.has_error(function()
        render(O({}), O({}), { max_depth = -1 })
      end, "jsone.render: opts.max_depth must be a non-negative integer")
    end)

    it("does not modify the template or the context", function()
      local ctx = O({ xs = A({ 3, 1, 2 }) })
      local t = O({ ["$reverse"] = O({ ["$eval"] = "xs" }) })
      assert.same(A({ 2, 1, 3 }), render(t, ctx))
      assert.same(A({ 3, 1, 2 }), ctx.xs)
      assert.same(O({ ["$reverse"] = O({ ["$eval"] = "xs" }) }), t)
    end)

    it("gives the same error for a cached bad expression", function()
      for _ = 1, 2 do
        assert.same({ nil, "SyntaxError: Unexpected end of input", "SyntaxError" },
          { eval("1 +") })
      end
    end)

    it("never uses load on template text", function()
      for _, f in ipairs({ "lua/sw/jsone.lua", "lua/sw/jsone/parser.lua",
        "lua/sw/jsone/interp.lua", "lua/sw/jsone/builtins.lua", "lua/sw/jsone/value.lua",
        "lua/sw/jsone/time.lua" }) do
        local src = support.read(f)
        assert.is_nil(src:find("load%s*%("), f)
        assert.is_nil(src:find("dofile", 1, true), f)
      end
    end)
  end)

  describe("numbers", function()
    it("gives integers for whole results and floats otherwise", function()
      local cases = {
        { "10 / 5", 2, "integer" }, { "10 / 4", 2.5, "float" }, { "3 * 1.5", 4.5, "float" },
        { "2.5 * 2", 5, "integer" }, { "2 ** 10", 1024, "integer" }, { "-(0)", 0, "integer" },
        { "floor(2.7)", 2, "integer" }, { "sqrt(16)", 4, "integer" },
        { "number('1e3')", 1000, "integer" }, { "0.1 + 0.2", 0.30000000000000004, "float" },
        { "2 ** 60", 1152921504606846976, "integer" },
      }
      for _, c in ipairs(cases) do
        local r = eval(c[1])
        assert.equal(c[2], r, c[1])
        assert.equal(c[3], math.type(r), c[1])
      end
    end)

    it("normalises whole floats of the template and of evaluated scalars", function()
      assert.equal("integer", math.type(render(3.0)))
      assert.equal("integer", math.type(eval("x", O({ x = 2.0 }))))
      assert.equal("float", math.type(render(2.5)))
    end)

    it("formats numbers as JavaScript does", function()
      local cases = {
        { "str(10 / 4)", "2.5" }, { "str(10 ** 21)", "1e+21" },
        { "str(10 ** 20)", "100000000000000000000" },
        { "str(1 / 3)", "0.3333333333333333" }, { "str(0.1 + 0.2)", "0.30000000000000004" },
        { "str(1 / 1000000)", "0.000001" }, { "str(1 / 10000000)", "1e-7" },
        { "str(-15 * 10 ** 300)", "-1.5e+301" }, { "str(2 ** 60)", "1152921504606847000" },
        { "str(2 ** 0.5)", "1.4142135623730951" }, { "str(-0)", "0" },
        { "str(123.456)", "123.456" }, { "str(sqrt(-1))", "NaN" },
        { "str(10 ** 400)", "Infinity" }, { "str(-(10 ** 400))", "-Infinity" },
      }
      for _, c in ipairs(cases) do
        assert.equal(c[2], eval(c[1]), c[1])
      end
      assert.equal("5e-324", jsone.js_number_string(4.9406564584124654e-324))
      assert.equal("1.7976931348623157e+308", jsone.js_number_string(1.7976931348623157e308))
      assert.equal("9223372036854776000", jsone.js_number_string(math.maxinteger))
      assert.equal("-9007199254740992", jsone.js_number_string(-9007199254740992))
    end)

    it("interpolates numbers as JavaScript does", function()
      assert.equal("2.5 1e+21 -10", render("${a / 4} ${10 ** 21} ${-a}", O({ a = 10 })))
    end)

    it("prints $json compactly with sorted keys", function()
      assert.equal('{"a":[1,2.5,null,true,"x\\n\\u0001"],"b":{}}',
        render(O({ ["$json"] = O({ b = O({}), a = A({ 1, 2.5, null, true, "x\n\1" }) }) })))
    end)
  end)

  describe("Unicode", function()
    it("counts, indexes and slices code points", function()
      local ctx = O({ s = "h\u{E9}llo \u{1F600}!" })
      assert.equal(8, eval("len(s)", ctx))
      assert.equal("\u{E9}", eval("s[1]", ctx))
      assert.equal("\u{1F600}!", eval("s[-2:]", ctx))
      assert.equal("\u{E9}ll", eval("s[1:4]", ctx))
    end)

    it("maps case beyond ASCII as JavaScript does", function()
      assert.equal("STRASSE \u{C9}T\u{C9}", eval("uppercase('stra\u{DF}e \u{E9}t\u{E9}')"))
      assert.equal("\u{3B1}\u{3C2} \u{3C3}", eval("lowercase('\u{391}\u{3A3} \u{3A3}')"))
    end)

    it("orders strings by UTF-16 code units", function()
      assert.is_false(eval("'\u{E000}' < '\u{10000}'"))
      assert.same(A({ "a", "\u{10000}", "\u{E000}" }),
        render(O({ ["$sort"] = A({ "\u{E000}", "a", "\u{10000}" }) })))
    end)

    it("strips JavaScript whitespace", function()
      assert.equal("x", eval("strip('\u{A0}\u{3000} x\u{2028}\t')"))
    end)
  end)

  describe("functions in the context", function()
    it("calls them with the evaluated arguments", function()
      local seen = {}
      local ctx = O({
        as_slugid = function(name)
          seen[#seen + 1] = name
          return "slug-" .. name
        end,
      })
      assert.equal("a/slug-decision", render("a/${as_slugid('decision')}", ctx))
      assert.same({ "decision" }, seen)
    end)

    it("refuses uncalled functions in the result", function()
      local ctx = O({ f = function() end })
      assert.same({ nil, "TemplateError: evaluated template contained uncalled functions",
        "TemplateError" }, { eval("[f]", ctx) })
      assert.same({ nil, "TemplateError: evaluated template contained uncalled functions",
        "TemplateError" }, { render(O({ ["$json"] = O({ ["$eval"] = "min" }) })) })
    end)

    it("lets the context shadow builtins", function()
      assert.equal("shadow", eval("len('abc')", O({ len = function()
        return "shadow"
      end })))
      assert.equal(true, eval("defined('len') && defined('now') && !(defined('nope'))"))
      -- json-e's grammar: unary operators bind to the unit, so this is
      -- (!defined)('nope')
      assert.same({ nil, "InterpreterError: false is not callable", "InterpreterError" },
        { eval("!defined('nope')") })
    end)

    it("passes errors of context functions through", function()
      assert.has_error(function()
        eval("boom()", O({ boom = function()
          error("kaboom", 0)
        end }))
      end, "kaboom")
    end)
  end)

  describe("time", function()
    it("uses the context's now", function()
      local ctx = O({ now = "2020-02-28T12:00:00.000Z" })
      assert.equal("2020-03-01T12:00:00.000Z", render(O({ ["$fromNow"] = "2 days" }), ctx))
      assert.equal("2020-02-29T12:00:00.000Z", eval("fromNow('1 day')", ctx))
      assert.equal("2020-02-28T13:00:00.000Z", eval("fromNow('1 hour', '2020-02-28T12:00:00Z')"))
    end)

    it("defaults now to the current time", function()
      local now = eval("now")
      assert.truthy(now:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
      local y, mo, d, h, mi, s = now:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
      local t = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s,
        isdst = false })
      local utc = os.time(os.date("!*t", os.time()))
      assert.is_true(math.abs(t - utc) <= 5)
    end)

    it("gives null outside JavaScript's date range and refuses bad references", function()
      assert.equal(null, eval("fromNow('1000000000 years')"))
      assert.same({ nil, "TemplateError: invalid date 'garbage'", "TemplateError" },
        { render(O({ ["$fromNow"] = "1 day", from = "garbage" })) })
      assert.same({ nil, "InterpreterError: String: 'soon' isn't a time expression",
        "InterpreterError" }, { eval("fromNow('soon')") })
    end)
  end)

  describe("limits", function()
    local function nest(depth, leaf)
      local t = leaf
      for _ = 1, depth do
        t = A({ t })
      end
      return t
    end

    it("bounds the template nesting", function()
      assert.same({ nil, "TemplateError at template" .. string.rep("[0]", 100)
        .. ": template nested too deep (limit 100)", "TemplateError" }, { render(nest(200, 1)) })
      assert.is_not_nil(render(nest(99, 1)))
      local lets = O({ ["$eval"] = "x" })
      for _ = 1, 200 do
        lets = O({ ["$let"] = O({ x = 1 }), ["in"] = lets })
      end
      local r, err = render(lets)
      assert.is_nil(r)
      assert.equal("TemplateError: template nested too deep (limit 100)", err)
      assert.is_nil(render(nest(10, 1), nil, { max_depth = 5 }))
    end)

    it("bounds the expression nesting", function()
      local msg = "InterpreterError: expression nested too deep (limit 100)"
      assert.same({ nil, msg, "InterpreterError" }, { eval(string.rep("(", 200) .. "1"
        .. string.rep(")", 200)) })
      assert.same({ nil, msg, "InterpreterError" }, { eval(string.rep("!", 200) .. "1") })
      assert.same({ nil, msg, "InterpreterError" }, { eval(string.rep("[", 200)) })
      assert.equal(1, eval(string.rep("(", 90) .. "1" .. string.rep(")", 90)))
      assert.same({ nil, "InterpreterError: expression nested too deep (limit 1000)",
        "InterpreterError" }, { eval("1" .. string.rep(" + 1", 2000)) })
      assert.equal(501, eval("1" .. string.rep(" + 1", 500)))
    end)

    it("bounds data nesting in deep operations", function()
      local deep = nest(3000, 1)
      local r, err = render(O({ ["$json"] = O({ ["$eval"] = "d" }) }), O({ d = deep }))
      assert.is_nil(r)
      assert.equal("TemplateError: value nested too deep (limit 1000)", err)
      r, err = eval("d == d", O({ d = deep }))
      assert.is_nil(r)
      assert.equal("InterpreterError: value nested too deep (limit 1000)", err)
    end)

    it("bounds array and string sizes", function()
      assert.same({ nil, "TemplateError: range() result longer than the array limit (1000000)",
        "TemplateError" }, { eval("range(0, 2000000)") })
      local double = O({ ["$reduce"] = O({ ["$eval"] = "range(0, 40)" }), initial = "ab",
        ["each(acc, x)"] = O({ ["$eval"] = "acc + acc" }) })
      assert.same({ nil, "TemplateError: string longer than the string limit (4194304 bytes)",
        "TemplateError" }, { render(double) })
      local grow = O({ ["$reduce"] = O({ ["$eval"] = "range(0, 40)" }), initial = A({ 1 }),
        ["each(acc, x)"] = O({
          ["$flatten"] = A({ O({ ["$eval"] = "acc" }), O({ ["$eval"] = "acc" }) }),
        }) })
      local r, err = render(grow)
      assert.is_nil(r)
      assert.truthy(err:find("^TemplateError: ") and err:find("limit"), err)
    end)

    it("bounds the work of a render", function()
      local quad = O({ ["$map"] = O({ ["$eval"] = "range(0, 5000)" }),
        ["each(x)"] = O({ ["$map"] = O({ ["$eval"] = "range(0, 5000)" }),
          ["each(y)"] = O({ ["$if"] = "false" }) }) })
      assert.same({ nil, "TemplateError: render exceeded its work limit (2000000)",
        "TemplateError" }, { render(quad) })
      -- a value shared 2^40 times over: the output check walks it
      local t = O({ ["$eval"] = "x" })
      for i = 1, 40 do
        t = O({ ["$let"] = O({ x = A({ O({ ["$eval"] = "x" }), O({ ["$eval"] = "x" }) }) }),
          ["in"] = t })
        if i == 40 then
          t["$let"].x = A({ 1, 1 })
        end
      end
      local r, err = render(t)
      assert.is_nil(r)
      assert.equal("TemplateError: render exceeded its work limit (2000000)", err)
      assert.is_nil(render(quad, nil, { max_work = 1000 }))
    end)

    it("counts the work of scanning long strings", function()
      local ctx = O({ s = string.rep("x", 1024 * 1024) .. "\u{E9}" })
      local function loop(e)
        return O({ ["$map"] = O({ ["$eval"] = "range(0, 100000)" }),
          ["each(i)"] = O({ ["$eval"] = e }) })
      end
      for _, e in ipairs({ "'y' in s", "lowercase(s)", "s == s + ''", "s < s + ''",
        "split(s, 'y')" }) do
        assert.same({ nil, "TemplateError: render exceeded its work limit (2000000)",
          "TemplateError" }, { render(loop(e), ctx) }, e)
      end
      -- a long string is analysed once per render for indexing
      local r = render(loop("s[-1] + str(len(s))"), ctx)
      assert.equal(100000, #r)
      assert.equal("\u{E9}1048577", r[100000])
    end)
  end)
end)
