-- sw.cot.tree: trace the chain back to the tree (VERIFY.md section 8;
-- catalogue #65-#76, #79) with the real trusted repositories, restricted
-- scopes and trees of lua/sw/data/default-config.json (firefox, mobile,
-- xpi, enterprise, thunderbird). GitHub is a fake recording its calls.
local json = require("sw.json")
local tree = require("sw.cot.tree")
local config_mod = require("sw.config")

local null = json.null

local ROOT = "Xy8xM0q3Rk2n1aGzPc2HhA"
local DECISION = "VQU9QMO4Teq7zr91FhBusg"
local BUILD = "bSrlx0mYRKO4XaR9_ChMpQ"
local DOCKER = "Fq0pcWJETVWbY5b2ayw6eA"
local OTHER_DECISION = "Ha0e9lPFQMygbQ1SlwM2fw"
local REV = "054fe08d229f064a71bae9bb793e7ab8d95eff61"
local GH_REV = "330ea928b42ff2403fc99cd3e596d13294fe8775"
local UNLANDED = "1111111111111111111111111111111111111111"

local function product_config(product, over)
  local c = config_mod.deepcopy(config_mod.defaults().DEFAULT_CONFIG)
  c.cot_product = product
  local messages = {}
  config_mod.apply_product_config(c, messages)
  assert.are.same({}, messages)
  for k, v in pairs(over or {}) do
    c[k] = v
  end
  return c
end

-- A link as the engine builds it.
local function link(name, task_id, t)
  local task = json.object({
    taskGroupId = t.group or DECISION,
    schedulerId = t.scheduler or "gecko-level-3",
    scopes = json.array(t.scopes or {}),
    metadata = json.object({ source = t.source, name = name, owner = "nobody@mozilla.com" }),
    payload = json.object({ env = json.object(t.env or {}) }),
    extra = json.object(t.extra or {}),
  })
  return { name = name, task_id = task_id, task = task, decision_task_id = t.group or DECISION,
    task_type = name:match("([^:]*)$") }
end

local function hg(path, file)
  return "https://hg.mozilla.org" .. path .. "/file/" .. REV .. "/" .. (file or "taskcluster/ci/build")
end

local function gecko_env(path)
  return { GECKO_HEAD_REPOSITORY = "https://hg.mozilla.org" .. path, GECKO_HEAD_REV = REV }
end

-- A firefox release-signing chain on mozilla-beta: the root, its decision
-- task, a build, and a docker image from a mozilla-central task group.
local function firefox_chain(root_path, scopes)
  root_path = root_path or "/releases/mozilla-beta"
  local root = link("signing", ROOT, {
    source = hg(root_path, "taskcluster/ci/release-signing"),
    scopes = scopes or { "project:releng:signing:cert:release-signing", "project:releng:signing:format:gpg" },
  })
  local decision = link("signing:parent", DECISION, {
    source = "https://hg.mozilla.org" .. root_path .. "/raw-file/" .. REV .. "/.taskcluster.yml",
    env = gecko_env(root_path),
  })
  local build = link("signing:build", BUILD, { source = hg(root_path), env = gecko_env(root_path) })
  local docker = link("signing:build:docker-image", DOCKER, {
    group = OTHER_DECISION, source = hg("/mozilla-central", "taskcluster/ci/docker-image"),
    env = gecko_env("/mozilla-central"),
  })
  local other = link("signing:build:docker-image:parent", OTHER_DECISION, {
    group = OTHER_DECISION, source = "https://hg.mozilla.org/mozilla-central/raw-file/" .. REV .. "/.taskcluster.yml",
    env = gecko_env("/mozilla-central"),
  })
  return root, { decision, build, docker, other }
end

-- A fake GitHub: landed[sha] = true, tags[tag] = sha; records every call.
local function fake_github(landed, tags)
  local calls = {}
  return {
    calls = calls,
    commit_landed = function(owner, name, sha)
      calls[#calls + 1] = { "commit_landed", owner, name, sha }
      if sha == "broken" then
        return nil, "HTTP 500"
      end
      return landed[sha] == true
    end,
    tag_commit = function(owner, name, tag)
      calls[#calls + 1] = { "tag_commit", owner, name, tag }
      if not tags or not tags[tag] then
        return nil, "No tag \"" .. tag .. "\" exist"
      end
      return tags[tag]
    end,
  }
end

-- GitHub must not be asked.
local NO_GITHUB = setmetatable({}, {
  __index = function(_, k)
    return function()
      error("GitHub was asked: " .. k)
    end
  end,
})

local function has(errors, pattern)
  for _, e in ipairs(errors) do
    if e:find(pattern, 1, true) then
      return true
    end
  end
  return false, "no error contains " .. pattern .. " in:\n" .. table.concat(errors, "\n")
end

local function assert_has(errors, ...)
  for _, p in ipairs({ ... }) do
    assert(has(errors, p))
  end
end

local function trace_errors(root, links, config, github)
  local ok, errors = tree.trace_back(root, links, config, github or NO_GITHUB)
  assert.is_nil(ok)
  assert.is_table(errors)
  return errors
end

describe("sw.cot.tree", function()
  local firefox = product_config("firefox")

  describe("get_source_url", function()
    it("returns metadata.source when it belongs to HEAD_REPOSITORY", function()
      local _, links = firefox_chain()
      assert.are.equal(hg("/releases/mozilla-beta"), tree.get_source_url(links[2], firefox))
    end)

    it("returns metadata.source without a repository to check (scriptworker tasks)", function()
      local root = firefox_chain()
      assert.are.equal(hg("/releases/mozilla-beta", "taskcluster/ci/release-signing"),
        tree.get_source_url(root, firefox))
    end)

    it("accepts a trailing slash, .git and git@github.com: forms of the repository", function()
      local l = link("signing:build", BUILD, { source = hg("/mozilla-central"),
        env = { GECKO_HEAD_REPOSITORY = "https://hg.mozilla.org/mozilla-central//" } })
      assert.is_string(tree.get_source_url(l, firefox))
      local mobile = product_config("mobile")
      local source = "https://github.com/mozilla-mobile/reference-browser/raw/" .. GH_REV .. "/.taskcluster.yml"
      for _, repo in ipairs({ "https://github.com/mozilla-mobile/reference-browser.git",
        "git@github.com:mozilla-mobile/reference-browser.git", "ssh://github.com/mozilla-mobile/reference-browser" }) do
        l = link("signing:build", BUILD, { source = source, env = { MOBILE_HEAD_REPOSITORY = repo } })
        assert.are.equal(source, tree.get_source_url(l, mobile))
      end
    end)

    it("#65 fails without metadata.source", function()
      local l = link("signing:build", BUILD, {})
      local s, err = tree.get_source_url(l, firefox)
      assert.is_nil(s)
      assert.are.equal("signing:build " .. BUILD .. ": metadata.source is missing", err)
      l.task.metadata.source = null
      assert.are.equal("signing:build " .. BUILD .. ": metadata.source is missing",
        select(2, tree.get_source_url(l, firefox)))
      l.task.metadata = nil
      assert.are.equal("signing:build " .. BUILD .. ": metadata.source is missing",
        select(2, tree.get_source_url(l, firefox)))
      l.task.metadata = json.object({ source = 5 })
      assert.are.equal("signing:build " .. BUILD .. ": metadata.source is not a string, got 5",
        select(2, tree.get_source_url(l, firefox)))
    end)

    it("#66 fails when HEAD_REPOSITORY is on another host or path", function()
      local cases = {
        { "https://hg.mozilla.org/releases/mozilla-beta", hg("/releases/mozilla-beta-evil") },
        { "https://hg.mozilla.org/releases/mozilla-beta", hg("/mozilla-central") },
        { "https://hg.mozilla.org/releases/mozilla-beta", "https://hg.example.com/releases/mozilla-beta/file/x" },
        { "https://hg.mozilla.org/releases/mozilla-beta/more", hg("/releases/mozilla-beta") },
        { "/releases/mozilla-beta", hg("/releases/mozilla-beta") },
      }
      for _, c in ipairs(cases) do
        local l = link("signing:build", BUILD, { source = c[2], env = { GECKO_HEAD_REPOSITORY = c[1] } })
        local s, err = tree.get_source_url(l, firefox)
        assert.is_nil(s)
        assert.are.equal("signing:build " .. BUILD .. ": GECKO_HEAD_REPOSITORY " .. c[1] .. " doesn't match source "
          .. c[2] .. "!", err)
      end
    end)

    it("ignores the host's case and the scheme, as Python", function()
      local l = link("signing:build", BUILD, { source = "ssh://HG.mozilla.org/mozilla-central/file/x",
        env = { GECKO_HEAD_REPOSITORY = "https://hg.mozilla.org/mozilla-central" } })
      assert.is_string(tree.get_source_url(l, firefox))
    end)

    it("reports an env value that is not a string", function()
      local l = link("signing:build", BUILD, { source = hg("/mozilla-central"), env = { GECKO_HEAD_REPOSITORY = 5 } })
      local s, err = tree.get_source_url(l, firefox)
      assert.is_nil(s)
      assert.are.equal("signing:build " .. BUILD .. ": payload.env.GECKO_HEAD_REPOSITORY is not a string", err)
    end)

    describe("#67 enterprise", function()
      local enterprise = product_config("enterprise")
      local ENT = "https://github.com/mozilla/enterprise-firefox"
      local ENT_SOURCE = ENT .. "/raw/" .. GH_REV .. "/taskcluster/kinds/build"
      local COMM_SOURCE = hg("/comm-central")

      it("checks COMM_HEAD_REPOSITORY first when set", function()
        local l = link("signing:build", BUILD, { source = COMM_SOURCE,
          env = { COMM_HEAD_REPOSITORY = "https://hg.mozilla.org/comm-central", GECKO_HEAD_REPOSITORY = ENT } })
        assert.are.equal(COMM_SOURCE, tree.get_source_url(l, enterprise))
        l.task.metadata.source = ENT_SOURCE
        local s, err = tree.get_source_url(l, enterprise)
        assert.is_nil(s)
        assert.are.equal("signing:build " .. BUILD .. ": COMM_HEAD_REPOSITORY https://hg.mozilla.org/comm-central "
          .. "doesn't match source " .. ENT_SOURCE .. "!", err)
      end)

      it("checks GECKO_HEAD_REPOSITORY when only it is set", function()
        local l = link("signing:build", BUILD, { source = ENT_SOURCE, env = { GECKO_HEAD_REPOSITORY = ENT } })
        assert.are.equal(ENT_SOURCE, tree.get_source_url(l, enterprise))
        l.task.metadata.source = COMM_SOURCE
        local s, err = tree.get_source_url(l, enterprise)
        assert.is_nil(s)
        assert.matches("GECKO_HEAD_REPOSITORY " .. ENT .. " doesn't match source", err, 1, true)
      end)

      it("checks nothing when neither is set", function()
        local l = link("signing", ROOT, { source = ENT_SOURCE })
        assert.are.equal(ENT_SOURCE, tree.get_source_url(l, enterprise))
      end)

      it("is enterprise only: other products ignore COMM_HEAD_REPOSITORY", function()
        local l = link("signing:build", BUILD, { source = hg("/mozilla-central"), env = {
          GECKO_HEAD_REPOSITORY = "https://hg.mozilla.org/mozilla-central",
          COMM_HEAD_REPOSITORY = "https://hg.mozilla.org/comm-central" } })
        assert.is_string(tree.get_source_url(l, firefox))
      end)
    end)
  end)

  describe("match_url_regex", function()
    local rules = firefox.trusted_vcs_rules

    it("gives the repo path of trusted firefox repositories", function()
      local cases = {
        { hg("/mozilla-central"), "/mozilla-central" },
        { "https://hg.mozilla.org/mozilla-central", "/mozilla-central" },
        { "ssh://hg.mozilla.org/releases/mozilla-esr140/file/x", "/releases/mozilla-esr140" },
        { "https://hg.mozilla.org/integration/autoland/rev/x", "/integration/autoland" },
        { "https://hg.mozilla.org/projects/maple?x=/mozilla-central", "/projects/maple" },
        -- The path is percent-decoded before matching.
        { "https://hg.mozilla.org/mozilla%2Dcentral/file/x", "/mozilla-central" },
        { "HTTPS://hg.mozilla.org/mozilla-central", "/mozilla-central" },
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], tree.match_url_regex(rules, c[1], tree.path_callback))
      end
    end)

    it("gives nil for other schemes, netlocs and paths", function()
      for _, url in ipairs({
        "http://hg.mozilla.org/mozilla-central",
        "https://HG.mozilla.org/mozilla-central",
        "https://hg.mozilla.org:443/mozilla-central",
        "https://user@hg.mozilla.org/mozilla-central",
        "https://hg.mozilla.org/mozilla-central-evil",
        "https://hg.mozilla.org/try/file/x",
        "https://hg.mozilla.org/releases/mozilla-beta;x",
        "https://hg.mozilla.org//mozilla-central",
        "https://hg.mozilla.org",
        "hg.mozilla.org/mozilla-central",
        " https://hg.mozilla.org/mozilla-central",
        "",
      }) do
        local r, err = tree.match_url_regex(rules, url, tree.path_callback)
        assert.is_nil(r, url)
        assert.is_nil(err, url)
      end
    end)

    it("uses the GitHub rules of the mobile and xpi products", function()
      local mobile = product_config("mobile").trusted_vcs_rules
      local src = "https://github.com/mozilla-mobile/reference-browser/raw/" .. GH_REV .. "/.taskcluster.yml"
      assert.are.equal("/mozilla-mobile/reference-browser", tree.match_url_regex(mobile, src, tree.path_callback))
      assert.are.equal("/mozilla-mobile/reference-browser",
        tree.match_url_regex(mobile, "ssh://github.com/mozilla-mobile/reference-browser.git", tree.path_callback))
      -- The shipped rules leave the dot of ".git" unescaped (a Python quirk kept).
      assert.are.equal("/mozilla-mobile/reference-browser",
        tree.match_url_regex(mobile, "https://github.com/mozilla-mobile/reference-browserXgit", tree.path_callback))
      assert.is_nil(tree.match_url_regex(mobile, "https://github.com/JohanLorenzo/reference-browser/raw/x",
        tree.path_callback))
      local xpi = product_config("xpi").trusted_vcs_rules
      assert.are.equal("/mozilla-extensions/xpi-manifest", tree.match_url_regex(xpi,
        "https://github.com/mozilla-extensions/xpi-manifest/raw/" .. GH_REV .. "/.taskcluster.yml", tree.path_callback))
    end)

    it("tries rules and regexes in order and returns the first non-nil callback result", function()
      local custom = json.array({
        json.object({ schemes = json.array({ "https" }), netlocs = json.array({ "example.com" }),
          path_regexes = json.array({ "^/(?P<a>x)", "^/(?P<b>x)y" }) }),
        json.object({ schemes = json.array({ "https" }), netlocs = json.array({ "example.com" }),
          path_regexes = json.array({ "(?P<c>y)" }) }),
      })
      local seen = {}
      local r = tree.match_url_regex(custom, "https://example.com/xy", function(m)
        seen[#seen + 1] = m[0]
        if m.c then
          return "third"
        end
        return nil
      end)
      assert.are.equal("third", r)
      assert.are.same({ "/x", "/xy", "y" }, seen)
    end)

    it("returns errors for malformed rules, bad regexes and undecodable paths", function()
      local function rule(patterns)
        return json.array({ json.object({ schemes = json.array({ "https" }), netlocs = json.array({ "example.com" }),
          path_regexes = json.array(patterns) }) })
      end
      local r, err = tree.match_url_regex("x", "https://example.com/", tree.path_callback)
      assert.is_nil(r)
      assert.matches("trusted_vcs_rules is not a list", err)
      r, err = tree.match_url_regex(json.array({ json.object({ schemes = "https" }) }), "https://example.com/",
        tree.path_callback)
      assert.is_nil(r)
      assert.are.equal("trusted_vcs_rules[0].schemes is not a list", err)
      r, err = tree.match_url_regex(rule({ "^(?P<path>/x" }), "https://example.com/x", tree.path_callback)
      assert.is_nil(r)
      assert.matches("missing closing parenthesis", err)
      r, err = tree.match_url_regex(rule({ "^(?P<repo>/x)" }), "https://example.com/x", tree.path_callback)
      assert.is_nil(r)
      assert.matches("has no %(%?P<path>%.%.%.%) group", err)
      r, err = tree.match_url_regex(rule({ "^(?P<path>/x)" }), "https://example.com/%FF", tree.path_callback)
      assert.is_nil(r)
      assert.matches("UTF%-8", err)
    end)
  end)

  describe("is_try_or_pull_request", function()
    describe("hg tasks (is_try)", function()
      it("is false for a beta task", function()
        local _, links = firefox_chain()
        for _, l in ipairs(links) do
          assert.is_false(tree.is_try_or_pull_request(l, firefox, NO_GITHUB))
        end
      end)

      it("#74 is true for gecko-level-1, try in MH_BRANCH or the first path segment", function()
        local cases = {
          { scheduler = "gecko-level-1", source = hg("/mozilla-central") },
          { source = hg("/mozilla-central"), env = { MH_BRANCH = "try" } },
          { source = hg("/mozilla-central"), env = { MH_BRANCH = "maple-try-x" } },
          { source = hg("/mozilla-central"), env = { GECKO_HEAD_REPOSITORY = "https://hg.mozilla.org/try" } },
          { source = hg("/try") },
          -- Substring, as Python: more tasks counted as try only refuses more.
          { source = hg("/try-comm-central") },
          { source = "https://hg.mozilla.org/%74ry/file/x" },
        }
        for i, c in ipairs(cases) do
          local l = link("signing:build", BUILD, c)
          assert.is_true(tree.is_try_or_pull_request(l, firefox, NO_GITHUB), "case " .. i)
        end
        -- "try" in a later segment does not count (Python neither).
        local l = link("signing:build", BUILD, { source = hg("/projects/try") })
        assert.is_false(tree.is_try_or_pull_request(l, firefox, NO_GITHUB))
      end)

      it("returns errors for a missing schedulerId and malformed fields", function()
        local l = link("signing:build", BUILD, { source = hg("/mozilla-central") })
        l.task.schedulerId = nil
        local r, err = tree.is_try_or_pull_request(l, firefox, NO_GITHUB)
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": schedulerId is missing", err)
        l = link("signing:build", BUILD, { source = hg("/mozilla-central"), env = { MH_BRANCH = 5 } })
        r, err = tree.is_try_or_pull_request(l, firefox, NO_GITHUB)
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": payload.env.MH_BRANCH is not a string, got 5", err)
        for _, v in ipairs({ null, false }) do
          l = link("signing:build", BUILD, { source = hg("/mozilla-central"), env = { MH_BRANCH = v } })
          assert.is_nil((tree.is_try_or_pull_request(l, firefox, NO_GITHUB)))
          l = link("signing:build", BUILD, { source = hg("/mozilla-central"), extra = { tasks_for = v } })
          assert.is_nil((tree.is_try_or_pull_request(l, firefox, NO_GITHUB)))
        end
        l.task = "x"
        for _, f in ipairs({ tree.is_try, tree.is_pull_request, tree.is_try_or_pull_request }) do
          r, err = f(l, firefox, NO_GITHUB)
          assert.is_nil(r)
          assert.are.equal("signing:build " .. BUILD .. ": the task definition is not an object", err)
        end
        l = link("signing:build", BUILD, { source = hg("/mozilla-central"), extra = { tasks_for = 5 } })
        r, err = tree.is_try_or_pull_request(l, firefox, NO_GITHUB)
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": extra.tasks_for is not a string, got 5", err)
      end)
    end)

    describe("GitHub tasks (is_pull_request)", function()
      local mobile = product_config("mobile")
      local REPO = "https://github.com/mozilla-mobile/reference-browser"
      local function gh_link(t)
        t.source = t.source or (REPO .. "/raw/" .. GH_REV .. "/.taskcluster.yml")
        t.env = t.env or { MOBILE_HEAD_REPOSITORY = REPO, MOBILE_HEAD_REV = GH_REV }
        t.scheduler = t.scheduler or "taskcluster-github"
        return link("signing:build", BUILD, t)
      end

      it("is false for a landed revision of the official repository, asking GitHub", function()
        local github = fake_github({ [GH_REV] = true })
        assert.is_false(tree.is_try_or_pull_request(gh_link({}), mobile, github))
        assert.are.same({
          { "commit_landed", "mozilla-mobile", "reference-browser", GH_REV },
          { "commit_landed", "mozilla-mobile", "reference-browser", GH_REV },
        }, github.calls)
      end)

      it("recognises GitHub tasks by schedulerId, tasks_for or source", function()
        local github = fake_github({})
        -- Only the source is GitHub: still is_pull_request, which asks GitHub.
        local l = gh_link({ scheduler = "gecko-level-3", env = {} })
        assert.is_true(tree.is_try_or_pull_request(l, mobile, github))
        assert.are.equal(1, #github.calls)
        -- tasks_for github-* with a hg source: is_pull_request, which refuses the source.
        l = link("signing:build", BUILD, { source = hg("/mozilla-central"), extra = { tasks_for = "github-push" } })
        local r, err = tree.is_try_or_pull_request(l, mobile, github)
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": metadata.source " .. hg("/mozilla-central")
          .. " is not a GitHub URL", err)
      end)

      it("#75 is true for pull-request tasks_for, a foreign owner or an unlanded revision", function()
        local github = fake_github({ [GH_REV] = true })
        for _, tf in ipairs({ "github-pull-request", "github-pull-request-untrusted" }) do
          assert.is_true(tree.is_try_or_pull_request(gh_link({ extra = { tasks_for = tf } }), mobile, github))
        end
        local fork = "https://github.com/JohanLorenzo/reference-browser"
        assert.is_true(tree.is_try_or_pull_request(gh_link({
          env = { MOBILE_HEAD_REPOSITORY = fork, MOBILE_HEAD_REV = GH_REV } }), mobile, github))
        assert.is_true(tree.is_try_or_pull_request(gh_link({ source = fork .. "/raw/" .. GH_REV .. "/x" }), mobile,
          github))
        assert.is_true(tree.is_try_or_pull_request(gh_link({
          env = { MOBILE_HEAD_REPOSITORY = REPO, MOBILE_HEAD_REV = UNLANDED } }), mobile, github))
        assert.is_true(tree.is_try_or_pull_request(gh_link({ source = REPO .. "/raw/" .. UNLANDED .. "/x" }), mobile,
          github))
      end)

      it("resolves a tag before asking whether it landed", function()
        local github = fake_github({ [GH_REV] = true }, { ["v1.0"] = GH_REV })
        local l = gh_link({ source = REPO .. "/raw/v1.0/.taskcluster.yml",
          env = { MOBILE_HEAD_REPOSITORY = REPO, MOBILE_HEAD_REV = "v1.0" } })
        assert.is_false(tree.is_try_or_pull_request(l, mobile, github))
        assert.are.same({ "tag_commit", "mozilla-mobile", "reference-browser", "v1.0" }, github.calls[1])
        assert.are.same({ "commit_landed", "mozilla-mobile", "reference-browser", GH_REV }, github.calls[2])
        local r, err = tree.is_try_or_pull_request(gh_link({ source = REPO .. "/raw/v9/.taskcluster.yml" }), mobile,
          github)
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": cannot resolve tag v9 of mozilla-mobile/reference-browser: "
          .. "No tag \"v9\" exist", err)
      end)

      it("returns GitHub failures as errors", function()
        local r, err = tree.is_try_or_pull_request(gh_link({ source = REPO .. "/raw/broken/x", env = {} }), mobile,
          fake_github({}, { broken = "broken" }))
        assert.is_nil(r)
        assert.are.equal("signing:build " .. BUILD .. ": cannot tell whether broken landed on "
          .. "mozilla-mobile/reference-browser: HTTP 500", err)
        r, err = tree.is_try_or_pull_request(gh_link({}), mobile, {})
        assert.is_nil(r)
        assert.matches("no GitHub client", err)
        local raising = { commit_landed = function()
          error("boom")
        end, tag_commit = function()
          error("bang")
        end }
        r, err = tree.is_try_or_pull_request(gh_link({}), mobile, raising)
        assert.is_nil(r)
        assert.matches("cannot tell whether " .. GH_REV .. " landed on mozilla%-mobile/reference%-browser: .*boom", err)
        r, err = tree.is_try_or_pull_request(gh_link({ source = REPO .. "/raw/v1/x", env = {} }), mobile, raising)
        assert.is_nil(r)
        assert.matches("cannot resolve tag v1 of mozilla%-mobile/reference%-browser: .*bang", err)
      end)

      it("counts every revision as landed when a trusted rule has require_secret (GitHub not asked)", function()
        local rules = config_mod.deepcopy(mobile.trusted_vcs_rules)
        rules[1].require_secret = true
        local private = product_config("mobile", { trusted_vcs_rules = rules })
        assert.is_false(tree.is_try_or_pull_request(gh_link({
          env = { MOBILE_HEAD_REPOSITORY = REPO, MOBILE_HEAD_REV = UNLANDED } }), private, NO_GITHUB))
        -- The owner is still checked.
        assert.is_true(tree.is_try_or_pull_request(gh_link({ source = "https://github.com/evil/reference-browser/raw/"
          .. GH_REV .. "/x" }), private, NO_GITHUB))
      end)

      it("#76 fails without an official owner, or a source without a revision", function()
        local no_owner = product_config("mobile", { official_github_repos_owner = "" })
        local r, err = tree.is_try_or_pull_request(gh_link({}), no_owner, fake_github({ [GH_REV] = true }))
        assert.is_nil(r)
        assert.matches("has no official_github_repos_owner", err)
        for _, source in ipairs({ REPO, REPO .. "/raw", REPO .. "/raw/", "https://github.com/mozilla-mobile" }) do
          r, err = tree.is_try_or_pull_request(gh_link({ source = source, env = {} }), mobile,
            fake_github({ [GH_REV] = true }))
          assert.is_nil(r, source)
          assert.is_string(err)
          assert.matches("^signing:build " .. BUILD .. ": ", err)
        end
        r, err = tree.is_try_or_pull_request(gh_link({ source = REPO, env = {} }), mobile, fake_github({}))
        assert.are.equal("signing:build " .. BUILD .. ": Revision cannot be extracted from metadata.source " .. REPO,
          err)
      end)

      it("fails on a HEAD_REPOSITORY that is not a GitHub repository", function()
        local r, err = tree.is_try_or_pull_request(gh_link({
          env = { MOBILE_HEAD_REPOSITORY = "https://gitlab.com/mozilla-mobile/reference-browser" } }), mobile,
          fake_github({ [GH_REV] = true }))
        assert.is_nil(r)
        assert.matches("MOBILE_HEAD_REPOSITORY https://gitlab.com/mozilla%-mobile/reference%-browser is not a GitHub",
          err)
      end)

      it("#79 takes owner and name from the path segments", function()
        local ff = product_config("mobile", { official_github_repos_owner = "mozilla-firefox" })
        local github = fake_github({ [GH_REV] = true })
        local l = gh_link({ source = "https://github.com/mozilla-firefox/firefox/raw/" .. GH_REV .. "/.taskcluster.yml",
          env = { MOBILE_HEAD_REPOSITORY = "https://github.com/mozilla-firefox/firefox", MOBILE_HEAD_REV = GH_REV } })
        assert.is_false(tree.is_try_or_pull_request(l, ff, github))
        assert.are.same({ "commit_landed", "mozilla-firefox", "firefox", GH_REV }, github.calls[1])
        assert.are.same({ "commit_landed", "mozilla-firefox", "firefox", GH_REV }, github.calls[2])
      end)
    end)
  end)

  describe("restricted_scopes", function()
    it("lists the root's restricted scopes with their key and level", function()
      local root = firefox_chain()
      assert.are.same({ { scope = "project:releng:signing:cert:release-signing",
        key = "project:releng:signing:cert:release-signing", level = "all-release-branches" } },
        tree.restricted_scopes(root.task, firefox))
      root.task.scopes = json.array({ "project:releng:signing:format:gpg", "queue:get-artifact:x" })
      assert.are.same({}, tree.restricted_scopes(root.task, firefox))
    end)

    it("matches a key ending in * by prefix (xpi)", function()
      local xpi = product_config("xpi")
      local scopes = json.array({ "project:xpi:releng:github:project:mozilla-extensions/some-addon",
        "project:xpi:signing:cert:release-signing", "project:xpi:releng:github:project:mozilla-extension" })
      assert.are.same({
        { scope = scopes[1], key = "project:xpi:releng:github:project:mozilla-extensions/*",
          level = "xpi-manifest-repo" },
        { scope = scopes[2], key = scopes[2], level = "xpi-manifest-repo" },
      }, tree.restricted_scopes(json.object({ scopes = scopes }), xpi))
    end)

    it("#68 fails when a scope matches more than one key", function()
      local xpi = product_config("xpi")
      xpi.cot_restricted_scopes["project:xpi:releng:github:**"] = "xpi-manifest-repo"
      local r, err = tree.restricted_scopes(json.object({ scopes = json.array({
        "project:xpi:releng:github:project:mozilla-extensions/a" }) }), xpi)
      assert.is_nil(r)
      assert.are.equal("Scope project:xpi:releng:github:project:mozilla-extensions/a matches more than one "
        .. "restricted scope: project:xpi:releng:github:**, "
        .. "project:xpi:releng:github:project:mozilla-extensions/*", err)
    end)

    it("returns errors for malformed scopes and config", function()
      local r, err = tree.restricted_scopes(json.object({ scopes = "x" }), firefox)
      assert.is_nil(r)
      assert.matches("scopes are not a list", err)
      r, err = tree.restricted_scopes(json.object({ scopes = json.array({ 5 }) }), firefox)
      assert.is_nil(r)
      assert.are.equal("scopes[0] is not a string, got 5", err)
      r, err = tree.restricted_scopes(json.object({ scopes = json.array() }), product_config("firefox",
        { cot_restricted_scopes = null }))
      assert.is_nil(r)
      assert.matches("cot_restricted_scopes is not a mapping", err)
    end)
  end)

  describe("trace_back", function()
    it("passes a firefox release-signing chain on mozilla-beta with a mozilla-central docker image", function()
      local root, links = firefox_chain()
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
    end)

    it("passes unrestricted chains from anywhere, try included", function()
      local root, links = firefox_chain("/try", { "project:releng:signing:cert:dep-signing" })
      links[2].task.schedulerId = "gecko-level-1"
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
      root, links = firefox_chain("/projects/foo", { "project:releng:signing:cert:dep-signing" })
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
    end)

    it("#65 #66 collects source errors of every task", function()
      local root, links = firefox_chain()
      links[1].task.metadata.source = nil
      links[2].task.metadata.source = hg("/mozilla-central")
      local errors = trace_errors(root, links, firefox)
      assert_has(errors, "signing:parent " .. DECISION .. ": metadata.source is missing",
        "signing:build " .. BUILD .. ": GECKO_HEAD_REPOSITORY https://hg.mozilla.org/releases/mozilla-beta "
        .. "doesn't match source " .. hg("/mozilla-central") .. "!")
    end)

    it("#69 fails a restricted scope on an untrusted repository", function()
      local root, links = firefox_chain("/projects/foo")
      local errors = trace_errors(root, links, firefox)
      assert.are.same({ "signing " .. ROOT .. ": repo None not allowlisted for scope "
        .. "project:releng:signing:cert:release-signing!" }, errors)
    end)

    it("#70 fails nightly-signing from autoland, passes it from mozilla-central", function()
      local root, links = firefox_chain("/integration/autoland", { "project:releng:signing:cert:nightly-signing" })
      assert.are.same({ "signing " .. ROOT .. ": repo /integration/autoland not allowlisted for scope "
        .. "project:releng:signing:cert:nightly-signing!" }, trace_errors(root, links, firefox))
      root, links = firefox_chain("/mozilla-central", { "project:releng:signing:cert:nightly-signing" })
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
      -- The release branches allow release-signing, mozilla-central does not.
      root, links = firefox_chain("/mozilla-central")
      assert_has(trace_errors(root, links, firefox), "repo /mozilla-central not allowlisted for scope "
        .. "project:releng:signing:cert:release-signing!")
    end)

    it("#71 fails a restricted level missing from cot_restricted_trees", function()
      local c = product_config("firefox")
      c.cot_restricted_scopes["project:releng:signing:cert:new"] = "new-level"
      local root, links = firefox_chain(nil, { "project:releng:signing:cert:new" })
      assert.are.same({ "signing " .. ROOT .. ": restricted scope project:releng:signing:cert:new has level new-level, "
        .. "which is not in cot_restricted_trees" }, trace_errors(root, links, c))
    end)

    it("#68 reports a scope matching several keys and still treats the root as restricted", function()
      local c = product_config("firefox")
      c.cot_restricted_scopes["project:releng:signing:cert:*"] = "beta"
      local root, links = firefox_chain()
      links[2].task.schedulerId = "gecko-level-1"
      local errors = trace_errors(root, links, c)
      assert_has(errors, "signing " .. ROOT .. ": Scope project:releng:signing:cert:release-signing matches more "
        .. "than one restricted scope", "signing " .. ROOT .. " has restricted privilege scope, and signing:build "
        .. BUILD .. " is a try or pull request task!")
    end)

    it("#72 fails a task of the root's group from another repository", function()
      local root, links = firefox_chain()
      links[2].task.metadata.source = hg("/mozilla-central")
      links[2].task.payload.env = json.object(gecko_env("/mozilla-central"))
      assert.are.same({ "signing:build " .. BUILD .. " repo /mozilla-central doesn't match my repo "
        .. "/releases/mozilla-beta!" }, trace_errors(root, links, firefox))
      -- Repo paths are compared, so two untrusted repositories are the same
      -- (None), as in Python: harmless, since a restricted root must be on
      -- a trusted repository anyway (#69).
      root, links = firefox_chain("/projects/foo", { "project:releng:signing:cert:dep-signing" })
      links[2].task.metadata.source = hg("/projects/bar")
      links[2].task.payload.env = json.object(gecko_env("/projects/bar"))
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
      -- Trusted task, untrusted root.
      root, links = firefox_chain("/releases/mozilla-beta", { "project:releng:signing:cert:dep-signing" })
      root.task.metadata.source = hg("/projects/foo")
      assert_has(trace_errors(root, links, firefox), "signing:parent " .. DECISION
        .. " repo /releases/mozilla-beta doesn't match my repo None!")
    end)

    it("#73 fails a task of another group from an untrusted repository under restricted scopes", function()
      local root, links = firefox_chain()
      for i = 3, 4 do
        links[i].task.metadata.source = hg("/projects/foo")
        links[i].task.payload.env = json.object(gecko_env("/projects/foo"))
      end
      assert.are.same({
        "signing:build:docker-image " .. DOCKER .. " has no privileged repo on an restricted privilege scope!",
        "signing:build:docker-image:parent " .. OTHER_DECISION
          .. " has no privileged repo on an restricted privilege scope!",
      }, trace_errors(root, links, firefox))
      -- Without restricted scopes another group may come from anywhere.
      root.task.scopes = json.array({ "project:releng:signing:cert:dep-signing" })
      assert.is_true(tree.trace_back(root, links, firefox, NO_GITHUB))
    end)

    it("#74 fails a try task anywhere in a restricted chain", function()
      local root, links = firefox_chain()
      links[3].task.schedulerId = "gecko-level-1"
      assert.are.same({ "signing " .. ROOT .. " has restricted privilege scope, and signing:build:docker-image "
        .. DOCKER .. " is a try or pull request task!" }, trace_errors(root, links, firefox))
      root, links = firefox_chain()
      root.task.payload.env = json.object({ MH_BRANCH = "try" })
      assert_has(trace_errors(root, links, firefox), "and signing " .. ROOT .. " is a try or pull request task!")
    end)

    it("collects the errors of every step", function()
      local root, links = firefox_chain("/integration/autoland")
      links[1].task.schedulerId = nil
      links[2].task.metadata.source = hg("/mozilla-central")
      links[2].task.payload.env = json.object()
      links[4].task.metadata.source = "https://hg.mozilla.org/projects/foo"
      links[4].task.payload.env = json.object()
      local errors = trace_errors(root, links, firefox)
      assert.are.equal(4, #errors, table.concat(errors, "\n"))
      assert_has(errors, "repo /integration/autoland not allowlisted", "signing:build " .. BUILD
        .. " repo /mozilla-central doesn't match my repo /integration/autoland!",
        "signing:build:docker-image:parent " .. OTHER_DECISION .. " has no privileged repo",
        "signing:parent " .. DECISION .. ": schedulerId is missing")
    end)

    it("fails without the root's taskGroupId", function()
      local root, links = firefox_chain()
      root.task.taskGroupId = nil
      root.decision_task_id = nil
      assert_has(trace_errors(root, links, firefox), "signing " .. ROOT .. ": taskGroupId is missing")
    end)

    describe("never raises", function()
      local values = { 5, "x", true, null, json.array(), json.object(), json.array({ 1 }),
        json.object({ a = json.object() }) }

      local function paths(v, prefix, out)
        if type(v) == "table" and json.type(v) == "object" then
          for k, x in pairs(v) do
            local p = { table.unpack(prefix) }
            p[#p + 1] = k
            out[#out + 1] = p
            paths(x, p, out)
          end
        end
        return out
      end

      local function set(root, path, value)
        local t = root
        for i = 1, #path - 1 do
          t = t[path[i]]
        end
        t[path[#path]] = value
      end

      local function check(ok, res, errors)
        assert.is_true(ok, res)
        if res ~= true then
          assert.is_nil(res)
          assert.is_true(#errors > 0)
          for _, e in ipairs(errors) do
            assert.is_string(e)
          end
        end
      end

      local mobile = product_config("mobile")
      local function mobile_chain()
        local src = "https://github.com/mozilla-mobile/reference-browser/raw/" .. GH_REV .. "/.taskcluster.yml"
        local root = link("signing", ROOT, { source = src, scheduler = "taskcluster-github",
          scopes = { "project:mobile:reference-browser:releng:signing:cert:release-signing" } })
        local decision = link("signing:parent", DECISION, { source = src, scheduler = "taskcluster-github",
          env = { MOBILE_HEAD_REPOSITORY = "https://github.com/mozilla-mobile/reference-browser",
            MOBILE_HEAD_REV = GH_REV }, extra = { tasks_for = "github-push" } })
        return root, { decision }
      end

      for _, case in ipairs({ { "firefox", firefox_chain, firefox }, { "mobile", mobile_chain, mobile } }) do
        it("with any value anywhere in the " .. case[1] .. " tasks", function()
          local root0, links0 = case[2]()
          local count = 0
          for index, obj in ipairs({ root0, links0[1], links0[2] }) do
            for _, path in ipairs(paths(obj.task, {}, {})) do
              for _, v in ipairs(values) do
                local root, links = case[2]()
                local target = index == 1 and root or links[index - 1]
                set(target.task, path, config_mod.deepcopy(v))
                check(pcall(tree.trace_back, root, links, case[3], fake_github({ [GH_REV] = true })))
                count = count + 1
              end
            end
          end
          assert.is_true(count > 100)
        end)

        it("with any value in the " .. case[1] .. " config", function()
          for _, key in ipairs({ "trusted_vcs_rules", "cot_restricted_scopes", "cot_restricted_trees",
            "source_env_prefix", "cot_product", "official_github_repos_owner" }) do
            for _, v in ipairs(values) do
              local root, links = case[2]()
              local c = config_mod.deepcopy(case[3])
              c[key] = config_mod.deepcopy(v)
              check(pcall(tree.trace_back, root, links, c, fake_github({ [GH_REV] = true })))
            end
          end
          local c = config_mod.deepcopy(case[3])
          c.trusted_vcs_rules[1].path_regexes[1] = 5
          local root, links = case[2]()
          check(pcall(tree.trace_back, root, links, c, fake_github({ [GH_REV] = true })))
        end)
      end
    end)

    describe("thunderbird", function()
      local tb = product_config("thunderbird")
      local function chain(path, scope)
        local root = link("signing", ROOT, { source = hg(path), scopes = { scope } })
        local decision = link("signing:parent", DECISION, { source = hg(path),
          env = { COMM_HEAD_REPOSITORY = "https://hg.mozilla.org" .. path, COMM_HEAD_REV = REV } })
        return root, { decision }
      end

      it("allows release-signing on comm-beta, not on comm-central", function()
        local scope = "project:comm:thunderbird:releng:signing:cert:release-signing"
        local root, links = chain("/releases/comm-beta", scope)
        assert.is_true(tree.trace_back(root, links, tb, NO_GITHUB))
        root, links = chain("/comm-central", scope)
        assert.are.same({ "signing " .. ROOT .. ": repo /comm-central not allowlisted for scope " .. scope .. "!" },
          trace_errors(root, links, tb))
      end)
    end)

    describe("GitHub products", function()
      local mobile = product_config("mobile")
      local REPO = "https://github.com/mozilla-mobile/reference-browser"
      local SCOPE = "project:mobile:reference-browser:releng:signing:cert:release-signing"
      local function chain(t)
        local source = (t.repo or REPO) .. "/raw/" .. (t.rev or GH_REV) .. "/.taskcluster.yml"
        local root = link("signing", ROOT, { source = source, scopes = { SCOPE }, scheduler = "taskcluster-github" })
        local decision = link("signing:parent", DECISION, { source = source, scheduler = "taskcluster-github",
          env = { MOBILE_HEAD_REPOSITORY = t.repo or REPO, MOBILE_HEAD_REV = t.rev or GH_REV },
          extra = { tasks_for = t.tasks_for or "github-release" } })
        return root, { decision }
      end

      it("passes a landed release of reference-browser", function()
        local root, links = chain({})
        local github = fake_github({ [GH_REV] = true })
        assert.is_true(tree.trace_back(root, links, mobile, github))
        assert.are.equal(3, #github.calls)
      end)

      it("works with GitHub functions that wait inside sw.sched", function()
        local sched = require("sw.sched")
        local root, links = chain({})
        local yields = 0
        local github = {
          commit_landed = function(_, _, sha)
            sched.sleep(0)
            yields = yields + 1
            return sha == GH_REV
          end,
          tag_commit = function()
            return nil, "unused"
          end,
        }
        local ok, errors = sched.run(tree.trace_back, root, links, mobile, github)
        assert.is_true(ok, errors and table.concat(errors, "\n"))
        assert.are.equal(3, yields)
      end)

      it("#75 fails a pull request, an unlanded revision or a fork", function()
        local root, links = chain({ tasks_for = "github-pull-request" })
        assert.are.same({ "signing " .. ROOT .. " has restricted privilege scope, and signing:parent " .. DECISION
          .. " is a try or pull request task!" }, trace_errors(root, links, mobile, fake_github({ [GH_REV] = true })))
        root, links = chain({ rev = UNLANDED })
        local errors = trace_errors(root, links, mobile, fake_github({ [GH_REV] = true }))
        assert.are.equal(2, #errors)
        assert_has(errors, "and signing " .. ROOT .. " is a try", "and signing:parent " .. DECISION .. " is a try")
        root, links = chain({ repo = "https://github.com/JohanLorenzo/reference-browser" })
        assert_has(trace_errors(root, links, mobile, fake_github({ [GH_REV] = true })),
          "signing " .. ROOT .. ": repo None not allowlisted for scope " .. SCOPE .. "!",
          "and signing:parent " .. DECISION .. " is a try or pull request task!")
      end)

      it("#76 fails under restricted scopes without an official owner", function()
        local root, links = chain({})
        local errors = trace_errors(root, links, product_config("mobile", { official_github_repos_owner = "" }),
          fake_github({ [GH_REV] = true }))
        assert.are.equal(2, #errors)
        assert_has(errors, "signing " .. ROOT .. ": this worker has no official_github_repos_owner")
      end)

      it("allows the xpi wildcard scope from xpi-manifest only", function()
        local xpi = product_config("xpi")
        local XPI = "https://github.com/mozilla-extensions/xpi-manifest"
        local scope = "project:xpi:releng:github:project:mozilla-extensions/my-addon"
        local root = link("signing", ROOT, { source = XPI .. "/raw/" .. GH_REV .. "/.taskcluster.yml",
          scopes = { scope }, scheduler = "taskcluster-github" })
        assert.is_true(tree.trace_back(root, {}, xpi, fake_github({ [GH_REV] = true })))
        root.task.metadata.source = "https://github.com/mozilla-extensions/other/raw/" .. GH_REV .. "/.taskcluster.yml"
        assert.are.same({ "signing " .. ROOT .. ": repo None not allowlisted for scope " .. scope .. "!" },
          trace_errors(root, {}, xpi, fake_github({ [GH_REV] = true })))
      end)

      it("enterprise: a comm task of the root's group is not the root's repository", function()
        local ent = product_config("enterprise")
        local ENT = "https://github.com/mozilla/enterprise-firefox"
        local scope = "project:enterprise:releng:signing:cert:release-signing"
        local root = link("signing", ROOT, { source = ENT .. "/raw/" .. GH_REV .. "/taskcluster/kinds/signing",
          scopes = { scope }, scheduler = "taskcluster-github" })
        local build = link("signing:build", BUILD, { source = hg("/comm-central"), scheduler = "gecko-level-3",
          env = { COMM_HEAD_REPOSITORY = "https://hg.mozilla.org/comm-central", GECKO_HEAD_REPOSITORY = ENT } })
        local github = fake_github({ [GH_REV] = true })
        assert.are.same({ "signing:build " .. BUILD
          .. " repo None doesn't match my repo /mozilla/enterprise-firefox!" },
          trace_errors(root, { build }, ent, github))
        build.task.taskGroupId, build.decision_task_id = OTHER_DECISION, OTHER_DECISION
        assert.are.same({ "signing:build " .. BUILD .. " has no privileged repo on an restricted privilege scope!" },
          trace_errors(root, { build }, ent, github))
      end)
    end)
  end)
end)
