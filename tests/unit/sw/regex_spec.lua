-- sw.regex: Python re-style patterns on PCRE2 (core/regex.c). Expected
-- values were taken from CPython 3.11's re module.
local regex = require("sw.regex")
local support = require("support")

local LIMIT_MSG = "regex: match limit exceeded"

-- Asserts that a call returned exactly nil, msg, code.
local function fails(msg, code, ...)
  assert.are.same({ n = 3, nil, msg, code }, table.pack(...))
end

-- Every "path_regexes" string of the Python scriptworker's default config,
-- read with a small scanner (this spec must not depend on sw.json). The
-- patterns only use the JSON escapes \\ and \".
local function config_path_regexes()
  local text = support.read(support.shared .. "/conformance/scriptworker/default-config.json")
  local out = {}
  local init = 1
  while true do
    local _, e = text:find('"path_regexes": [', init, true)
    if not e then
      return out
    end
    local i = e + 1
    while true do
      i = text:find("[^%s,]", i)
      if text:sub(i, i) == "]" then
        break
      end
      assert(text:sub(i, i) == '"')
      local buf, j = {}, i + 1
      while text:sub(j, j) ~= '"' do
        if text:sub(j, j) == "\\" then
          j = j + 1
        end
        buf[#buf + 1] = text:sub(j, j)
        j = j + 1
      end
      out[#out + 1] = table.concat(buf)
      i = j + 1
    end
    init = i
  end
end

describe("sw.regex", function()
  describe("compile", function()
    it("returns an sw.Regex that prints its pattern", function()
      local r = assert(regex.compile("^a+$"))
      assert.are.equal("userdata", type(r))
      assert.are.equal('sw.Regex ("^a+$")', tostring(r))
    end)

    it("shortens long patterns and escapes quotes when printing", function()
      local r = assert(regex.compile(string.rep("a", 70) .. '"'))
      assert.are.equal('sw.Regex ("' .. string.rep("a", 60) .. '"...)', tostring(r))
      assert.are.equal('sw.Regex ("a\\"\\\\\\\\")', tostring(regex.compile('a"\\\\')))
    end)

    it("refuses a bad pattern with the offset of the error", function()
      fails('regex: "(abc": offset 4: missing closing parenthesis', "parse", regex.compile("(abc"))
      fails('regex: "a{2,1}": offset 5: numbers out of order in {} quantifier', "parse",
        regex.compile("a{2,1}"))
    end)

    it("refuses a pattern that is not UTF-8", function()
      fails('regex: "a\xffb": offset 1: UTF-8 error: illegal byte (0xfe or 0xff)', "parse",
        regex.compile("a\xffb"))
    end)

    it("raises on an unknown flag or a non-string pattern", function()
      assert.has_error(function()
        regex.compile("a", "iq")
      end, "bad argument #2 to 'compile' (unknown flag 'q' (expected i, m, s, x or a))")
      assert.has_error(function()
        regex.compile({})
      end, "bad argument #1 to 'compile' (string expected, got table)")
    end)

    it("describes itself with info()", function()
      local r = assert(regex.compile("(?P<year>\\d+)-(\\d+)-(?P<day>\\d+)", "ix"))
      local info = r:info()
      assert.are.equal("(?P<year>\\d+)-(\\d+)-(?P<day>\\d+)", info.pattern)
      assert.are.equal("ix", info.flags)
      assert.are.equal(3, info.groups)
      assert.are.same({ year = 1, day = 3 }, info.names)
      assert.are.equal("boolean", type(info.jit))
      assert.are.equal("a", regex.compile("x", "a"):info().flags)
    end)

    it("can be closed, after which it refuses to match", function()
      local r = assert(regex.compile("a"))
      do
        local c <close> = r -- luacheck: ignore 211
      end
      assert.are.equal("sw.Regex (closed)", tostring(r))
      assert.has_error(function()
        r:search("a")
      end, "attempt to use a closed sw.Regex")
      -- closing again (and __gc later) is harmless
      getmetatable(r).__close(r)
    end)
  end)

  describe("match, search and fullmatch", function()
    it("match anchors at the start, search looks anywhere", function()
      local r = assert(regex.compile("b+"))
      assert.is_nil(r:match("abb"))
      assert.are.equal("bb", r:search("abb")[0])
      assert.are.equal("bb", r:match("bba")[0])
    end)

    it("fullmatch must cover the whole subject", function()
      local r = assert(regex.compile("b+"))
      assert.are.equal("bbb", r:fullmatch("bbb")[0])
      assert.is_nil(r:fullmatch("bbba"))
      assert.is_nil(r:fullmatch("abbb"))
      assert.is_nil(r:fullmatch("bbb\n"))
    end)

    it("fullmatch backtracks into alternatives as Python does", function()
      assert.are.equal("ab", regex.compile("a|ab"):fullmatch("ab")[0])
      assert.are.equal("a", regex.compile("a|ab"):match("ab")[0])
    end)

    it("returns numbered and named groups, false for unset ones", function()
      local r = assert(regex.compile("(?P<a>x)|(?P<b>y)"))
      local m = r:search("zy")
      assert.are.same({ [0] = "y", false, "y", a = false, b = "y" }, m)
      assert.are.equal(2, #m)
      m = r:search("x")
      assert.are.same({ [0] = "x", "x", false, a = "x", b = false }, m)
      assert.is_nil(r:search("z"))
    end)

    it("gives the empty string for a group that matched nothing", function()
      local m = regex.compile("a(b*)c"):match("ac")
      assert.are.same({ [0] = "ac", "" }, m)
    end)

    it("supports Python's (?P<name>), (?P=name) and PCRE's (?P>name)", function()
      assert.are.equal("xyxy", regex.compile("(?P<p>xy)(?P=p)"):search("axyxyb")[0])
      assert.is_nil(regex.compile("(?P<p>xy)(?P=p)"):search("xyxz"))
      local balanced = assert(regex.compile("(?P<b>\\((?:[^()]|(?P>b))*\\))"))
      assert.are.equal("(a(b)c)", balanced:search("x(a(b)c)y").b)
      assert.is_nil(balanced:fullmatch("(a(b c)"))
    end)

    it("starts at init like Python's pos: ^ does not match there", function()
      local r = assert(regex.compile("^b"))
      assert.is_nil(r:match("ab", 2))
      assert.are.equal("b", regex.compile("b"):match("ab", 2)[0])
      -- lookbehind still sees the bytes before init
      assert.are.equal("b", regex.compile("(?<=a)b"):match("ab", 2)[0])
      assert.are.equal("b", regex.compile("^b", "m"):match("a\nb", 3)[0])
    end)

    it("takes a negative init from the end and nil past the end", function()
      local r = assert(regex.compile("\\w"))
      assert.are.equal("c", r:match("abc", -1)[0])
      assert.are.equal("a", r:match("abc", -10)[0])
      assert.are.equal("", regex.compile("x*"):match("abc", 4)[0])
      assert.is_nil(regex.compile("x*"):match("abc", 5))
    end)

    it("find returns the 1-based span and the groups", function()
      local s, e, m = regex.compile("(b)(c)?"):find("abxbc")
      assert.are.equal(2, s)
      assert.are.equal(2, e)
      assert.are.same({ [0] = "b", "b", false }, m)
      s, e = regex.compile("bc"):find("abxbc", 3)
      assert.are.equal(4, s)
      assert.are.equal(5, e)
      assert.is_nil(regex.compile("z"):find("abc"))
      s, e = regex.compile("x*"):find("abc")
      assert.are.equal(1, s)
      assert.are.equal(0, e)
    end)

    it("raises on a non-string subject", function()
      local r = assert(regex.compile("a"))
      assert.has_error(function()
        r:search({})
      end, "bad argument #1 to 'search' (string expected, got table)")
    end)
  end)

  describe("Python compatibility", function()
    it("treats \\Z as the very end, like Python (PCRE's \\z)", function()
      assert.is_nil(regex.search("a\\Z", "a\n"))
      assert.are.equal("a", regex.search("a\\Z", "xa")[0])
      -- but $ still matches before a final newline, in both
      assert.are.equal("a", regex.search("a$", "a\n")[0])
      -- an escaped backslash before Z is a literal backslash and Z
      assert.are.equal("\\Z", regex.search("\\\\Z", "a\\Z")[0])
      -- inside \Q...\E nothing is rewritten
      assert.are.equal("\\Z", regex.search("\\Q\\Z\\E", "a\\Z")[0])
    end)

    it("has Unicode \\d and \\w as Python 3 str patterns do", function()
      assert.are.equal("١٢٣", regex.match("\\d+", "١٢٣")[0])
      assert.are.equal("héllo", regex.match("\\w+", "héllo")[0])
      assert.are.equal("É", regex.search("(?i)é", "É")[0])
    end)

    it("has ASCII classes with flag a, like re.ASCII", function()
      assert.is_nil(regex.match("\\d+", "١٢٣", "a"))
      assert.are.equal("h", regex.match("\\w+", "héllo", "a")[0])
    end)

    it("does not fold ß to SS (neither does Python)", function()
      assert.is_nil(regex.search("straße", "STRASSE", "i"))
    end)

    it("has the flags i, m, s and x", function()
      assert.is_nil(regex.search("abc", "ABC"))
      assert.are.equal("ABC", regex.search("abc", "ABC", "i")[0])
      assert.is_nil(regex.search("^b", "a\nb"))
      assert.are.equal("b", regex.search("^b", "a\nb", "m")[0])
      assert.is_nil(regex.search("a.b", "a\nb"))
      assert.are.equal("a\nb", regex.search("a.b", "a\nb", "s")[0])
      assert.is_nil(regex.search(" a b # comment", "ab"))
      assert.are.equal("ab", regex.search(" a b # comment", "ab", "x")[0])
      assert.are.equal("ab", regex.search("(?x) a b # comment", "ab")[0])
    end)

    it("refuses \\u and \\U escapes instead of misreading them", function()
      fails('regex: "\\\\u00e9": offset 2: PCRE2 does not support \\F, \\L, '
        .. "\\l, \\N{name}, \\U, or \\u", "parse",
        regex.compile("\\u00e9"))
      assert.are.equal("é", regex.search("\\x{e9}", "é")[0])
    end)

    it("behaves as Python on the default config's artifact path regexes", function()
      local patterns = config_path_regexes()
      assert.are.equal(17, #patterns)
      assert.are.equal(
        "^/v1/task/(?P<taskId>[^/]+)(/runs/\\\\d+)?/artifacts/(?P<filepath>.*)$",
        patterns[16])
      for _, p in ipairs(patterns) do
        assert(regex.compile(p), p)
      end
      local r = assert(regex.compile(patterns[16]))
      local m = r:match("/v1/task/abc/artifacts/public/x.tgz")
      assert.are.same({ [0] = "/v1/task/abc/artifacts/public/x.tgz", "abc", false,
        "public/x.tgz", taskId = "abc", filepath = "public/x.tgz" }, m)
      -- The config double-escapes \d, so (as in Python) /runs/N never matches.
      assert.is_nil(r:match("/v1/task/abc/runs/0/artifacts/public/x.tgz"))
      local sw_repo
      for _, p in ipairs(patterns) do
        if p:find("scriptworker(?:|-scripts)", 1, true) then
          sw_repo = p
        end
      end
      m = regex.match(sw_repo, "/mozilla-releng/scriptworker-scripts.git")
      assert.are.equal("/mozilla-releng/scriptworker-scripts", m.path)
      m = regex.match(sw_repo, "/mozilla-releng/scriptworker/")
      assert.are.equal("/mozilla-releng/scriptworker", m.path)
      assert.is_nil(regex.match(sw_repo, "/mozilla-releng/scriptworker-evil"))
    end)
  end)

  describe("limits and bad subjects", function()
    local evil = string.rep("a", 40) .. "b"

    it("stops catastrophic backtracking with a limit error", function()
      local r = assert(regex.compile("(a+)+$"))
      for _, method in ipairs({ "search", "match", "fullmatch" }) do
        fails(LIMIT_MSG, "limit", r[method](r, evil))
      end
      fails(LIMIT_MSG, "limit", r:gsub(evil, "x"))
      fails(LIMIT_MSG, "limit", regex.search("^(\\w+\\s?)*$", string.rep("a", 40) .. "!"))
      fails(LIMIT_MSG, "limit", regex.fullmatch("(a|aa)+", string.rep("a", 60) .. "c"))
    end)

    it("still matches the same pattern when it can", function()
      local r = assert(regex.compile("(a+)+$"))
      assert.are.equal(string.rep("a", 40), r:search(string.rep("a", 40))[0])
      local long = string.rep("ab", 100000)
      assert.are.equal(long, regex.fullmatch("(?:ab)+", long)[0])
    end)

    it("refuses a subject that is not UTF-8", function()
      fails("regex: invalid UTF-8 in subject at offset 2: "
        .. "UTF-8 error: illegal byte (0xfe or 0xff)", "utf8",
        regex.search("b", "ab\xff"))
      fails("regex: invalid UTF-8 in subject at offset 1: "
        .. "UTF-8 error: 1 byte missing at end", "utf8",
        regex.search("b", "a\xc3"))
    end)

    it("refuses an init inside a UTF-8 character", function()
      fails("regex: start position is inside a UTF-8 character", "utf8",
        regex.compile("é"):match("aé", 3))
    end)

    it("matches subjects with NUL bytes", function()
      assert.are.equal("a\0b", regex.search("a\\x00b", "xa\0b")[0])
      assert.are.equal("\0", regex.search("\0", "a\0")[0])
    end)
  end)

  describe("gsub", function()
    it("expands Python templates", function()
      local r = assert(regex.compile("(?P<w>\\w+)"))
      local s, n = r:gsub("héllo wörld", "<\\g<w>|\\1|\\g<0>|\\g<1>>")
      assert.are.equal("<héllo|héllo|héllo|héllo> <wörld|wörld|wörld|wörld>", s)
      assert.are.equal(2, n)
    end)

    it("expands unset groups to nothing", function()
      assert.are.equal("[1][]", (regex.compile("(\\w)(\\d)?"):gsub("a1b", "[\\2]")))
    end)

    it("knows Python's escapes and keeps unknown punctuation escapes", function()
      assert.are.equal("\n\t\\\\-", (regex.compile("a"):gsub("a", "\\n\\t\\\\\\-")))
      assert.are.equal("A\0\1", (regex.compile("(a)"):gsub("a", "\\101\\0\\01")))
    end)

    it("replaces empty matches the way Python 3.7+ does", function()
      assert.are.equal("-a-b--d-", (regex.compile("x*"):gsub("abxd", "-")))
      local s, n = regex.compile(""):gsub("abc", "-")
      assert.are.equal("-a-b-c-", s)
      assert.are.equal(4, n)
      assert.are.equal("-é-", (regex.compile(""):gsub("é", "-")))
    end)

    it("stops after n replacements", function()
      local s, n = regex.compile("a"):gsub("aaaa", "b", 2)
      assert.are.equal("bbaa", s)
      assert.are.equal(2, n)
      s, n = regex.compile("a"):gsub("aaaa", "b", 0)
      assert.are.equal("aaaa", s)
      assert.are.equal(0, n)
    end)

    it("returns the subject unchanged when nothing matches", function()
      local s, n = regex.compile("z"):gsub("abc", "y")
      assert.are.equal("abc", s)
      assert.are.equal(0, n)
    end)

    it("calls a function with the groups; nil or false keeps the match", function()
      local r = assert(regex.compile("(?P<l>\\w)(\\d)?"))
      local s = r:gsub("a1bc2", function(m)
        if m.l == "b" then
          return nil
        end
        return m.l:upper() .. (m[2] or "-")
      end)
      assert.are.equal("A1bC2", s)
      assert.are.equal("x1x2", (regex.compile("\\d"):gsub("a1b2", function(m)
        return tonumber(m[0])
      end):gsub("%a", "x")))
      assert.has_error(function()
        r:gsub("a", function()
          return {}
        end)
      end, "regex: invalid replacement value (a table)")
    end)

    it("lets the function use the same regex again", function()
      local r = assert(regex.compile("\\d"))
      local s = r:gsub("a1b2", function(m)
        return r:search("x" .. m[0] .. m[0])[0]
      end)
      assert.are.equal("a1b2", s)
    end)

    it("refuses to go on when the function closes the regex", function()
      -- gsub kept matching with the freed code and match data (PCRE2 10.42
      -- happens to refuse a NULL pattern; a newer one would crash).
      for _, pattern in ipairs({ "a", "" }) do
        local r = assert(regex.compile(pattern))
        assert.has_error(function()
          r:gsub("aaaa", function()
            local _ <close> = r
            return "b"
          end)
        end, "attempt to use a closed sw.Regex")
        assert.are.equal("sw.Regex (closed)", tostring(r))
      end
    end)

    it("refuses bad templates with the position of the error", function()
      local r = assert(regex.compile("(a)"))
      local cases = {
        { "\\g", 'regex: replacement "\\\\g": position 2: missing <' },
        { "\\g<", 'regex: replacement "\\\\g<": position 3: missing group name' },
        { "\\g<>", 'regex: replacement "\\\\g<>": position 3: missing group name' },
        { "\\g<x", 'regex: replacement "\\\\g<x": position 3: missing >, unterminated name' },
        { "\\g<nope>", 'regex: replacement "\\\\g<nope>": position 3: unknown group name \'nope\'' },
        { "\\g<2>", 'regex: replacement "\\\\g<2>": position 3: invalid group reference 2' },
        { "\\2", 'regex: replacement "\\\\2": position 0: invalid group reference 2' },
        { "\\q", 'regex: replacement "\\\\q": position 0: bad escape \\q' },
        { "x\\", 'regex: replacement "x\\\\": position 1: bad escape (end of pattern)' },
        { "\\400", 'regex: replacement "\\\\400": position 0: octal escape value \\400 '
          .. "outside of range 0-0o377" },
      }
      for _, c in ipairs(cases) do
        fails(c[2], "parse", r:gsub("zzz", c[1]))
      end
      assert.has_error(function()
        r:gsub("a", {})
      end, "bad argument #2 to 'gsub' (string or function expected, got table)")
    end)
  end)

  describe("module functions", function()
    it("match, search and fullmatch compile and match in one call", function()
      assert.are.equal("ab", regex.match("a.", "abc")[0])
      assert.is_nil(regex.match("b", "abc"))
      assert.are.equal("b", regex.search("b", "abc")[0])
      assert.is_nil(regex.fullmatch("ab", "abc"))
      assert.are.equal("ABC", regex.fullmatch("abc", "ABC", "i")[0])
    end)

    it("return the compile error of a bad pattern", function()
      fails('regex: "(": offset 1: missing closing parenthesis', "parse", regex.search("(", "x"))
    end)

    it("keep flags apart in the cache", function()
      assert.is_nil(regex.search("abc", "ABC"))
      assert.are.equal("ABC", regex.search("abc", "ABC", "i")[0])
      assert.is_nil(regex.search("abc", "ABC"))
    end)

    it("stay right when more patterns pass than the cache holds", function()
      for round = 1, 2 do
        for i = 1, 200 do
          local m = regex.fullmatch("x" .. i .. "y(\\d)", "x" .. i .. "y" .. (i % 10))
          assert(m, "round " .. round .. " pattern " .. i)
          assert.are.equal(tostring(i % 10), m[1])
        end
      end
    end)
  end)

  describe("escape", function()
    it("escapes what Python's re.escape escapes", function()
      assert.are.equal("a\\.b\\*c\\+d\\?e\\(f\\)\\[g\\]\\{h\\}\\|i\\^j\\$k\\\\l\\-m\\&n\\~o\\#p"
        .. "\\ q\\\tr/s_t,u:v'w\"x@yé",
        regex.escape("a.b*c+d?e(f)[g]{h}|i^j$k\\l-m&n~o#p q\tr/s_t,u:v'w\"x@yé"))
    end)

    it("gives a pattern that matches the string literally", function()
      local s = "1+1=2 (really?) [yes] $5 ^_^ a|b \\o/ #tag\0end"
      assert.are.equal(s, regex.fullmatch(regex.escape(s), s)[0])
    end)
  end)
end)
