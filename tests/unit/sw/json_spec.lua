-- sw.json (core/json.c): decoding through yajl, encoding, and canonical
-- output byte for byte as Python's json.dumps(v, indent=2, sort_keys=True).
-- The expected canonical strings below were produced once with Python 3.11
-- and pasted; the tests themselves need no Python.
local json = require("sw.json")
local support = require("support")

local CONFORMANCE = support.shared .. "/conformance/"
local FIXTURES = support.root .. "/tests/unit/sw/fixtures/"

-- Asserts the three-value failure of sw.json.
local function assert_fails(expected_msg, expected_code, v, msg, code)
  assert.is_nil(v)
  assert.are.equal(expected_msg, msg)
  assert.are.equal(expected_code, code)
end

local write = support.write

-- Splits the "==> path <==" sections of a fixture file.
local function sections(text)
  local out = {}
  local pos = 1
  while true do
    local s, e, name = text:find("==> ([^\n]-) <==\n", pos)
    if not s then
      break
    end
    local nexts = text:find("\n==> ", e, true)
    out[name] = text:sub(e + 1, (nexts or #text) - 1)
    pos = nexts and nexts + 1 or #text + 1
  end
  return out
end

describe("sw.json", function()
  describe("module", function()
    it("exports the representation every module shares", function()
      assert.are.equal("userdata", type(json.null))
      assert.are.equal("table", type(json.array_mt))
      assert.are.equal("table", type(json.object_mt))
      assert.are_not.equal(json.array_mt, json.object_mt)
      for _, name in ipairs({ "array", "decode", "decode_file", "encode", "is_array", "object", "type" }) do
        assert.are.equal("function", type(json[name]), name)
      end
    end)
  end)

  describe("decode", function()
    it("decodes scalars", function()
      assert.are.equal(json.null, json.decode("null"))
      assert.are.equal(true, json.decode("true"))
      assert.are.equal(false, json.decode(" false "))
      assert.are.equal("héllo", json.decode('"héllo"'))
      assert.are.equal(42, json.decode("42"))
      assert.are.equal(-1.5, json.decode("-1.5"))
    end)

    it("marks arrays and objects with the shared metatables", function()
      local v = json.decode('{"a": [1, {"b": null}], "c": {}}')
      assert.are.equal(json.object_mt, getmetatable(v))
      assert.are.equal(json.array_mt, getmetatable(v.a))
      assert.are.equal(json.object_mt, getmetatable(v.a[2]))
      assert.are.equal(json.null, v.a[2].b)
      assert.are.equal(json.object_mt, getmetatable(v.c))
      assert.are.equal(2, #v.a)
      assert.are.same({ 1, 2, 3 }, json.decode("[1, 2, 3]"))
    end)

    it("keeps nulls inside arrays, so arrays have no holes", function()
      local v = json.decode("[null, 1, null]")
      assert.are.equal(3, #v)
      assert.are.equal(json.null, v[1])
      assert.are.equal(json.null, v[3])
    end)

    it("lets the last of duplicate keys win, as Python does", function()
      local v = json.decode('{"a": 1, "b": 2, "a": 3}')
      assert.are.equal(3, v.a)
      assert.are.equal(2, v.b)
    end)

    it("undoes escapes and joins surrogate pairs", function()
      assert.are.equal('"\\/\b\f\n\r\t', json.decode([["\"\\\/\b\f\n\r\t"]]))
      assert.are.equal("é€😀", json.decode([["\u00e9\u20AC\ud83d\ude00"]]))
      assert.are.equal("a\0b", json.decode([["a\u0000b"]]))
      assert.are.equal("k", next(json.decode([[{"\u006b": 1}]])))
    end)

    it("decodes big containers and long strings", function()
      local parts = {}
      for i = 1, 5000 do
        parts[i] = string.format('"k%d": [%d, "v\\u00e9%d"]', i, i, i)
      end
      local v = json.decode("{" .. table.concat(parts, ", ") .. "}")
      assert.are.same({ 4321, "vé4321" }, v.k4321)
      local n = 0
      for _ in pairs(v) do
        n = n + 1
      end
      assert.are.equal(5000, n)
      local long = string.rep("x", 100000)
      assert.are.equal(long, json.decode('["' .. long .. '"]')[1])
    end)

    describe("numbers", function()
      it("keeps integers exact as Lua integers", function()
        local v = json.decode("9007199254740993")
        assert.are.equal("integer", math.type(v))
        assert.are.equal(9007199254740993, v)
        assert.are.equal(math.maxinteger, json.decode("9223372036854775807"))
        assert.are.equal(math.mininteger, json.decode("-9223372036854775808"))
        assert.are.equal("integer", math.type(json.decode("-9223372036854775808")))
        assert.are.equal("integer", math.type(json.decode("-0")))
        assert.are.equal(0, json.decode("-0"))
      end)

      it("turns integers beyond int64 into floats", function()
        local v = json.decode("9223372036854775808")
        assert.are.equal("float", math.type(v))
        assert.are.equal(2.0 ^ 63, v)
        assert.are.equal(-(2.0 ^ 63) - 2048, json.decode("-9223372036854777856"))
        assert.are.equal("float", math.type(json.decode("-9223372036854775809")))
        assert.are.equal(1e30, json.decode("1000000000000000000000000000000"))
      end)

      it("reads a fraction or exponent as a float", function()
        assert.are.equal("float", math.type(json.decode("1.0")))
        assert.are.equal(100.0, json.decode("1e2"))
        assert.are.equal("float", math.type(json.decode("1E2")))
        assert.are.equal(0.1, json.decode("0.1"))
        assert.are.equal(-2.5e-7, json.decode("-25e-8"))
        assert.are.equal(1 / 3, json.decode("0.3333333333333333"))
        assert.are.equal(5e-324, json.decode("5e-324"))
        assert.are.equal(math.huge, json.decode("1e400"))
        assert.are.equal(-math.huge, json.decode("-1e400"))
        assert.are.equal("-0.0", string.format("%.1f", json.decode("-0.0")))
      end)
    end)

    describe("refuses", function()
      -- { input, message }: offsets are bytes from 0, columns from 1.
      local cases = {
        { '{"a": [1, 2', "line 1 column 12 (byte 11): unexpected end of input" },
        { "", "line 1 column 1 (byte 0): unexpected end of input" },
        { "   \n  ", "line 2 column 3 (byte 6): unexpected end of input" },
        { '"abc', "line 1 column 5 (byte 4): unexpected end of input" },
        {
          '{"a": 1} x',
          "line 1 column 10 (byte 9): trailing garbage after JSON value, got 'x'",
        },
        {
          "[1, 2] []",
          "line 1 column 8 (byte 7): trailing garbage after JSON value, got '['",
        },
        {
          '{"a": 1}}',
          "line 1 column 9 (byte 8): trailing garbage after JSON value, got '}'",
        },
        { "01", "line 1 column 2 (byte 1): trailing garbage after JSON value, got '1'" },
        -- yajl takes \v and \f for whitespace.
        { "[1,\v2]", "line 1 column 4 (byte 3): unexpected byte 0x0b" },
        { "\f{}", "line 1 column 1 (byte 0): unexpected byte 0x0c" },
        { '{"a":\v1', "line 1 column 6 (byte 5): unexpected byte 0x0b" },
        -- yajl holds back a string left open at the end, then forgets it.
        { '{"a": 1} "', "line 1 column 10 (byte 9): trailing garbage after JSON value, got string" },
        { '1"x', "line 1 column 2 (byte 1): trailing garbage after JSON value, got string" },
        { '"a""', "line 1 column 4 (byte 3): trailing garbage after JSON value, got string" },
        {
          '"abc\\qdef"',
          "line 1 column 5 (byte 4): invalid escape in string, '\\' followed by 'q'",
        },
        { '"abc\\u12x4"', "line 1 column 9 (byte 8): invalid \\u escape in string, got 'x'" },
        {
          '["ok", "\255"]',
          "line 1 column 9 (byte 8): invalid UTF-8 sequence starting with 0xff in string",
        },
        {
          '"\192\128"',
          "line 1 column 2 (byte 1): invalid UTF-8 sequence starting with 0xc0 in string",
        },
        {
          '"\237\160\128"',
          "line 1 column 2 (byte 1): invalid UTF-8 sequence starting with 0xed in string",
        },
        {
          '"\244\144\128\128"',
          "line 1 column 2 (byte 1): invalid UTF-8 sequence starting with 0xf4 in string",
        },
        {
          '"ab\226\130"',
          "line 1 column 4 (byte 3): invalid UTF-8 sequence starting with 0xe2 in string",
        },
        {
          '{"\\u00e9": 1, "x\255": 2}',
          "line 1 column 17 (byte 16): invalid UTF-8 sequence starting with 0xff in string",
        },
        {
          '["\\n", "\255\\n"]',
          "line 1 column 9 (byte 8): invalid UTF-8 sequence starting with 0xff in string",
        },
        { '"\\ud800"', "line 1 column 2 (byte 1): unpaired surrogate \\ud800 in string" },
        { '"x\\udc00"', "line 1 column 3 (byte 2): unpaired surrogate \\udc00 in string" },
        { '"\\ud83d\\u0041"', "line 1 column 2 (byte 1): unpaired surrogate \\ud83d in string" },
        { '"a\tb"', "line 1 column 3 (byte 2): unescaped control character 0x09 in string" },
        { '"a\0b"', "line 1 column 3 (byte 2): unescaped control character 0x00 in string" },
        { "[1 2]", "line 1 column 4 (byte 3): expected ',' or ']' after array element, got '2'" },
        { '{"a" 1}', "line 1 column 6 (byte 5): expected ':' after object key, got '1'" },
        {
          '{"a": 1 "b": 2}',
          "line 1 column 9 (byte 8): expected ',' or '}' after object member, got string",
        },
        { '{"a": 1,}', "line 1 column 9 (byte 8): expected a string for object key, got '}'" },
        { "{1: 2}", "line 1 column 2 (byte 1): expected a string for object key, got '1'" },
        { "[1,,2]", "line 1 column 4 (byte 3): expected a value, got ','" },
        { "[1,]", "line 1 column 4 (byte 3): expected a value, got ']'" },
        { '{"a"::1}', "line 1 column 6 (byte 5): expected a value, got ':'" },
        { '{"a":\n  [1,\n   2,\n   }', "line 4 column 4 (byte 21): expected a value, got '}'" },
        { "{'a': 1}", "line 1 column 2 (byte 1): unexpected \"'\"" },
        { "[NaN]", "line 1 column 2 (byte 1): unexpected 'N'" },
        { "[Infinity]", "line 1 column 2 (byte 1): unexpected 'I'" },
        {
          "[-Infinity]",
          "line 1 column 3 (byte 2): invalid number, expected a digit after the minus sign",
        },
        { ".5", "line 1 column 1 (byte 0): unexpected '.'" },
        { "\239\187\191{}", "line 1 column 1 (byte 0): unexpected byte 0xef" },
        { "[tru]", "line 1 column 2 (byte 1): invalid literal 'tru'" },
        { "[nul", "line 1 column 2 (byte 1): invalid literal 'nul'" },
        { "-", "line 1 column 2 (byte 1): invalid number, expected a digit after the minus sign" },
        { "1.", "line 1 column 3 (byte 2): invalid number, expected a digit after the decimal point" },
        { "[1.5e]", "line 1 column 6 (byte 5): invalid number, expected a digit after the exponent" },
        { "/* c */ 1", "line 1 column 1 (byte 0): comments are not allowed" },
        {
          string.rep("[", 513) .. string.rep("]", 513),
          "line 1 column 513 (byte 512): too deeply nested (max_depth 512)",
        },
      }
      for _, case in ipairs(cases) do
        it(string.format("%q", case[1]):sub(1, 40), function()
          assert_fails("json: " .. case[2], "parse", json.decode(case[1]))
        end)
      end
    end)

    it("accepts 512 levels by default and max_depth = N", function()
      local deep = string.rep("[", 512) .. string.rep("]", 512)
      assert.are.equal(json.array_mt, getmetatable(json.decode(deep)))
      assert_fails(
        "json: line 1 column 7 (byte 6): too deeply nested (max_depth 1)",
        "parse",
        json.decode('{"a": {"b": 1}}', { max_depth = 1 })
      )
      assert.are.equal(1, json.decode('{"a": 1}', { max_depth = 1 }).a)
      local deeper = string.rep("[", 2000) .. string.rep("]", 2000)
      assert.are.equal(json.array_mt, getmetatable(json.decode(deeper, { max_depth = 2000 })))
    end)

    it("raises on bad arguments", function()
      assert.has_error(function()
        json.decode()
      end)
      assert.has_error(function()
        json.decode("1", { max_depht = 3 })
      end, "bad argument #2 to 'decode' (unknown option 'max_depht')")
      assert.has_error(function()
        json.decode("1", { max_depth = 0 })
      end, "bad argument #2 to 'decode' (option 'max_depth' must be an integer from 1 to 10000)")
    end)

    it("leaves the collector as it found it after big inputs", function()
      local big = "[" .. string.rep('"0123456789",', 100000) .. "0]"
      assert.are.equal(100001, #json.decode(big))
      assert.is_true(collectgarbage("isrunning"))
      assert.is_nil(json.decode(big .. "x"))
      assert.is_true(collectgarbage("isrunning"))
      collectgarbage("stop")
      assert.are.equal(100001, #json.decode(big))
      assert.is_false(collectgarbage("isrunning"))
      collectgarbage("restart")
    end)

    it("decodes many documents one after another", function()
      for i = 1, 2000 do
        assert.are.equal(i, json.decode(string.format('{"i": %d}', i)).i)
        assert.is_nil(json.decode("[" .. i))
      end
    end)
  end)

  describe("lone surrogates", function()
    it("replaces lone surrogates with U+FFFD when asked", function()
      local cases = {
        { '"\\ud800"', "\u{FFFD}" },
        { '"x\\udc00y"', "x\u{FFFD}y" },
        { '"\\ud83d\\u0041"', "\u{FFFD}A" },
        { '"\\ud800\\ud800\\udc00"', "\u{FFFD}\u{10000}" },
        { '"\\udbff\\udfff\\udfff"', "\u{10FFFF}\u{FFFD}" },
        { '"\\ud83d"', "\u{FFFD}" },
        { '"\\ud83d\\ude00"', "😀" },
      }
      for _, case in ipairs(cases) do
        assert.are.equal(case[2], json.decode(case[1], { replace_surrogates = true }))
        assert.are.equal(1, json.decode("{" .. case[1] .. ": 1}", { replace_surrogates = true })[case[2]])
        assert.are.equal(
          case[2],
          json.decode('{"k": ' .. case[1] .. "}", { keys = { "k" }, replace_surrogates = true }).k
        )
        if case[1] ~= '"\\ud83d\\ude00"' then
          local v, msg, code = json.decode(case[1])
          assert.is_nil(v)
          assert.is_truthy(msg:find("unpaired surrogate", 1, true))
          assert.are.equal("parse", code)
          assert.is_nil(json.decode(case[1], { replace_surrogates = false }))
        end
      end
      -- Ill-formed UTF-8 is still refused.
      assert.is_nil(json.decode('"\237\160\128"', { replace_surrogates = true }))
      assert.has_error(function()
        json.decode("1", { replace_surrogates = 1 })
      end, "bad argument #2 to 'decode' (option 'replace_surrogates' must be a boolean)")
    end)
  end)

  describe("decode_file", function()
    local dir
    before_each(function()
      dir = support.tmpdir()
    end)
    after_each(function()
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("decodes a file", function()
      local v = assert(json.decode_file(CONFORMANCE .. "scriptworker/example-chain-of-trust.json"))
      assert.are.equal("Qt3GKapxQmWDJId8m5o8Yg", v.taskId)
    end)

    it("names the path when the file cannot be read", function()
      assert_fails(
        "json: " .. dir .. "/missing.json: No such file or directory",
        "ENOENT",
        json.decode_file(dir .. "/missing.json")
      )
      assert_fails("json: " .. dir .. ": Is a directory", "EISDIR", json.decode_file(dir))
    end)

    it("names the path in parse errors", function()
      write(dir .. "/bad.json", '{\n  "a": [1, 2,]\n}\n')
      assert_fails(
        "json: " .. dir .. "/bad.json: line 2 column 14 (byte 15): expected a value, got ']'",
        "parse",
        json.decode_file(dir .. "/bad.json")
      )
      write(dir .. "/vt.json", '{\n  "a": [1,\v2]\n}\n')
      assert_fails(
        "json: " .. dir .. "/vt.json: line 2 column 11 (byte 12): unexpected byte 0x0b",
        "parse",
        json.decode_file(dir .. "/vt.json")
      )
      write(dir .. "/open.json", '{"a": 1}\n"b')
      assert_fails(
        "json: " .. dir .. "/open.json: line 2 column 1 (byte 9): trailing garbage after JSON value, got string",
        "parse",
        json.decode_file(dir .. "/open.json")
      )
      -- Not a regular file: read whole, not in chunks.
      assert_fails(
        "json: /dev/null: line 1 column 1 (byte 0): unexpected end of input",
        "parse",
        json.decode_file("/dev/null")
      )
      write(dir .. "/empty.json", "")
      assert_fails(
        "json: " .. dir .. "/empty.json: line 1 column 1 (byte 0): unexpected end of input",
        "parse",
        json.decode_file(dir .. "/empty.json")
      )
    end)

    -- Files are parsed in chunks of about 1 MiB cut after a newline; these
    -- put escapes, numbers and errors on both sides of the cuts.
    local function big_lines(n)
      local lines = { "[" }
      for i = 1, n do
        lines[#lines + 1] = string.format('  {"k\\u00e9y": "v\\"%d\\u20ac", "n": %d, "f": %d.5},', i, i, i)
      end
      lines[#lines + 1] = '  "\\ud83d\\ude00"'
      lines[#lines + 1] = "]"
      return lines
    end

    it("decodes big files in chunks", function()
      local lines = big_lines(60000)
      write(dir .. "/big.json", table.concat(lines, "\n") .. "\n")
      local v = assert(json.decode_file(dir .. "/big.json"))
      assert.are.equal(60001, #v)
      for _, i in ipairs({ 1, 17000, 33333, 60000 }) do
        assert.are.equal('v"' .. i .. "€", v[i]["kéy"])
        assert.are.equal(i, v[i].n)
        assert.are.equal(i + 0.5, v[i].f)
      end
      assert.are.equal("😀", v[60001])
    end)

    it("decodes a big file without newlines", function()
      local parts = {}
      for i = 1, 100000 do
        parts[i] = string.format('"\\u00e9%d"', i)
      end
      write(dir .. "/line.json", "[" .. table.concat(parts, ",") .. "]")
      local v = assert(json.decode_file(dir .. "/line.json"))
      assert.are.equal(100000, #v)
      assert.are.equal("é77777", v[77777])
    end)

    it("reports exact positions deep in big files", function()
      local lines = big_lines(60000)
      local before = #table.concat(lines, "\n", 1, 45000) + 1
      -- { line 45001, its column and message }
      local cases = {
        { '  {"k": "bad \255 byte"},', 14, "invalid UTF-8 sequence starting with 0xff in string" },
        { '  {"k": 1 "j": 2},', 11, "expected ',' or '}' after object member, got string" },
      }
      for _, case in ipairs(cases) do
        lines[45001] = case[1]
        write(dir .. "/bad.json", table.concat(lines, "\n") .. "\n")
        local want = "json: %s/bad.json: line 45001 column %d (byte %d): %s"
        assert_fails(
          string.format(want, dir, case[2], before + case[2] - 1, case[3]),
          "parse",
          json.decode_file(dir .. "/bad.json")
        )
      end
      local cut = table.concat(big_lines(60000), "\n", 1, 50000)
      write(dir .. "/cut.json", cut)
      local last = #cut - #table.concat(big_lines(60000), "\n", 1, 49999)
      assert_fails(
        string.format("json: %s/cut.json: line 50000 column %d (byte %d): unexpected end of input", dir, last, #cut),
        "parse",
        json.decode_file(dir .. "/cut.json")
      )
    end)
  end)

  describe("keys option", function()
    local dir
    before_each(function()
      dir = support.tmpdir()
    end)
    after_each(function()
      os.execute("rm -rf '" .. dir .. "'")
    end)

    local function canon(v)
      return assert(json.encode(v, { canonical = true }))
    end

    -- The top-level keys of a document, from a full decode.
    local top_keys = require("support").sorted_keys

    -- decode(text, {keys = want}) must hold exactly the wanted keys that
    -- the full decode has, with the same values.
    local function check_same(text, want, opts)
      local full = assert(json.decode(text, opts))
      local o = { keys = want }
      for k, v in pairs(opts or {}) do
        o[k] = v
      end
      local got, msg = json.decode(text, o)
      assert(got, msg)
      assert.are.equal(json.object_mt, getmetatable(got))
      local expect = json.object()
      for _, k in ipairs(want) do
        if full[k] ~= nil then
          expect[k] = full[k]
        end
      end
      assert.are.equal(canon(expect), canon(got))
      return got
    end

    it("decodes wanted values exactly as decode does", function()
      local docs = {
        "{}",
        " \n{ }\t",
        '{"a": {"b": {"a": 1}}, "c": "\\"a\\": 2", "d": ["a", {"a": 3}], "e": {"b": [{"b": 4}]}}',
        '{"\\u0061x": 1, "\\"q\\"": 2, "é": 3, "\\u00e9x": 4, "😀": 5, "\\ud83d\\ude01": 6, "\\/": 7}',
        '{"i": 9007199254740993, "m": -9223372036854775808, "big": 123456789012345678901234567890,'
          .. ' "f": -0.5e-3, "z": 0, "neg": -0, "x": 1E+2, "y": 2.50}',
        '{"ea": [], "eo": {}, "nested": [[], {}, [{}], {"x": []}]}',
        '{"t": true, "f": false, "n": null, "s": "", "arr": [true, false, null]}',
        '\n\t{\r\n "a" \t:\n [ 1 , 2 ] ,\n"b":{ }\n,"c"  :  "x"  }\n ',
        '{"s": "[[[{{{", "t": "]]]}}}", "u": "\\\\", "v": "\\\\\\"[", "w": "\\b\\f\\n\\r\\t\\u0000\\u001f"}',
        '{"deep": [[[[[[[[[[{"a": [[[[]]]]}]]]]]]]]]], "after": "\\ud800\\udc00"}',
        '{"a": 1, "b": 2, "a": 3}', -- duplicates, none wanted below
      }
      for _, text in ipairs(docs) do
        local full = assert(json.decode(text))
        local want = top_keys(full)
        -- Every key, a missing one, and names that only occur nested or
        -- inside strings (they must not be found).
        local keys = { "missing", "b\0", "zz" }
        for _, k in ipairs(want) do
          if k ~= "a" or not text:find('"a": 3}', 1, true) then
            keys[#keys + 1] = k
          end
        end
        check_same(text, keys)
        -- One key at a time, and none.
        for _, k in ipairs(want) do
          if not text:find('"a": 3}', 1, true) then
            check_same(text, { k })
          end
        end
        assert.are.same({}, assert(json.decode(text, { keys = {} })))
      end
      -- Keys seen only nested or in strings are not picked up.
      local v = assert(json.decode('{"x": {"k": 1}, "y": ["k", {"k": 2}], "z": "\\"k\\": 3"}', { keys = { "k" } }))
      assert.is_nil(next(v))
      -- Arrays and objects stay apart in wanted values.
      v = assert(json.decode('{"a": [], "o": {}, "n": [{}, []]}', { keys = { "a", "o", "n" } }))
      assert.are.equal(json.array_mt, getmetatable(v.a))
      assert.are.equal(json.object_mt, getmetatable(v.o))
      assert.are.equal(json.object_mt, getmetatable(v.n[1]))
      assert.are.equal(json.array_mt, getmetatable(v.n[2]))
      assert.are.equal(9007199254740993, json.decode('{"i": 9007199254740993}', { keys = { "i" } }).i)
      assert.is_true(math.type(json.decode('{"i": 5}', { keys = { "i" } }).i) == "integer")
    end)

    -- Random objects, with escapes, brackets and quotes in strings and keys,
    -- so that 64-byte block edges fall everywhere.
    local function random_doc(seed)
      math.randomseed(seed)
      local pieces = { "x", "y", "\\", '"', "[", "]", "{", "}", ",", ":", "é", "😀", "\n", "\1", "/", " " }
      local function str()
        local s = {}
        for i = 1, math.random(0, 40) do
          s[i] = pieces[math.random(1, #pieces)]
        end
        return table.concat(s)
      end
      local function gen(depth)
        local r = math.random(1, depth > 5 and 5 or 7)
        if r == 1 then
          return math.random(-100000, 100000)
        elseif r == 2 then
          return math.random(0, 1) == 1 and json.null or (math.random(0, 1) == 1)
        elseif r == 3 then
          return math.random() * 10 ^ math.random(-20, 20)
        elseif r <= 5 then
          return str()
        elseif r == 6 then
          local t = json.array()
          for i = 1, math.random(0, 6) do
            t[i] = gen(depth + 1)
          end
          return t
        else
          local t = json.object()
          for _ = 1, math.random(0, 6) do
            t[str()] = gen(depth + 1)
          end
          return t
        end
      end
      local top = json.object()
      for i = 1, math.random(0, 12) do
        top[i % 3 == 0 and str() or "k" .. i] = gen(1)
      end
      return top
    end

    it("agrees with decode on random documents", function()
      for seed = 1, 150 do
        local top = random_doc(seed)
        local all = top_keys(top)
        for _, opts in ipairs({ {}, { indent = 2 }, { ensure_ascii = true } }) do
          local text = assert(json.encode(top, opts))
          check_same(text, all)
          local some = { "none" }
          for i = 1, #all, 2 do
            some[#some + 1] = all[i]
          end
          check_same(text, some)
        end
      end
    end)

    it("handles escapes on either side of 64-byte block edges", function()
      local tails = { '\\\\', '\\"', '\\\\\\"', '\\\\\\\\', '\\u005c', "[{", "}]" }
      for pad = 0, 140 do
        for _, tail in ipairs(tails) do
          local text = '{"p": ["'
            .. string.rep("x", pad)
            .. tail
            .. '", {"q": "'
            .. tail
            .. '"}], "a": "'
            .. tail
            .. '"}'
          check_same(text, { "a" })
          check_same(text, { "p", "a" })
        end
      end
    end)

    it("refuses a wanted key twice; other duplicates pass", function()
      assert_fails(
        "json: line 1 column 18 (byte 17): duplicate key \"a\" (option 'keys')",
        "parse",
        json.decode('{"a": 1, "b": 2, "a": 1}', { keys = { "a" } })
      )
      assert_fails(
        "json: line 1 column 10 (byte 9): duplicate key \"a\" (option 'keys')",
        "parse",
        json.decode('{"a": 1, "\\u0061": 2}', { keys = { "a" } })
      )
      assert.are.equal(2, json.decode('{"a": 1, "b": 2, "a": 1}', { keys = { "b" } }).b)
    end)

    it("applies max_depth to wanted and skipped values", function()
      local text = '{"a": [[1]], "b": {"c": {}}}'
      for _, want in ipairs({ { "a" }, { "b" }, { "x" } }) do
        assert_fails(
          "json: line 1 column 8 (byte 7): too deeply nested (max_depth 2)",
          "parse",
          json.decode(text, { keys = want, max_depth = 2 })
        )
        assert.is_table(json.decode(text, { keys = want, max_depth = 3 }))
      end
      assert_fails(
        "json: line 1 column 7 (byte 6): too deeply nested (max_depth 1)",
        "parse",
        json.decode('{"a": {}}', { keys = { "a" }, max_depth = 1 })
      )
      assert.are.equal(1, json.decode('{"a": 1}', { keys = { "a" }, max_depth = 1 }).a)
    end)

    it("fails on invalid input with the offending byte", function()
      local cases = {
        { "", "line 1 column 1 (byte 0): unexpected end of input" },
        { "  ", "line 1 column 3 (byte 2): unexpected end of input" },
        { "[1]", "line 1 column 1 (byte 0): expected an object (option 'keys'), got '['" },
        { '"a"', "line 1 column 1 (byte 0): expected an object (option 'keys'), got string" },
        { "{", "line 1 column 2 (byte 1): unexpected end of input" },
        { "{a: 1}", "line 1 column 2 (byte 1): expected a string for object key, got 'a'" },
        { '{"a" 1}', "line 1 column 6 (byte 5): expected ':' after object key, got '1'" },
        { '{"a": 1,}', "line 1 column 9 (byte 8): expected a string for object key, got '}'" },
        { '{"a": 1 "b": 2}', "line 1 column 9 (byte 8): expected ',' or '}' after object member, got string" },
        { '{"x": 1} {', "line 1 column 10 (byte 9): trailing garbage after JSON value, got '{'" },
        { '{"x": }', "line 1 column 7 (byte 6): expected a value, got '}'" },
        { '{"x": tru}', "line 1 column 7 (byte 6): invalid literal 'tru'" },
        { '{"x": nulls}', "line 1 column 7 (byte 6): invalid literal 'nulls'" },
        { '{"x": -}', "line 1 column 8 (byte 7): invalid number, expected a digit after the minus sign" },
        { '{"x": 1.}', "line 1 column 9 (byte 8): invalid number, expected a digit after the decimal point" },
        { '{"x": 1e+}', "line 1 column 10 (byte 9): invalid number, expected a digit after the exponent" },
        { '{"x": 01}', "line 1 column 8 (byte 7): expected ',' or '}' after object member, got '1'" },
        { '{"x": [1}', "line 1 column 9 (byte 8): mismatched '}', expected ']'" },
        { '{"x": {"a": [}]}', "line 1 column 14 (byte 13): mismatched '}', expected ']'" },
        { '{"x": [1, "]"', "line 1 column 14 (byte 13): unexpected end of input" },
        { '{"x": "a\tb"}', "line 1 column 9 (byte 8): unescaped control character 0x09 in string" },
        { '{"x": [\\"]}', "line 1 column 8 (byte 7): unexpected '\\'" },
        { '{"x\\q": 1}', "line 1 column 4 (byte 3): invalid escape in string, '\\' followed by 'q'" },
        { '{"x\\u12g4": 1}', "line 1 column 8 (byte 7): invalid \\u escape in string, got 'g'" },
        { '{"x\\ud800": 1}', "line 1 column 4 (byte 3): unpaired surrogate \\ud800 in string" },
        { '{"\255": 1}', "line 1 column 3 (byte 2): invalid UTF-8 sequence starting with 0xff in string" },
        -- Wanted values are checked by decode itself.
        { '{"w": [1,]}', "line 1 column 10 (byte 9): expected a value, got ']'" },
        { '{"w": "\\q"}', "line 1 column 8 (byte 7): invalid escape in string, '\\' followed by 'q'" },
        { '{"w": {"a" 1}}', "line 1 column 12 (byte 11): expected ':' after object key, got '1'" },
        { '{"w": "\\udc00"}', "line 1 column 8 (byte 7): unpaired surrogate \\udc00 in string" },
        {
          '{\n  "w": [\n    "\255"\n  ]\n}',
          "line 3 column 6 (byte 16): invalid UTF-8 sequence starting with 0xff in string",
        },
      }
      for _, case in ipairs(cases) do
        assert_fails("json: " .. case[2], "parse", json.decode(case[1], { keys = { "w" } }))
      end
      -- Not checked in skipped values (documented): tokens between brackets,
      -- what a backslash escapes, UTF-8.
      for _, text in ipairs({ '{"s": [1 2 :, x]}', '{"s": "\\q"}', '{"s": ["\255"]}' }) do
        assert.is_nil(json.decode(text))
        assert.are.same({}, assert(json.decode(text, { keys = { "w" } })))
      end
    end)

    local sample = '{\n  "a": {"k": [1, 2.5e-3, "s\\"}]", null, true, false, {"x": {}}]},\n'
      .. '  "\\u0062": "v\\u00e9\\ud83d\\ude00",\n  "c": -12,\n  "d": [[], {"e": "]"}],\n'
      .. '  "f": "[{\\\\",\n  "g": true\n}\n'

    it("fails, never crashes, on every truncation", function()
      for _, want in ipairs({ { "a", "b", "c", "d", "f", "g" }, { "zz" } }) do
        check_same(sample, want)
        local last = #sample:match("^(.*})") -- the last '}' ends the value
        for cut = 0, last - 1 do
          local v, msg, code = json.decode(sample:sub(1, cut), { keys = want })
          assert.is_nil(v, cut)
          assert.are.equal("parse", code)
          local byte = tonumber(msg:match("^json: line %d+ column %d+ %(byte (%d+)%): "))
          assert.is_true(byte ~= nil and byte <= cut, msg)
        end
      end
    end)

    it("agrees with decode whenever decode accepts a corrupted document", function()
      local subs = { "", " ", "}", "]", "{", "[", '"', "\\", ",", ":", "1", "x", "\0" }
      local both, differ = 0, 0
      for at = 1, #sample do
        for _, sub in ipairs(subs) do
          local text = sample:sub(1, at - 1) .. sub .. sample:sub(at + 1)
          local want = { "a", "b", "c", "d", "f", "g" }
          local full = json.decode(text)
          local v, msg, code = json.decode(text, { keys = want })
          if v == nil then
            assert.are.equal("parse", code)
            assert.is_truthy(msg:match("^json: line %d+ column %d+ %(byte %d+%): "), msg)
          end
          if type(full) == "table" and getmetatable(full) == json.object_mt and not (msg or ""):find("duplicate") then
            assert(v, msg)
            local expect = json.object()
            for _, k in ipairs(want) do
              expect[k] = full[k]
            end
            assert.are.equal(canon(expect), canon(v))
            both = both + 1
          elseif v ~= nil then
            differ = differ + 1 -- an error inside a skipped value
          end
        end
      end
      assert.is_true(both > 50)
    end)

    -- A task-graph.json of a few MB: Gecko-like tasks, keyed by taskId,
    -- written as the decision task writes it (indent 2, sorted keys).
    local function task_graph(n)
      math.randomseed(7)
      local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      local function slug()
        local t = {}
        for i = 1, 22 do
          local r = math.random(1, #alphabet)
          t[i] = alphabet:sub(r, r)
        end
        return table.concat(t)
      end
      local graph = json.object()
      local ids = {}
      for i = 1, n do
        local id = slug()
        ids[#ids + 1] = id
        local deps = json.object()
        if i > 1 then
          deps["build"] = ids[math.random(1, #ids - 1)]
        end
        graph[id] = {
          kind = "build",
          label = "build-linux64-" .. i .. "/opt",
          attributes = { build_platform = "linux64", nightly = i % 2 == 0, shipping_phase = json.null },
          dependencies = deps,
          soft_dependencies = json.array(),
          optimization = i % 3 == 0 and { ["skip-unless-changed"] = { "taskcluster/**" } } or json.null,
          task = {
            provisionerId = "aws-provisioner-v1",
            workerType = "gecko-3-b-linux",
            dependencies = { ids[1] },
            routes = { "index.gecko.v2.maple.latest.firefox.linux64-opt", "tc-treeherder.v2.maple.\"q\"" },
            payload = {
              env = { GECKO_HEAD_REV = "054fe08d229f064a71bae9bb793e7ab8d95eff61", MOZ_SCM_LEVEL = "3" },
              command = { "/builds/worker/bin/run-task", "--", "echo '{[\\]}' é 😀" },
              maxRunTime = 7200 + i,
              artifacts = { ["public/build"] = { type = "directory", path = "/builds/worker/artifacts/" } },
            },
            extra = { chainOfTrust = { inputs = { ["docker-image"] = slug() } } },
          },
          task_id = id,
        }
      end
      return graph, ids
    end

    it("extracts tasks from a generated task graph file of a few MB", function()
      local graph, ids = task_graph(2500)
      local text = assert(json.encode(graph, { canonical = true }))
      assert.is_true(#text > 3 * 1024 * 1024)
      write(dir .. "/task-graph.json", text)
      local want = { "missing-task-id" }
      for i = 1, #ids, 211 do
        want[#want + 1] = ids[i]
      end
      local got = assert(json.decode_file(dir .. "/task-graph.json", { keys = want }))
      local n = 0
      for k, v in pairs(got) do
        n = n + 1
        assert.are.equal(k, v.task_id)
        assert.are.equal(canon(graph[k]), canon(v))
      end
      assert.are.equal(#want - 1, n)
      check_same(text, want)
      -- An error far into the file: the line is counted by reading it again.
      local at = text:find(ids[2000], 1, true) + 3 -- a byte of that key
      local bad = text:sub(1, at - 1) .. "\t" .. text:sub(at + 1)
      write(dir .. "/bad.json", bad)
      local before = bad:sub(1, at - 1)
      local line = select(2, before:gsub("\n", "")) + 1
      local col = at - #before:match("^.*\n")
      assert_fails(
        string.format(
          "json: %s/bad.json: line %d column %d (byte %d): unescaped control character 0x09 in string",
          dir,
          line,
          col,
          at - 1
        ),
        "parse",
        json.decode_file(dir .. "/bad.json", { keys = want })
      )
    end)

    it("reads files in windows: values across the window's edges", function()
      -- decode_file reads about 1 MiB at a time; a padding member moves
      -- the first edge over every byte of the members after it.
      local tail = '"a": [1, {"k": "x\\"]"}], "b\\u00e9": -1.5e2, "c": "[\\\\", "d": {"e": null}, "f": true'
      local window = 1024 * 1024
      local want = { "a", "bé", "c", "d", "f" }
      local expect = canon(assert(json.decode("{" .. tail .. "}", { keys = want })))
      for shift = 0, #tail + 2 do
        local head = '{"pad": "' .. string.rep("p", window - 12 - shift) .. '", '
        write(dir .. "/w.json", head .. tail .. "}")
        local got, msg = json.decode_file(dir .. "/w.json", { keys = want })
        assert(got, msg)
        assert.are.equal(expect, canon(got))
        -- And a wanted value bigger than the window.
        if shift % 16 == 0 then
          local v = assert(json.decode_file(dir .. "/w.json", { keys = { "pad", "f" } }))
          assert.are.equal(window - 12 - shift, #v.pad)
        end
      end
      -- Cut files fail at their end.
      local whole = '{"pad": "' .. string.rep("p", window) .. '", ' .. tail .. "}"
      for _, cut in ipairs({ window - 1, window + 9, window + 10, #whole - 1 }) do
        write(dir .. "/cut.json", whole:sub(1, cut))
        local v, msg, code = json.decode_file(dir .. "/cut.json", { keys = want })
        assert.is_nil(v)
        assert.are.equal("parse", code)
        assert.is_truthy(msg:find("unexpected end of input", 1, true), msg)
      end
    end)

    it("skips keys too long to be wanted without keeping them", function()
      -- 3 MiB keys cross window edges; they cannot be "a" or "b", so they
      -- are only checked as skipped strings are.
      local long = string.rep("k", 3 * 1024 * 1024)
      local text = '{"' .. long .. '\\\\": [1], "a": {"x": "' .. long .. '"}, "' .. long .. 'y": 2, "b": 3}'
      write(dir .. "/long.json", text)
      local v = assert(json.decode_file(dir .. "/long.json", { keys = { "a", "b" } }))
      assert.are.equal(#long, #v.a.x)
      assert.are.equal(3, v.b)
      assert.are.same({ b = 3 }, assert(json.decode(text, { keys = { "b" } })))
      -- Such a key's UTF-8 is not checked, in a file or not; a short one's is.
      for _, key in ipairs({ long .. "\255", string.rep("k", 4096) .. "\255" }) do
        write(dir .. "/long.json", '{"' .. key .. '": 1, "b": 2}')
        assert.are.same({ b = 2 }, assert(json.decode_file(dir .. "/long.json", { keys = { "b" } })))
        assert.are.same({ b = 2 }, assert(json.decode('{"' .. key .. '": 1, "b": 2}', { keys = { "b" } })))
      end
      assert.is_nil(json.decode('{"' .. string.rep("k", 4000) .. '\255": 1, "b": 2}', { keys = { "b" } }))
      write(dir .. "/long.json", '{"' .. long .. "\n" .. '": 1}')
      local _, msg = json.decode_file(dir .. "/long.json", { keys = { "a" } })
      assert.are.equal(
        string.format(
          "json: %s/long.json: line 1 column %d (byte %d): unescaped control character 0x0a in string",
          dir,
          #long + 3,
          #long + 2
        ),
        msg
      )
    end)

    it("reports unreadable files and reads pipes whole", function()
      assert_fails(
        "json: " .. dir .. "/missing.json: No such file or directory",
        "ENOENT",
        json.decode_file(dir .. "/missing.json", { keys = { "a" } })
      )
      assert_fails("json: " .. dir .. ": Is a directory", "EISDIR", json.decode_file(dir, { keys = { "a" } }))
      assert_fails(
        "json: /dev/null: line 1 column 1 (byte 0): unexpected end of input",
        "parse",
        json.decode_file("/dev/null", { keys = { "a" } })
      )
    end)

    it("raises on bad options", function()
      assert.has_error(function()
        json.decode("{}", { keys = "a" })
      end, "bad argument #2 to 'decode' (option 'keys' must be an array of strings)")
      assert.has_error(function()
        json.decode("{}", { keys = { "a", 1 } })
      end, "bad argument #2 to 'decode' (option 'keys' must be an array of strings)")
      assert.has_error(function()
        json.decode_file("/dev/null", { keys = { {} } })
      end, "bad argument #2 to 'decode_file' (option 'keys' must be an array of strings)")
    end)
  end)

  describe("limits", function()
    it("decodes 10,000 levels of nesting without recursing in C", function()
      local n = 10000
      local parts, close = {}, {}
      for i = 1, n - 1 do
        parts[i] = i % 2 == 0 and "[" or '{"k":'
        close[n - i] = i % 2 == 0 and "]" or "}"
      end
      local text = table.concat(parts) .. "[]" .. table.concat(close)
      local v = assert(json.decode(text, { max_depth = n }))
      local depth = 0
      while v ~= nil do
        depth = depth + 1
        v = getmetatable(v) == json.object_mt and v.k or v[1]
      end
      assert.are.equal(n, depth)
      assert_fails(
        string.format(
          "json: line 1 column %d (byte %d): too deeply nested (max_depth %d)",
          #text - n,
          #text - n - 1,
          n - 1
        ),
        "parse",
        json.decode(text, { max_depth = n - 1 })
      )
      -- Wanted and skipped with keys, from a coroutine too (Lua's C calls
      -- then run on the coroutine's C stack share).
      local wrapped = '{"w": ' .. string.rep("[", n - 1) .. string.rep("]", n - 1) .. ', "s": 1}'
      local co = coroutine.wrap(function()
        return json.decode(wrapped, { keys = { "w", "s" }, max_depth = n })
      end)
      local got = assert(co())
      assert.are.equal(1, got.s)
      assert.is_table(got.w)
      assert.are.same({ s = 1 }, assert(json.decode(wrapped, { keys = { "s" }, max_depth = n })))
      assert.is_nil(json.decode(wrapped, { keys = { "s" }, max_depth = n - 1 }))
      -- decode_file, streaming and with keys.
      local dir = support.tmpdir()
      write(dir .. "/deep.json", text)
      assert.are.equal(json.object_mt, getmetatable(assert(json.decode_file(dir .. "/deep.json", { max_depth = n }))))
      write(dir .. "/wrapped.json", wrapped)
      got = assert(json.decode_file(dir .. "/wrapped.json", { keys = { "w", "s" }, max_depth = n }))
      assert.are.equal(json.array_mt, getmetatable(got.w))
      os.execute("rm -rf '" .. dir .. "'")
    end)
  end)

  describe("encode", function()
    -- The value behind the Python outputs below.
    local function sample()
      return {
        b = { 1, 2.5, json.null, true, false, "x" },
        a = { z = json.object(), y = json.array() },
        ["é"] = "ü€😀",
        ctrl = '\0\1\31\127"\\/\b\f\n\r\t',
        n = math.mininteger,
        big = math.maxinteger,
      }
    end

    it("is canonical: Python's json.dumps(v, indent=2, sort_keys=True)", function()
      assert.are.equal(
        "{\n  \"a\": {\n    \"y\": [],\n    \"z\": {}\n  },\n  \"b\": [\n    1,\n    2.5,\n    null,\n"
          .. "    true,\n    false,\n    \"x\"\n  ],\n  \"big\": 9223372036854775807,\n"
          .. "  \"ctrl\": \"\\u0000\\u0001\\u001f\\u007f\\\"\\\\/\\b\\f\\n\\r\\t\",\n"
          .. "  \"n\": -9223372036854775808,\n  \"\\u00e9\": \"\\u00fc\\u20ac\\ud83d\\ude00\"\n}",
        json.encode(sample(), { canonical = true })
      )
    end)

    it("is compact by default: separators (',', ':'), UTF-8 kept", function()
      assert.are.equal(
        "{\"a\":{\"y\":[],\"z\":{}},\"b\":[1,2.5,null,true,false,\"x\"],\"big\":9223372036854775807,"
          .. "\"ctrl\":\"\\u0000\\u0001\\u001f\127\\\"\\\\/\\b\\f\\n\\r\\t\",\"n\":-9223372036854775808,"
          .. "\"\195\169\":\"\195\188\226\130\172\240\159\152\128\"}",
        json.encode(sample(), { sort_keys = true })
      )
      assert.are.equal('{"a":1}', json.encode({ a = 1 }))
      assert.are.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
      assert.are.equal('"x"', json.encode("x"))
      assert.are.equal("null", json.encode(json.null))
      assert.are.equal("true", json.encode(true))
    end)

    it("takes indent, sort_keys and ensure_ascii like Python", function()
      assert.are.equal(
        "{\n    \"a\": {\n        \"y\": [],\n        \"z\": {}\n    },\n    \"b\": [\n        1,\n"
          .. "        2.5,\n        null,\n        true,\n        false,\n        \"x\"\n    ],\n"
          .. "    \"big\": 9223372036854775807,\n"
          .. "    \"ctrl\": \"\\u0000\\u0001\\u001f\127\\\"\\\\/\\b\\f\\n\\r\\t\",\n"
          .. "    \"n\": -9223372036854775808,\n"
          .. "    \"\195\169\": \"\195\188\226\130\172\240\159\152\128\"\n}",
        json.encode(sample(), { indent = 4, sort_keys = true })
      )
      assert.are.equal(
        "{\"a\":{\"y\":[],\"z\":{}},\"b\":[1,2.5,null,true,false,\"x\"],\"big\":9223372036854775807,"
          .. "\"ctrl\":\"\\u0000\\u0001\\u001f\\u007f\\\"\\\\/\\b\\f\\n\\r\\t\",\"n\":-9223372036854775808,"
          .. "\"\\u00e9\":\"\\u00fc\\u20ac\\ud83d\\ude00\"}",
        json.encode(sample(), { sort_keys = true, ensure_ascii = true })
      )
      assert.are.equal(
        '[\n1,\n[\n2,\n{}\n],\n{\n"a": []\n}\n]',
        json.encode({ 1, { 2, {} }, { a = json.array() } }, { indent = 0 })
      )
    end)

    it("sorts keys by code point, as Python does", function()
      local keys = {
        [""] = 1,
        A = 2,
        a = 3,
        aa = 4,
        ["a\0"] = 5,
        Z = 6,
        ["é"] = 7,
        ["😀"] = 8,
        ["\u{ffff}"] = 9,
        ["~"] = 10,
        ["\u{100}"] = 11,
      }
      assert.are.equal(
        "{\n  \"\": 1,\n  \"A\": 2,\n  \"Z\": 6,\n  \"a\": 3,\n  \"a\\u0000\": 5,\n  \"aa\": 4,\n"
          .. "  \"~\": 10,\n  \"\\u00e9\": 7,\n  \"\\u0100\": 11,\n  \"\\uffff\": 9,\n"
          .. "  \"\\ud83d\\ude00\": 8\n}",
        json.encode(keys, { canonical = true })
      )
    end)

    it("writes floats as Python's repr does", function()
      local floats = {
        1.0,
        0.1,
        1e16,
        1e15,
        1e-05,
        0.0001,
        -0.0,
        0.0,
        1.5e300,
        5e-324,
        1 / 3,
        2.0 ^ 53,
        2.0 ^ 63,
        1e22,
        123456789012345678.0,
        1.7976931348623157e308,
        2.2250738585072014e-308,
        0.1 + 0.2,
        100.0,
        1e100,
        -1.5,
        9007199254740993.0,
        1234567.125,
      }
      assert.are.equal(
        "[1.0, 0.1, 1e+16, 1000000000000000.0, 1e-05, 0.0001, -0.0, 0.0, 1.5e+300, 5e-324, "
          .. "0.3333333333333333, 9007199254740992.0, 9.223372036854776e+18, 1e+22, "
          .. "1.2345678901234568e+17, 1.7976931348623157e+308, 2.2250738585072014e-308, "
          .. "0.30000000000000004, 100.0, 1e+100, -1.5, 9007199254740992.0, 1234567.125]",
        (json.encode(floats, { canonical = true }):gsub("\n *", " "):gsub("%[ ", "["):gsub(" %]", "]"))
      )
    end)

    it("keeps integers exact", function()
      assert.are.equal("9007199254740993", json.encode(9007199254740993))
      assert.are.equal("-9223372036854775808", json.encode(math.mininteger))
      assert.are.equal("[0,-1,10]", json.encode({ 0, -1, 10 }))
    end)

    it("keeps [] and {} apart through a round trip, nested", function()
      local text = '{"a":[],"b":{},"c":[{}],"d":[[],{"e":[]}]}'
      assert.are.equal(text, json.encode(json.decode(text), { sort_keys = true }))
      assert.are.equal(
        '{\n  "a": [],\n  "b": {},\n  "c": [\n    {}\n  ],\n  "d": [\n    [],\n'
          .. '    {\n      "e": []\n    }\n  ]\n}',
        json.encode(json.decode(text), { canonical = true })
      )
    end)

    it("tells unmarked tables apart by their keys", function()
      assert.are.equal("{}", json.encode({}))
      assert.are.equal("[1,2]", json.encode({ 1, 2 }))
      assert.are.equal('{"1":true}', json.encode({ ["1"] = true }))
      assert.are.equal("[]", json.encode(json.array({})))
      assert.are.equal("{}", json.encode(json.object()))
      -- A marked table keeps its mark whatever its keys look like.
      assert.are.equal('{"x":1}', json.encode(json.object({ x = 1 })))
      assert.are.equal("[7]", json.encode(json.array({ 7 })))
    end)

    it("round-trips every conformance document canonically", function()
      local expected = sections(support.read(FIXTURES .. "json_conformance.canonical.txt"))
      -- cotv2/actions.json (115 KB) is left out to keep the fixture small.
      local files = {
        "scriptworker/cotv2/action_relpro.json",
        "scriptworker/cotv2/cotv4_relpro_context.json",
        "scriptworker/cotv2/cotv4_relpro_template.json",
        "scriptworker/cotv2/cron.json",
        "scriptworker/cotv2/decision_hg-push.json",
        "scriptworker/cotv2/pushlog.json",
        "scriptworker/cotv4/action_github.json",
        "scriptworker/cotv4/action_relpro.json",
        "scriptworker/cotv4/action_retrigger.json",
        "scriptworker/cotv4/actions.json",
        "scriptworker/cotv4/decision_github_private.json",
        "scriptworker/cotv4/decision_try.json",
        "scriptworker/cotv4/pr_action_github.json",
        "scriptworker/cotv4/pr_action_retrigger.json",
        "scriptworker/cotv4/pr_action_retrigger_context.json",
        "scriptworker/cotv4/pr_action_retrigger_template.json",
        "scriptworker/cotv4/pushlog.json",
        "scriptworker/cotv4/retrigger_context.json",
        "scriptworker/cotv4/retrigger_template.json",
        "scriptworker/default-config.json",
        "scriptworker/ed25519/foo.json",
        "scriptworker/schemas/cot_v1_schema.json",
        "scriptworker/schemas/scriptworker_task_schema.json",
      }
      for _, rel in ipairs(files) do
        -- Files absent from the fixture are canonical already (Python
        -- wrote them), up to a final newline.
        local want = expected[rel] or support.read(CONFORMANCE .. rel):gsub("\n$", "")
        local v = assert(json.decode_file(CONFORMANCE .. rel))
        assert.are.equal(want, json.encode(v, { canonical = true }), rel)
        assert.are.equal(want, json.encode(json.decode(json.encode(v)), { canonical = true }), rel)
      end
    end)

    it("re-encodes example-chain-of-trust.json as Python does", function()
      local want = support.read(FIXTURES .. "json_example-chain-of-trust.canonical.json")
      local v = assert(json.decode_file(CONFORMANCE .. "scriptworker/example-chain-of-trust.json"))
      assert.are.equal(want, json.encode(v, { canonical = true }))
    end)

    it("round-trips random documents", function()
      math.randomseed(20240611)
      local function gen(depth)
        local r = math.random(1, depth > 4 and 6 or 8)
        if r == 1 then
          return math.random(-1000000, 1000000)
        elseif r == 2 then
          return math.random() * 10 ^ math.random(-30, 30)
        elseif r == 3 then
          local s = {}
          for i = 1, math.random(0, 8) do
            local ranges = { { 0, 127 }, { 128, 0xd7ff }, { 0xe000, 0xffff }, { 0x10000, 0x10ffff } }
            s[i] = utf8.char(math.random(table.unpack(ranges[math.random(1, #ranges)])))
          end
          return table.concat(s)
        elseif r == 4 then
          return math.random(0, 1) == 1
        elseif r == 5 then
          return json.null
        elseif r == 6 then
          return math.random(math.mininteger, math.maxinteger)
        elseif r == 7 then
          local t = json.array()
          for i = 1, math.random(0, 5) do
            t[i] = gen(depth + 1)
          end
          return t
        else
          local t = json.object()
          for _ = 1, math.random(0, 5) do
            t[tostring(math.random(1, 50))] = gen(depth + 1)
          end
          return t
        end
      end
      for _ = 1, 300 do
        local v = gen(0)
        for _, opts in ipairs({ { canonical = true }, { sort_keys = true }, { indent = 1 }, {} }) do
          local s = assert(json.encode(v, opts))
          local back, err = json.decode(s) -- back may be false
          assert.is_nil(err)
          assert.are.equal(json.encode(v, { canonical = true }), json.encode(back, { canonical = true }))
        end
      end
    end)

    describe("refuses", function()
      it("tables that are neither arrays nor objects", function()
        assert_fails(
          "json: $: table is neither an array (keys 1..n) nor an object (string keys)",
          "encode",
          json.encode({ 1, 2, x = 3 })
        )
        assert_fails(
          "json: $.a[2]: table is neither an array (keys 1..n) nor an object (string keys)",
          "encode",
          json.encode({ a = { 1, { [1] = 1, [3] = 3 } } })
        )
        assert_fails(
          "json: $: table is neither an array (keys 1..n) nor an object (string keys)",
          "encode",
          json.encode({ [1.5] = 1 })
        )
        assert_fails(
          "json: $.x: array has keys other than 1..n (2 keys, largest index 3)",
          "encode",
          json.encode({ x = json.array({ 1, nil, 3 }) })
        )
        assert_fails(
          "json: $: object key must be a string, got number",
          "encode",
          json.encode(json.object({ 1 }))
        )
        assert_fails(
          "json: $: object key must be a string, got boolean",
          "encode",
          json.encode(json.object({ [true] = 1 }))
        )
      end)

      it("values JSON has no words for", function()
        assert_fails("json: $.a.b[3]: cannot encode a function value", "encode", json.encode({
          a = { b = { 1, 2, print } },
        }))
        assert_fails('json: $["a b"][1]: cannot encode NaN', "encode", json.encode({ ["a b"] = { 0 / 0 } }))
        assert_fails("json: $: cannot encode Infinity", "encode", json.encode(math.huge))
        assert_fails("json: $[2]: cannot encode -Infinity", "encode", json.encode({ 1, -math.huge }))
        assert_fails("json: $: cannot encode nil", "encode", json.encode(nil))
        assert_fails("json: $.co: cannot encode a thread value", "encode", json.encode({
          co = coroutine.create(print),
        }))
        local upvalue = 1
        local function f()
          return upvalue
        end
        local light = debug.upvalueid(f, 1) -- a light userdata
        assert_fails(
          "json: $: cannot encode a light userdata other than json.null",
          "encode",
          json.encode(light)
        )
      end)

      it("strings and keys that are not UTF-8", function()
        assert_fails("json: $.s: invalid UTF-8 in string at byte 2", "encode", json.encode({ s = "ok\255" }))
        assert_fails(
          "json: $.a: invalid UTF-8 in object key at byte 1",
          "encode",
          json.encode({ a = { ["x\192\128"] = 1 } }, { canonical = true })
        )
        assert_fails("json: $: invalid UTF-8 in string at byte 0", "encode", json.encode("\237\160\128"))
        assert_fails(
          'json: $["a\\"b\\x0a\\xc3\\xa9"].c: cannot encode a function value',
          "encode",
          json.encode({ ['a"b\né'] = { c = print } }, { sort_keys = true })
        )
      end)

      it("cycles", function()
        local t = { x = {} }
        t.x.y = t
        assert_fails("json: $.x.y: cycle: the table is already being encoded at $", "encode", json.encode(t))
        local a = json.array()
        a[1] = { a }
        assert_fails("json: $[1][1]: cycle: the table is already being encoded at $", "encode", json.encode(a))
      end)

      it("nothing at the deepest max_depth allowed", function()
        -- Each level of the encoder is a C call: at 10,000 levels its
        -- frames (a 1 KiB message buffer each) overran an 8 MiB stack.
        local text = string.rep("[", 10000) .. string.rep("]", 10000)
        local deep = json.decode(text, { max_depth = 10000 })
        assert.are.equal(text, json.encode(deep, { max_depth = 10000 }))
        local obj = 1.5
        for _ = 1, 10000 do
          obj = { k = obj }
        end
        assert.are.equal(
          string.rep('{"k":', 10000) .. "1.5" .. string.rep("}", 10000),
          json.encode(obj, { max_depth = 10000, sort_keys = true })
        )
      end)

      it("nesting deeper than max_depth", function()
        local deep = {}
        local cur = deep
        for _ = 1, 512 do
          cur[1] = {}
          cur = cur[1]
        end
        assert_fails(
          "json: $" .. string.rep("[1]", 8) .. "..." .. string.rep("[1]", 12) .. ": too deeply nested (max_depth 512)",
          "encode",
          json.encode(deep)
        )
        assert.is_string(json.encode(deep, { max_depth = 513 }))
        assert_fails(
          "json: $.a: too deeply nested (max_depth 1)",
          "encode",
          json.encode({ a = {} }, { max_depth = 1 })
        )
      end)

      it("bad options, by raising", function()
        assert.has_error(function()
          json.encode({}, { canonnical = true })
        end, "bad argument #2 to 'encode' (unknown option 'canonnical')")
        assert.has_error(function()
          json.encode({}, { canonical = true, indent = 4 })
        end, "bad argument #2 to 'encode' (option 'canonical' fixes indent, sort_keys and ensure_ascii)")
        assert.has_error(function()
          json.encode({}, { indent = -1 })
        end, "bad argument #2 to 'encode' (option 'indent' must be an integer from 0 to 64)")
        assert.has_error(function()
          json.encode({}, { sort_keys = "yes" })
        end, "bad argument #2 to 'encode' (option 'sort_keys' must be a boolean)")
        assert.has_error(function()
          json.encode()
        end)
      end)
    end)
  end)

  describe("marks and types", function()
    it("array() and object() mark a table and return it", function()
      local t = {}
      assert.are.equal(t, json.array(t))
      assert.are.equal(json.array_mt, getmetatable(t))
      assert.are.equal(t, json.object(t))
      assert.are.equal(json.object_mt, getmetatable(t))
      assert.are.equal(json.array_mt, getmetatable(json.array()))
      assert.are.equal(json.object_mt, getmetatable(json.object()))
      assert.has_error(function()
        json.array("x")
      end)
    end)

    it("type() names the JSON type or returns nil", function()
      assert.are.equal("null", json.type(json.null))
      assert.are.equal("boolean", json.type(false))
      assert.are.equal("number", json.type(1))
      assert.are.equal("number", json.type(1.5))
      assert.are.equal("string", json.type(""))
      assert.are.equal("array", json.type(json.array()))
      assert.are.equal("object", json.type(json.object({ 1 })))
      assert.are.equal("array", json.type({ 1, 2 }))
      assert.are.equal("object", json.type({}))
      assert.are.equal("object", json.type({ a = 1 }))
      assert.is_nil(json.type({ 1, a = 1 }))
      assert.is_nil(json.type(nil))
      assert.is_nil(json.type(print))
      assert.are.equal("array", json.type(json.decode("[]")))
      assert.are.equal("object", json.type(json.decode("{}")))
    end)

    it("is_array() follows type()", function()
      assert.is_true(json.is_array(json.array()))
      assert.is_true(json.is_array({ 1 }))
      assert.is_true(json.is_array(json.decode("[]")))
      assert.is_false(json.is_array({}))
      assert.is_false(json.is_array(json.decode("{}")))
      assert.is_false(json.is_array("[]"))
      assert.is_false(json.is_array({ 1, a = 2 }))
    end)
  end)
end)
