-- sw.url: the one URL parser (Hawk, the chain of trust, policies), split
-- as Python's urlparse splits absolute URLs.
local url = require("sw.url")

describe("sw.url", function()
  it("splits an absolute URL without decoding it", function()
    assert.are.same({
      scheme = "https", netloc = "user@Hg.Mozilla.org:8443", hostname = "hg.mozilla.org", port = 8443,
      path = "/releases/mozilla%2Dbeta", query = "a=1&b", fragment = "top", has_query = true,
    }, url.parse("HTTPS://user@Hg.Mozilla.org:8443/releases/mozilla%2Dbeta?a=1&b#top"))
  end)

  it("ends the netloc at the first / ? or #", function()
    local u = assert(url.parse("https://github.com?x=/y"))
    assert.are.same({ "github.com", "", "x=/y" }, { u.netloc, u.path, u.query })
    u = assert(url.parse("https://github.com#a/b?c"))
    assert.are.same({ "github.com", "", "", false, "a/b?c" }, { u.netloc, u.path, u.query, u.has_query, u.fragment })
    u = assert(url.parse("ssh://github.com/o/n"))
    assert.are.same({ "ssh", "/o/n", nil }, { u.scheme, u.path, u.port })
  end)

  it("tells an empty query from none", function()
    assert.is_true(url.parse("http://h/p?").has_query)
    assert.is_false(url.parse("http://h/p").has_query)
  end)

  it("takes IPv6 hosts without their brackets", function()
    local u = assert(url.parse("http://[::1]:9000/p"))
    assert.are.same({ "::1", 9000, "[::1]:9000" }, { u.hostname, u.port, u.netloc })
  end)

  it("refuses what is not an absolute URL, or a port out of range", function()
    for _, s in ipairs({ "not a url", "/relative/path", "git@github.com:o/n", "http://h:99999/",
      "http://h:1234567/", "http://[::1/" }) do
      local u, msg, code = url.parse(s)
      assert.is_nil(u, s)
      assert.are.equal("invalid", code, s)
      assert.truthy(msg:find(s, 1, true), msg)
    end
    assert.are.same({ nil, "url: expected a string, got nil", "invalid" }, { url.parse(nil) })
  end)

  it("is what Hawk signs and what the chain of trust parses", function()
    local hawk = require("sw.hawk")
    assert.are.same({ scheme = "http", host = "h", port = 80, resource = "/p?" }, hawk.parse_url("http://h/p?"))
    assert.are.same({ nil, "hawk: port out of range in http://h:70000/", "invalid" },
      { hawk.parse_url("http://h:70000/") })
    assert.are.equal(url.parse, require("sw.cot.v2.common").parse_url)
  end)
end)
