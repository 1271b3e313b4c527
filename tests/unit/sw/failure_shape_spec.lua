-- One failure shape across lua/sw (STYLE.md §2.3, docs/reference.md "The
-- Lua runtime", "Failures"): each public function below is driven down an
-- expected-failure path and must return exactly `nil, what, code`, where
-- `what` is a message (a non-empty string, a list of them, or an object
-- whose tostring is one) and `code` is a code the reference documents.
local json = require("sw.json")
local support = require("support")

local object, array = json.object, json.array
local async = support.async

-- The codes of the reference's Failures table: every backquoted word of
-- its first column. "HTTP<status>" stands for every status.
local function documented_codes()
  local text = support.read(support.root .. "/docs/reference.md")
  local runtime = assert(text:find("\n## The Lua runtime", 1, true), "docs/reference.md: no Lua runtime section")
  local from = assert(text:find("\n### Failures\n", runtime, true), "docs/reference.md: no Failures section")
  local codes, in_table = {}, false
  for line in text:sub(from + 1):gmatch("([^\n]*)\n") do
    if line:sub(1, 1) == "|" then
      in_table = true
      for code in line:match("^|([^|]*)"):gmatch("`([^`]+)`") do
        codes[code] = true
      end
    elseif in_table then
      break
    end
  end
  return codes
end

local CODES = documented_codes()

local function is_documented(code)
  if type(code) ~= "string" then
    return false
  end
  -- Taskcluster's own codes are the server's (CamelCase); sw.queue passes
  -- them on as they come.
  return CODES[code] or (code:match("^HTTP%d%d%d$") and CODES["HTTP<status>"]) or code:match("^%u%l+%u%a+$") ~= nil
end

local function message_of(what)
  if type(what) == "string" then
    return what
  end
  if type(what) == "table" and getmetatable(what) and getmetatable(what).__tostring then
    return tostring(what)
  end
  if type(what) == "table" and #what > 0 then
    for _, m in ipairs(what) do
      assert.are.equal("string", type(m))
    end
    return table.concat(what, "\n")
  end
  return nil
end

-- Checks the shape of a packed result and, when given, the exact code.
local function assert_failure(res, code)
  assert.are.equal(3, res.n, "expected nil, what, code; got " .. res.n .. " values")
  assert.is_nil(res[1])
  local msg = message_of(res[2])
  assert.are.equal("string", type(msg), "the second value is no message: " .. tostring(res[2]))
  assert.is_true(#msg > 0)
  assert.is_true(is_documented(res[3]), "undocumented code " .. tostring(res[3]))
  if code then
    assert.are.equal(code, res[3])
  end
  return res[2]
end

local function fails(code, ...)
  return assert_failure(table.pack(...), code)
end

-- A fresh sw.queue over a scripted sw.http: each answer is a response
-- table or {msg, code} for a transport failure.
local function queue_over(answers)
  local real = require("sw.http")
  local fake = setmetatable({
    request = function()
      local a = assert(table.remove(answers, 1), "more requests than answers")
      if a.status then
        a.headers = a.headers or {}
        return a
      end
      return nil, a[1], a[2]
    end,
  }, { __index = real })
  local saved_http, saved_queue = package.loaded["sw.http"], package.loaded["sw.queue"]
  package.loaded["sw.http"], package.loaded["sw.queue"] = fake, nil
  local q = require("sw.queue")
  package.loaded["sw.http"], package.loaded["sw.queue"] = saved_http, saved_queue
  return q.new({ root_url = "https://tc.example.com", retries = 1, backoff_base = 0, max_backoff = 0 })
end

-- Port 9 (discard): no service listens on it on a test machine, so a
-- request is refused at once ("connect").
local UNREACHABLE = "http://127.0.0.1:9/"

local TASK_ID = "Xy8xM0q3Rk2n1aGzPc2HhA"

describe("the failure shape", function()
  local dir
  before_each(function()
    dir = support.tmpdir()
  end)

  it("documents the codes it checks against", function()
    for _, c in ipairs({ "ENOENT", "parse", "invalid", "timeout", "connect", "untrusted", "HTTP<status>" }) do
      assert.is_true(CODES[c], c)
    end
  end)

  describe("sw.config", function()
    local config = require("sw.config")

    it("load: a missing file, bad YAML, a file that is not a mapping", function()
      fails("ENOENT", config.load(dir .. "/none.yaml"))
      support.write(dir .. "/bad.yaml", "a: [\n")
      fails("parse", config.load(dir .. "/bad.yaml"))
      support.write(dir .. "/list.yaml", "- 1\n")
      fails("invalid", config.load(dir .. "/list.yaml"))
    end)

    it("load_with_policy: a --policy file that is not there", function()
      support.write(dir .. "/c.yaml", "{}\n")
      fails("ENOENT", config.load_with_policy(dir .. "/c.yaml", { policy_file = dir .. "/none.lua" }))
    end)
  end)

  describe("sw.queue", function()
    it("call: a transport failure once the retries are spent", async(function()
      local refused = { "http.request: GET x: refused", "connect" }
      local q = queue_over({ refused, refused })
      local err = fails("connect", q:call("task", TASK_ID))
      assert.are.equal(2, err.attempts)
      assert.are.equal(err.code, "connect")
    end))

    it("call: 404, and 500 until the retries are spent", async(function()
      local q = queue_over({ { status = 404, body = json.encode({ code = "ResourceNotFound", message = "gone" }) } })
      local err = fails("ResourceNotFound", q:call("task", TASK_ID))
      assert.are.equal(404, err.status)
      q = queue_over({ { status = 500, body = "" }, { status = 500, body = "" } })
      err = fails("HTTP500", q:call("status", TASK_ID))
      assert.are.equal(2, err.attempts)
    end))

    it("call: an answer that is not JSON", async(function()
      local q = queue_over({ { status = 200, body = "{" } })
      fails("MalformedResponse", q:call("task", TASK_ID))
    end))

    it("request: nil, err, err.code; the attempts are on err", async(function()
      local q = queue_over({ { "cut", "closed" }, { "cut", "closed" } })
      local err = fails("closed", q:request("status", { method = "GET", url = UNREACHABLE, auth = false }))
      assert.are.equal(2, err.attempts)
      q = queue_over({ { status = 204, body = "" } })
      local res = q:request("status", { method = "GET", url = UNREACHABLE, auth = false })
      assert.are.equal(1, res.attempts)
    end))

    it("list_all_artifacts and download_artifact", async(function()
      local q = queue_over({ { "refused", "connect" }, { "refused", "connect" } })
      fails("connect", q:list_all_artifacts(TASK_ID, 0))
      q = queue_over({
        { status = 303, headers = { location = "https://storage.example.com/a" }, body = "{}" },
        { status = 404, body = "" },
      })
      local err = fails("HTTP404", q:download_artifact(TASK_ID, 0, "public/a", dir .. "/a"))
      assert.are.equal(1, err.attempts)
      assert.is_nil(io.open(dir .. "/a"))
    end))

    it("upload_artifact, put_file and upload_object", async(function()
      local q = queue_over({})
      fails("ENOENT", q:upload_artifact(TASK_ID, 0, "public/x", {
        path = dir .. "/none", content_type = "text/plain", expires = "2030-01-01T00:00:00.000Z",
      }))
      q = queue_over({ { status = 200, body = json.encode({ putUrl = "https://s3.example.com/x" }) },
        { status = 403, body = "" } })
      fails("HTTP403", q:upload_artifact(TASK_ID, 0, "public/x", {
        body = "x", content_type = "text/plain", expires = "2030-01-01T00:00:00.000Z",
      }))
      q = queue_over({ { status = 500, body = "" }, { status = 500, body = "" } })
      fails("HTTP500", q:put_file("createArtifact", "https://s3.example.com/x", { body = "x" }, {}))
      q = queue_over({ { status = 200, body = json.encode({ uploadMethod = object({}) }) } })
      fails("NoUploadMethod", q:upload_object({ name = "x", projectId = "p", uploadId = "u", expires = "e" },
        { body = "x" }, "text/plain"))
    end))
  end)

  describe("sw.artifacts", function()
    it("upload_all gives each failed upload its code", async(function()
      local artifacts = require("sw.artifacts")
      assert(require("sw.fs").mkdirp(dir .. "/public"))
      support.write(dir .. "/public/a.txt", "a")
      local summary = artifacts.upload_all({
        artifact_dir = dir, tmp_dir = dir .. "/tmp", task_id = TASK_ID, run_id = 0,
        expires = "2030-01-01T00:00:00.000Z",
        queue = queue_over({ { "refused", "connect" }, { "refused", "connect" } }),
      })
      assert.are.equal(1, #summary.failed)
      assert.are.equal("connect", summary.failed[1].code)
      assert.is_true(is_documented(summary.failed[1].code))
      assert.is_false(summary.failed[1].permanent)
    end))

    it("collect: a tree that cannot be walked keeps the walk's code", function()
      local artifacts = require("sw.artifacts")
      support.write(dir .. "/plain", "not a directory")
      fails("ENOTDIR", artifacts.collect(dir .. "/plain"))
      fails("ENOENT", artifacts.list_put({}, dir, "missing"))
    end)
  end)

  describe("sw.cot", function()
    local policy = require("sw.policy")
    local link = require("sw.cot.link")
    local tree = require("sw.cot.tree")
    local graph = require("sw.cot.graph")
    local set

    setup(function()
      local errs
      set, errs = policy.load(support.root .. "/policies")
      assert(set, errs and table.concat(errs, "\n"))
    end)

    local function call(tbl, fn, ...)
      if tbl[fn] == nil then
        return true
      end
      return policy.call(set, tbl, fn, ...)
    end

    it("link: task_type, worker_impl, new, dependencies", function()
      fails("invalid", link.task_type(set, "build:nonesuch", object({})))
      fails("invalid", link.worker_impl(set, "nope", {}, call))
      local pool = object({ provisionerId = "p", scopes = array({}) })
      fails("invalid", link.worker_impl(set, pool, {}, function()
        return false
      end))
      -- A policy that raised: policy.call's code comes through.
      fails("error", link.worker_impl(set, pool, {}, function(tbl)
        return policy.call(set, tbl, "recognise", nil, nil)
      end))
      fails("invalid", link.new(set, "decision", TASK_ID, object({ taskGroupId = TASK_ID }), {}, call))
      fails("invalid", link.new(set, "build:nonesuch", TASK_ID,
        object({ taskGroupId = TASK_ID, payload = object({}) }), {}, call))
      fails("invalid", link.dependencies({ name = "build", who = "build " .. TASK_ID, parent_task_id = TASK_ID,
        task = object({ payload = object({}), extra = object({ chainOfTrust = object({ inputs = "x" }) }) }) }))
    end)

    it("link: a failure raised carries the verdict as its code", function()
      local _, f = pcall(link.fail, "%s: refused", "x")
      assert.are.equal("malformed-payload", f.code)
      _, f = pcall(link.fail_transient, "%s: unreachable", "x")
      assert.are.equal("intermittent-task", f.code)
      assert.is_true(is_documented(f.code))
    end)

    it("tree: sources, try and pull requests, rules, restricted scopes, trace_back", function()
      local config = { source_env_prefix = "GECKO", cot_restricted_scopes = object({}), trusted_vcs_rules = array({}),
        official_github_repos_owner = "mozilla-mobile" }
      local bad = { name = "build", task_id = TASK_ID, task = "x" }
      local no_source = { name = "build", task_id = TASK_ID, task = object({ metadata = object({}) }) }
      fails("invalid", tree.get_source_url(no_source, config))
      fails("invalid", tree.is_try(bad, config))
      fails("invalid", tree.is_pull_request(bad, config, nil))
      fails("invalid", tree.is_try_or_pull_request(bad, config, nil))
      fails("invalid", tree.is_github_task(object({ extra = object({ tasks_for = 1 }) })))
      fails("invalid", tree.match_url_regex("x", "https://hg.mozilla.org/x", tree.path_callback))
      local r = assert(require("sw.regex").compile("(?P<repo>a)"))
      fails("invalid", tree.path_callback(assert(r:search("a")), r))
      fails("invalid", tree.restricted_scopes(object({ scopes = "x" }), config))
      -- A GitHub source of another owner with no GitHub client to ask.
      local gh = { name = "build", task_id = TASK_ID, task = object({ taskGroupId = TASK_ID, payload = object({}),
        metadata = object({ source = "https://github.com/someone/repo/raw/" .. ("0"):rep(40) .. "/.taskcluster.yml" }),
      }) }
      fails("config", tree.is_pull_request(gh, config, nil))
      fails("untrusted", tree.trace_back(no_source, {}, config, nil))
    end)

    it("graph: relative_datestamp, verify_link, check_parents", function()
      fails("invalid", graph.relative_datestamp("yesterday", "1 day"))
      local parent = { name = "decision", task_id = TASK_ID }
      fails("mismatch", graph.verify_link(parent, object({}), { name = "build", task_id = "other", task = object({}) }))
      fails("invalid", graph.check_parents({ { name = "build", task_id = TASK_ID,
        task = object({ extra = object({ parent = 1 }) }) } }))
    end)

    it("v2: normalise, get_text, the inputs over sw.http and over files", async(function()
      local compare = require("sw.cot.v2.compare")
      local fetch = require("sw.cot.v2.fetch")
      fails("invalid", compare.normalise("x", "runtime"))
      fails("connect", fetch.get_text(UNREACHABLE, nil, { attempts = 1, timeout = 5 }))
      fails("config", fetch.http_inputs({}).fetch_artifact(TASK_ID, "public/x"))
      fails("ENOENT", fetch.file_artifacts(dir)(TASK_ID, "public/x"))
      assert.is_true(fetch.is_transient("HTTP503"))
      assert.is_false(fetch.is_transient("HTTP404"))
    end))
  end)

  describe("sw.policy", function()
    local policy = require("sw.policy")

    it("load, digest, safe_from", function()
      fails("ENOENT", policy.load(dir .. "/none"))
      support.write(dir .. "/file", "")
      fails("ENOTDIR", policy.load(dir .. "/file"))
      assert(require("sw.fs").mkdirp(dir .. "/empty"))
      fails("invalid", policy.load(dir .. "/empty"))
      fails("ENOENT", policy.digest(dir .. "/none"))
      fails("ENOENT", policy.safe_from(dir .. "/none", { uid = 65534, gid = 65534 }))
      local fs = require("sw.fs")
      local st = assert(fs.stat(dir))
      fails("unsafe", policy.safe_from(dir, { uid = st.uid, gid = st.gid }))
    end)
  end)

  describe("sw.schema", function()
    local schema = require("sw.schema")

    it("compile, the validator, load", function()
      fails("invalid", schema.compile({ nonesuch = true }, "x"))
      local v = assert(schema.compile({ type = "string" }, "x"))
      fails("schema", v(1))
      fails("ENOENT", schema.load(dir .. "/none.json"))
    end)
  end)

  describe("sw.worker, sw.task, sw.reload", function()
    local worker = require("sw.worker")
    local task = require("sw.task")
    local reload = require("sw.reload")

    it("worker: read_claims, open_log, run_local", function()
      fails("invalid", worker.read_claims("x"))
      fails("invalid", worker.read_claims({ tasks = { a = 1 } }))
      support.write(dir .. "/file", "")
      fails("ENOTDIR", worker.open_log({ log_dir = dir .. "/file/logs" }))
      fails("ENOENT", worker.run_local({ sign_chain_of_trust = true, ed25519_private_key_path = dir .. "/none" },
        object({})))
    end)

    it("task: resolve_script_user, check_task_script, write_task_files", function()
      -- Not root: "config"; root: the user lookup's "ENOENT".
      local status = support.read("/proc/self/status")
      local root = status:match("\nUid:%s+%d+%s+(%d+)") == "0"
      fails(root and "ENOENT" or "config", task.resolve_script_user({ task_script_user = "no-such-user-sw" }))
      fails("config", task.check_task_script({ task_script = {} }))
      fails("ENOENT", task.check_task_script({ task_script = { dir .. "/none" }, work_dir = dir }))
      fails("io", task.write_task_files(dir .. "/none/dir", object({}), TASK_ID, 0))
    end)

    it("reload: check_folder, reload_key, reload_policy", function()
      local st = assert(require("sw.fs").stat(dir))
      fails("unsafe", reload.check_folder({ script_user = { uid = st.uid, gid = st.gid, name = "me" } }, { dir = dir }))
      local key = { sign_chain_of_trust = true, ed25519_private_key_path = dir .. "/none" }
      fails("ENOENT", reload.reload_key({ config = key }))
      fails("ENOENT", reload.reload_policy({ config = {} }, { config_path = dir .. "/none.yaml" }, "test"))
    end)
  end)

  describe("sw.hawk and the commands", function()
    local hawk = require("sw.hawk")

    it("hawk: a URL that is not absolute", function()
      local creds = { clientId = "c", accessToken = "t" }
      fails("invalid", hawk.parse_url("nope"))
      fails("invalid", hawk.header({ credentials = creds, method = "GET", url = "nope" }))
      fails("invalid", hawk.bewit({ credentials = creds, url = "ftp://x/" }))
      fails("invalid", hawk.signed_url({ credentials = creds, url = "nope" }))
    end)

    it("commands: a bad command line is a usage failure", function()
      fails("usage", require("sw.cmd.worker").parse({ "--nonesuch" }, "usage: ..."))
      fails("usage", require("sw.cmd.create_test_workdir").parse({ "--nonesuch" }))
    end)
  end)
end)
