-- sw.cot.verify against hostile input: every malformed definition, body or
-- path fails closed with a message naming the link and the field, and
-- nothing crashes the engine or escapes work_dir. The Queue is an
-- in-process fake serving tables, on the production root URL so that the
-- default valid_artifact_rules apply.
local fs = require("sw.fs")
local json = require("sw.json")
local queue = require("sw.queue")
local sched = require("sw.sched")
local slugid = require("sw.slugid")
local support = require("support")
local config_mod = require("sw.config")
local policy = require("sw.policy")
local verify = require("sw.cot.verify")

local ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"

local function deepcopy(v)
  return config_mod.deepcopy(v)
end

-- A fake Queue: tasks[taskId] = definition, artifacts[taskId][name] =
-- bytes. Counts the calls.
local function fake_queue(tasks, artifacts)
  local real = queue.new({ root_url = ROOT_URL })
  local q = { calls = 0 }
  function q.build_url(_, ...)
    return real:build_url(...)
  end
  function q.call(self, name, task_id)
    self.calls = self.calls + 1
    assert(name == "task", "unexpected call " .. name)
    local t = tasks[task_id]
    if t == nil then
      return nil, queue.new_error("task", 404, "ResourceNotFound", "no task " .. task_id)
    end
    return deepcopy(t)
  end
  function q.download_artifact(_, task_id, _, name, path)
    local b = artifacts[task_id] and artifacts[task_id][name]
    if b == nil then
      return nil, queue.new_error("getLatestArtifact", 404, "ResourceNotFound", "no artifact " .. name)
    end
    assert(fs.write_file_atomic(path, b))
    return { path = path, bytes = #b }
  end
  function q.list_all_artifacts(_, task_id)
    local list = json.array({})
    for name in pairs(artifacts[task_id] or {}) do
      list[#list + 1] = { name = name }
    end
    return list
  end
  return q
end

local set

local function config(overrides)
  local c = deepcopy(config_mod.defaults().DEFAULT_CONFIG)
  for k, v in pairs(config_mod.EXTRA_KEYS) do
    c[k] = deepcopy(v)
  end
  config_mod.apply_policy_defaults(c, set)
  c.cot_product = "firefox"
  c.cot_job_type = "signing"
  local messages = {}
  config_mod.apply_product_config(c, messages)
  assert(#messages == 0, table.concat(messages, "\n"))
  for k, v in pairs(overrides or {}) do
    c[k] = v
  end
  return c
end

-- A signing task on scriptworker whose decision is decision_id.
local function signing_task(decision_id, upstream)
  return json.object({
    provisionerId = "scriptworker-k8s",
    workerType = "gecko-3-signing",
    taskGroupId = decision_id,
    schedulerId = "gecko-level-3",
    dependencies = json.array({ decision_id }),
    scopes = json.array({}),
    payload = json.object({ upstreamArtifacts = upstream or json.array({}) }),
    metadata = json.object({ source = "https://hg.mozilla.org/mozilla-central/file/abc/taskcluster" }),
    extra = json.object({}),
    tags = json.object({}),
  })
end

local function run_verify(task, tasks, artifacts, o)
  o = o or {}
  local work_dir = support.tmpdir()
  return sched.run(function()
    local ok, msg, status = verify.verify_chain({
      config = config(o.config),
      policy = set,
      queue = fake_queue(tasks or {}, artifacts or {}),
      task_id = o.task_id or slugid.nice(),
      task = task,
      work_dir = work_dir,
      log_path = work_dir .. "/chain_of_trust.log",
      fetch_text = function()
        return nil, "no network in this spec", false
      end,
    })
    return ok, msg, status, work_dir
  end)
end

describe("sw.cot.verify with hostile input", function()
  setup(function()
    local errs
    set, errs = policy.load(support.root .. "/policies")
    assert(set, errs and table.concat(errs, "\n"))
  end)

  local function refused(task, pattern, tasks, artifacts, o)
    local ok, msg, status, work_dir = run_verify(task, tasks, artifacts, o)
    assert.is_nil(ok)
    assert.equals("malformed-payload", status)
    assert.is_string(msg)
    if not msg:find(pattern) then
      error(string.format("message %q does not match %q", msg, pattern))
    end
    return msg, work_dir
  end

  it("refuses upstream paths that are absolute, hold .., control characters or bad UTF-8", function()
    local d = slugid.nice()
    for _, p in ipairs({ "/etc/passwd", "public/../../x", "..", "public/a\nb", "public/\255\254", "a/./../b" }) do
      local task = signing_task(d, json.array({
        json.object({ taskId = slugid.nice(), taskType = "build", paths = json.array({ p }) }),
      }))
      refused(task, "payload%.upstreamArtifacts%[0%]%.paths%[0%]")
    end
  end)

  it("refuses a wildcard in a mandatory upstream entry, not in an optional one", function()
    local d = slugid.nice()
    local task = signing_task(d, json.array({
      json.object({ taskId = slugid.nice(), taskType = "build", paths = json.array({ "public/*.apk" }) }),
    }))
    refused(task, "wildcard")
    task.payload.upstreamArtifacts[1].optional = true
    -- Now it gets past the claim-time checks and fails later, on the
    -- decision task the fake Queue does not have.
    refused(task, "can't fetch the task definition")
  end)

  it("names the field of every wrongly typed part of a definition", function()
    local d = slugid.nice()
    local cases = {
      { function(t) t.payload.upstreamArtifacts = "x" end, "payload%.upstreamArtifacts: expected a list" },
      { function(t) t.payload.upstreamArtifacts = json.array({ 5 }) end, "upstreamArtifacts%[0%]: expected an object" },
      { function(t)
        t.payload.upstreamArtifacts = json.array({ json.object({ taskId = 5, taskType = "build",
          paths = json.array({ "a" }) }) })
      end, "upstreamArtifacts%[0%]%.taskId" },
      { function(t)
        t.payload.upstreamArtifacts = json.array({ json.object({ taskId = slugid.nice(), taskType = "a:b",
          paths = json.array({ "a" }) }) })
      end, "upstreamArtifacts%[0%]%.taskType" },
      { function(t)
        t.payload.upstreamArtifacts = json.array({ json.object({ taskId = slugid.nice(), taskType = "build",
          paths = "a" }) })
      end, "upstreamArtifacts%[0%]%.paths: expected a list" },
      { function(t) t.extra.chainOfTrust = json.object({ inputs = json.array({ 1 }) }) end,
        "extra%.chainOfTrust%.inputs: expected an object" },
      { function(t) t.extra.chainOfTrust = json.object({ inputs = json.object({ x = 5 }) }) end,
        "extra%.chainOfTrust%.inputs%[\"x\"%]" },
      { function(t) t.extra.parent = 5 end, "extra%.parent" },
      { function(t) t.scopes = "x" end, "scopes: expected a list" },
      { function(t) t.payload = "x" end, "payload: missing or not an object" },
      { function(t) t.taskGroupId = json.null end, "taskGroupId: missing" },
    }
    for _, c in ipairs(cases) do
      local task = signing_task(d)
      c[1](task)
      refused(task, c[2])
    end
  end)

  it("refuses a dependency whose taskId could reach outside work_dir", function()
    for _, bad in ipairs({ "../../etc", "a/b", "", string.rep("A", 100) }) do
      local task = signing_task(slugid.nice())
      task.extra.chainOfTrust = json.object({ inputs = json.object({ ["docker-image"] = bad }) })
      refused(task, bad == "" and "expected a taskId" or "is not a taskId")
    end
  end)

  it("refuses an unknown cot_job_type and an unrecognised worker", function()
    local task = signing_task(slugid.nice())
    refused(task, "invalid task type \"signing0\"", nil, nil, { config = { cot_job_type = "signing0" } })
    task.provisionerId = "somewhere-else"
    refused(task, "can't find a worker_impl")
    task.tags = json.object({ ["worker-implementation"] = "taskcluster-worker" })
    refused(task, "is not a worker implementation the policies define")
  end)

  -- A decision on docker-worker with a chain-of-trust body of the test's
  -- choosing.
  local function with_decision_body(body)
    local d = slugid.nice()
    local decision = json.object({
      provisionerId = "gecko-3", workerType = "decision", taskGroupId = d, schedulerId = "gecko-level-3",
      dependencies = json.array({}), scopes = json.array({}),
      payload = json.object({ image = "x", env = json.object({}), features = json.object({}) }),
      metadata = json.object({ source = "https://hg.mozilla.org/mozilla-central/file/abc/.taskcluster.yml" }),
      extra = json.object({}), tags = json.object({}),
    })
    local tasks = { [d] = decision }
    local arts = { [d] = { ["public/chain-of-trust.json"] = body } }
    return signing_task(d), tasks, arts, d
  end

  it("fails closed on truncated, non-JSON, wrongly shaped and schema-invalid bodies", function()
    local good = assert(json.encode(json.object({ taskId = "x" })))
    for _, body in ipairs({ "", "{", good:sub(1, 5), "<html>", "[]", "null", "\"s\"",
      "{\"taskId\": 5}", string.rep("[", 100000) }) do
      local task, tasks, arts = with_decision_body(body)
      refused(task, "signing:parent %S+: public/chain%-of%-trust%.json", tasks, arts)
    end
  end)

  it("refuses a body of another task and one whose embedded task differs", function()
    local task, tasks, arts, d = with_decision_body("")
    local function body(task_id, t)
      return assert(json.encode(json.object({
        artifacts = json.object({}), chainOfTrustVersion = 1, environment = json.object({}), runId = 0,
        task = t, taskId = task_id, workerGroup = "g", workerId = "i", workerType = "decision",
      }), { canonical = true }))
    end
    arts[d]["public/chain-of-trust.json"] = body(slugid.nice(), tasks[d])
    refused(task, "doesn't match task taskId", tasks, arts)
    local other = deepcopy(tasks[d])
    other.payload.image = "evil"
    arts[d]["public/chain-of-trust.json"] = body(d, other)
    refused(task, "embedded task definition differs", tasks, arts)
  end)

  it("does not write through a link planted in work_dir/cot", function()
    local task, tasks, arts, d = with_decision_body("{}")
    local outside = support.tmpdir()
    local work_dir = support.tmpdir()
    assert(fs.mkdirp(work_dir .. "/cot/" .. d))
    assert(fs.symlink(outside, work_dir .. "/cot/" .. d .. "/public"))
    local ok, msg, status = sched.run(function()
      return verify.verify_chain({
        config = config(), policy = set, queue = fake_queue(tasks, arts), task_id = slugid.nice(),
        task = task, work_dir = work_dir,
      })
    end)
    assert.is_nil(ok)
    assert.equals("malformed-payload", status)
    assert.matches("local path refused", msg)
    assert.same({}, fs.listdir(outside))
  end)

  it("walks a root with 10,000 upstream tasks without crashing", function()
    local d = slugid.nice()
    local ua = json.array({})
    for i = 1, 10000 do
      ua[i] = json.object({ taskId = slugid.nice(), taskType = "build", paths = json.array({ "public/x" }) })
    end
    local task = signing_task(d, ua)
    local tasks = {}
    -- Every upstream task exists; none has a chain-of-trust artifact.
    for _, e in ipairs(ua) do
      tasks[e.taskId] = signing_task(d)
      tasks[e.taskId].provisionerId = "gecko-3"
      tasks[e.taskId].workerType = "b-linux"
      tasks[e.taskId].payload = json.object({ image = "x", env = json.object({}), features = json.object({}) })
    end
    tasks[d] = deepcopy(tasks[ua[1].taskId])
    -- the parent runs in a decision pool, so that the walk gets to the
    -- downloads (a parent elsewhere is refused before them)
    tasks[d].workerType = "decision"
    local msg = refused(task, "can't download public/chain%-of%-trust%.json", tasks, {})
    assert.is_true(#msg > 0)
  end)

  it("reports an unreachable Queue as intermittent-task", function()
    local task = signing_task(slugid.nice())
    local work_dir = support.tmpdir()
    local q = fake_queue({}, {})
    function q.call()
      return nil, queue.new_error("task", 503, "HTTP503", "unavailable")
    end
    local ok, msg, status = sched.run(function()
      return verify.verify_chain({
        config = config(), policy = set, queue = q, task_id = slugid.nice(), task = task, work_dir = work_dir,
      })
    end)
    assert.is_nil(ok)
    assert.equals("intermittent-task", status)
    assert.matches("signing:parent", msg)
    -- ... and a 404 is a failure of the chain.
    function q.call()
      return nil, queue.new_error("task", 404, "ResourceNotFound", "no such task")
    end
    ok, msg, status = sched.run(function()
      return verify.verify_chain({
        config = config(), policy = set, queue = q, task_id = slugid.nice(), task = task, work_dir = work_dir,
      })
    end)
    assert.is_nil(ok)
    assert.equals("malformed-payload", status)
  end)

  it("rebases every remote input on cot_input_urls", function()
    local rebase = require("sw.cot.v2.fetch").rebase
    local inputs = { urls = { hg = "http://m/hg", github_raw = "http://m/raw/", github_api = "http://m/api",
      github = "http://m/gh" } }
    assert.equals("http://m/hg/projects/maple/json-pushes?changeset=abc&version=2&full=1",
      rebase(inputs, "https://hg.mozilla.org/projects/maple/json-pushes?changeset=abc&version=2&full=1"))
    assert.equals("http://m/raw/o/n/rev/.taskcluster.yml",
      rebase(inputs, "https://raw.githubusercontent.com/o/n/rev/.taskcluster.yml"))
    assert.equals("http://m/api/repos/o/n/commits/abc", rebase(inputs, "https://api.github.com/repos/o/n/commits/abc"))
    assert.equals("http://m/gh/o/n/branch_commits/abc", rebase(inputs, "https://github.com/o/n/branch_commits/abc"))
    -- Only whole bases: a look-alike host is left alone (and then fetched
    -- from where it says, which a test would notice).
    assert.equals("https://github.com.evil/x", rebase(inputs, "https://github.com.evil/x"))
    assert.equals("https://hg.mozilla.org.evil/x", rebase(inputs, "https://hg.mozilla.org.evil/x"))
  end)

  it("turns shell globs into patterns", function()
    local cases = {
      { "public/*.apk", "public/a/b.apk", true }, { "public/*.apk", "public/a.apkx", false },
      { "public/?.txt", "public/a.txt", true }, { "public/?.txt", "public/ab.txt", false },
      { "public/[ab].txt", "public/b.txt", true }, { "public/[!ab].txt", "public/b.txt", false },
      { "public/a+b(1).%x", "public/a+b(1).%x", true }, { "public/[x", "public/[x", true },
    }
    for _, c in ipairs(cases) do
      assert.equals(c[3], c[2]:match(verify.glob_pattern(c[1])) ~= nil, c[1] .. " vs " .. c[2])
    end
  end)
end)
